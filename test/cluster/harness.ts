// Real node processes on loopback (`conclave node start`), killed with SIGKILL or paused
// with SIGSTOP, and an admin client to each. Every wait has a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '@conclave/admin';
import type { NodeStatus } from 'conclave';
import { freePorts, waitFor } from '../../packages/conclave/test/helpers.js';

const CLI = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

// One copy of these for every test that runs nodes on loopback.
export { freePorts, waitFor } from '../../packages/conclave/test/helpers.js';

export interface ProcessGroupOptions {
  readonly nodes: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly extraArgs?: readonly string[];
  /** Every node requires this admin secret (--admin-secret-file), and the group's clients use it. */
  readonly adminSecret?: string;
  /** A command every node runs under on its first start (e.g. ['fiu-run', '-x']): the node's command follows it. */
  readonly wrap?: readonly string[];
  /** Called with each node's data directory before its first start (e.g. to mount a filesystem there). */
  readonly prepareDataDir?: (dir: string, id: string) => void;
  /** Called by close() once every node is dead, before the directories are removed (e.g. to unmount). */
  readonly beforeRemove?: () => void;
}

export class ProcessGroup {
  readonly peers: Record<string, string> = {};
  readonly procs = new Map<string, ChildProcess>();
  readonly output = new Map<string, string>();
  private readonly clients = new Map<string, AdminClient>();
  private readonly root = mkdtempSync(join(tmpdir(), 'conclave-procs-'));
  readonly tickMs: number;
  readonly electionTicks: number;
  /** The file holding opts.adminSecret (for the CLI's --secret-file), or null. */
  readonly adminSecretFile: string | null = null;
  /** Nodes started with --join (see spawnJoining), by the address they joined through. */
  private readonly joinedVia = new Map<string, string>();

  private constructor(private readonly opts: ProcessGroupOptions, ports: number[]) {
    this.tickMs = opts.tickMs ?? 50;
    this.electionTicks = opts.electionTicks ?? 10;
    ports.forEach((p, i) => (this.peers[`n${i + 1}`] = `127.0.0.1:${p}`));
    if (opts.adminSecret !== undefined) {
      this.adminSecretFile = join(this.root, 'admin-secret');
      writeFileSync(this.adminSecretFile, opts.adminSecret);
    }
  }

  static async start(opts: ProcessGroupOptions): Promise<ProcessGroup> {
    const g = new ProcessGroup(opts, await freePorts(opts.nodes));
    try {
      for (const id of Object.keys(g.peers)) g.spawn(id);
      // Generous: starting each process compiles the CLI (tsx), which a loaded machine stretches
      // well past 15 s (issue 11, item 16); the deadline only decides how soon a broken start fails.
      const leader = await g.waitForLeader(60_000);
      // A leader needs only a majority: on a loaded machine the last process may still be starting.
      await waitFor(async () => {
        const all = await Promise.all(Object.keys(g.peers).map((id) => g.status(id)));
        return all.every((st) => st?.leader?.id === leader);
      }, 60_000, 'every node to answer and follow the leader');
    } catch (err) {
      // The caller never gets the group to close: stop its processes here, or they outlive
      // the test and keep ava's worker (and so `npm test`) from ever finishing.
      await g.close();
      throw new Error(`${(err as Error).message}\n${g.logs()}`, { cause: err });
    }
    return g;
  }

  get electionTimeoutMs(): number {
    return this.tickMs * this.electionTicks;
  }

  dataDir(id: string): string {
    return join(this.root, id);
  }

  /** Starts `id` (again) with the group's arguments plus `extraArgs`; `wrap` on the first start only, unless given. */
  spawn(id: string, extraArgs: readonly string[] = [], wrap: readonly string[] | null = this.procs.has(id) ? null : (this.opts.wrap ?? null)): void {
    if (!this.procs.has(id)) this.opts.prepareDataDir?.(join(this.root, id), id);
    const spec = Object.entries(this.peers).map(([i, a]) => `${i}=${a}`).join(',');
    const via = this.joinedVia.get(id);
    const args = [
      '--import', TSX, CLI, 'node', 'start', '--id', id, '--data', join(this.root, id), '--listen', this.peers[id]!,
      ...(via ? ['--join', via] : ['--peers', spec]), '--tick-ms', String(this.tickMs), '--election-ticks', String(this.electionTicks),
      ...(this.adminSecretFile ? ['--admin-secret-file', this.adminSecretFile] : []), ...(this.opts.extraArgs ?? []), ...extraArgs,
    ];
    const child = wrap && wrap.length > 0 ? spawn(wrap[0]!, [...wrap.slice(1), process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (b: Buffer) => {
      const prev = this.output.get(id) ?? '';
      this.output.set(id, (prev + b.toString()).slice(-20_000)); // bounded log per node
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    this.procs.set(id, child);
  }

  /** Starts a new node `id` that joins the group through member `via`: at peers[id], or on a free port; returns its address. */
  async spawnJoining(id: string, via: string): Promise<string> {
    if (this.peers[id] === undefined) this.peers[id] = `127.0.0.1:${(await freePorts(1))[0]!}`;
    this.joinedVia.set(id, this.peers[via]!);
    this.spawn(id);
    return this.peers[id]!;
  }

  alive(id: string): boolean {
    const p = this.procs.get(id);
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(id);
    if (!p || !this.alive(id)) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    await this.dropClient(id);
  }

  pause(id: string): void {
    this.procs.get(id)?.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.procs.get(id)?.kill('SIGCONT');
  }

  /** A client of `id` whose calls time out after `timeoutMs` (one cached per id and timeout). */
  client(id: string, timeoutMs = 3000): AdminClient {
    const key = `${id}/${timeoutMs}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new AdminClient({ endpoints: [this.peers[id]!], timeoutMs, ...(this.opts.adminSecret !== undefined ? { secret: this.opts.adminSecret } : {}) });
      this.clients.set(key, c);
    }
    return c;
  }

  private async dropClient(id: string): Promise<void> {
    for (const [key, c] of [...this.clients]) {
      if (!key.startsWith(`${id}/`)) continue;
      this.clients.delete(key);
      await c.close();
    }
  }

  async status(id: string): Promise<NodeStatus | null> {
    try {
      return await this.client(id, 1000).status();
    } catch {
      await this.dropClient(id);
      return null;
    }
  }

  /** The id every live node agrees is leader, with that leader itself claiming it. */
  async waitForLeader(timeoutMs: number, except?: string): Promise<string> {
    return waitFor(
      async () => {
        for (const id of Object.keys(this.peers)) {
          if (id === except || !this.alive(id)) continue;
          const st = await this.status(id);
          if (st?.state === 'leader') return id;
        }
        return null;
      },
      timeoutMs,
      'a leader',
    );
  }

  logs(): string {
    return [...this.output].map(([id, out]) => `--- ${id}\n${out.slice(-3000)}`).join('\n');
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) await c.close();
    this.clients.clear();
    for (const id of this.procs.keys()) {
      this.resume(id);
      await this.kill(id, 'SIGKILL');
    }
    this.opts.beforeRemove?.();
    rmSync(this.root, { recursive: true, force: true });
  }
}
