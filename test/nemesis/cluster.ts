// The nemesis' node processes: `conclave node start --enable-fault-injection` on loopback,
// killed, paused, restarted, removed and replaced by a new member under a new id. Each node
// gets one control connection (status, faults, membership), separate from the clients'.
// The hostile-input tests use it too, without fault injection and with an admin secret.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminConnectionError, AdminRemoteError, AdminRpcClient } from '@conclave/transport';
import type { NodeStatus } from 'conclave';
import { freePorts, waitFor } from '../cluster/harness.js';
import type { NetnsNetwork } from './netns.js';

const CLI = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** Output kept per node for the report of a failed run. */
const OUTPUT_KEPT_CHARS = 30_000;

export interface NemesisMember {
  readonly id: string;
  readonly address: string;
  readonly dataDir: string;
  /** Started with --join (a replacement) rather than --peers (an original member). */
  readonly joiner: boolean;
  proc: ChildProcess | null;
  paused: boolean;
}

export interface NemesisClusterOptions {
  readonly nodes: number;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** Start nodes with --enable-fault-injection (default true). */
  readonly faultInjection?: boolean;
  /** Start nodes with this admin secret (--admin-secret-file); the control connections use it. */
  readonly adminSecret?: string;
  /** Start nodes with this cluster secret (--secret-file): required beyond loopback. */
  readonly clusterSecret?: string;
  /** Each machine in its own network namespace (--network netns) instead of loopback. */
  readonly network?: NetnsNetwork;
  /** Wraps a node's command line (under libfaketime, under fiu-run): applied before the namespace. */
  readonly launcher?: Launcher;
  /** Called when a node process has exited (its pid), to clean up what it leaves behind. */
  readonly onProcessExit?: (id: string, pid: number) => void;
}

export interface LaunchSpec {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}
export type Launcher = (id: string, spec: LaunchSpec) => LaunchSpec;

export class NemesisCluster {
  /** Members with a data directory, by id; a removed member leaves this map. */
  readonly members = new Map<string, NemesisMember>();
  readonly output = new Map<string, string>();
  private readonly control = new Map<string, Promise<AdminRpcClient>>();
  private readonly root = mkdtempSync(join(tmpdir(), 'conclave-nemesis-'));
  private readonly initialPeers: string;
  private readonly secretArgs: string[] = [];

  private constructor(
    readonly opts: NemesisClusterOptions,
    addresses: readonly string[],
  ) {
    addresses.forEach((address, i) => {
      const id = `n${i + 1}`;
      this.members.set(id, { id, address, dataDir: join(this.root, id), joiner: false, proc: null, paused: false });
    });
    this.initialPeers = [...this.members.values()].map((m) => `${m.id}=${m.address}`).join(',');
    for (const [flag, secret] of [['--admin-secret-file', opts.adminSecret], ['--secret-file', opts.clusterSecret]] as const) {
      if (secret === undefined) continue;
      const file = join(this.root, flag.slice(2));
      writeFileSync(file, secret, { mode: 0o600 });
      this.secretArgs.push(flag, file);
    }
  }

  static async start(opts: NemesisClusterOptions): Promise<NemesisCluster> {
    const network = opts.network;
    const addresses = network ? Array.from({ length: opts.nodes }, (_, i) => network.address(`n${i + 1}`)) : (await freePorts(opts.nodes)).map((p) => `127.0.0.1:${p}`);
    const c = new NemesisCluster(opts, addresses);
    process.once('exit', c.killAllSync);
    try {
      for (const id of c.members.keys()) c.spawn(id);
      await c.waitForLeader(60_000);
      // A leader needs only a majority: on a loaded machine the last member may still be
      // starting (compiling the CLI), not yet listening, and a first call to it is refused.
      // Every member must answer and know a leader before the test gets the group.
      await waitFor(async () => {
        const dead = c.ids().filter((id) => !c.alive(id));
        // A member that could not start (its port taken, say) must fail here, not mid-test.
        if (dead.length > 0) throw new Error(`${dead.join(', ')} exited while the group started`);
        const all = await Promise.all(c.ids().map((id) => c.status(id)));
        return all.every((st) => st !== null && st.leader !== null);
      }, 60_000, 'every member to answer and know the leader');
    } catch (err) {
      const logs = c.logs(1500);
      await c.close();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
    return c;
  }

  ids(): string[] {
    return [...this.members.keys()];
  }

  address(id: string): string {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m.address;
  }

  alive(id: string): boolean {
    const p = this.members.get(id)?.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** Live and not paused. */
  running(id: string): boolean {
    return this.alive(id) && !this.members.get(id)!.paused;
  }

  /** Starts (or restarts) `id`; a replacement joins through `joinVia`. */
  spawn(id: string, joinVia?: string): void {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    if (this.alive(id)) throw new Error(`${id} is already running`);
    const membership = m.joiner ? ['--join', joinVia ?? this.someAddress(id)] : ['--peers', this.initialPeers];
    const args = [
      '--import', TSX, CLI, 'node', 'start', '--id', id, '--data', m.dataDir, '--listen', m.address, ...membership,
      '--tick-ms', String(this.opts.tickMs), '--election-ticks', String(this.opts.electionTicks),
      ...(this.opts.faultInjection === false ? [] : ['--enable-fault-injection']), ...this.secretArgs,
    ];
    let spec: LaunchSpec = { cmd: process.execPath, args, env: {} };
    if (this.opts.launcher) spec = this.opts.launcher(id, spec);
    if (this.opts.network) spec = { ...spec, ...this.opts.network.wrap(id, spec.cmd, spec.args) };
    const child = spawn(spec.cmd, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...spec.env } });
    const onExit = this.opts.onProcessExit;
    if (onExit && child.pid !== undefined) child.once('exit', () => onExit(id, child.pid!));
    const append = (b: Buffer) => this.output.set(id, ((this.output.get(id) ?? '') + b.toString()).slice(-OUTPUT_KEPT_CHARS));
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    m.proc = child;
    m.paused = false;
  }

  private someAddress(except: string): string {
    const other = this.ids().find((id) => id !== except && this.running(id));
    if (!other) throw new Error('no running member to join through');
    return this.address(other);
  }

  async kill(id: string): Promise<void> {
    const m = this.members.get(id);
    const p = m?.proc;
    if (!m || !p || !this.alive(id)) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    m.paused = false;
    this.dropControl(id);
  }

  pause(id: string): void {
    const m = this.members.get(id);
    if (!m || !this.alive(id)) return;
    m.proc!.kill('SIGSTOP');
    m.paused = true;
  }

  resume(id: string): void {
    const m = this.members.get(id);
    if (!m || !this.alive(id)) return;
    m.proc!.kill('SIGCONT');
    m.paused = false;
  }

  /** Kills `id`, deletes its data and forgets it (after it was removed from the group). */
  async forget(id: string): Promise<NemesisMember> {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    await this.kill(id);
    rmSync(m.dataDir, { recursive: true, force: true });
    this.members.delete(id);
    return m;
  }

  /** A new member at `address` with an empty data directory; start it with spawn(id, joinVia). */
  addJoiner(id: string, address: string): void {
    if (this.members.has(id)) throw new Error(`member ${id} exists`);
    this.members.set(id, { id, address, dataDir: join(this.root, id), joiner: true, proc: null, paused: false });
  }

  /** What an admin client needs to connect to any member (the admin secret, if any). */
  clientOptions(): { credential?: string } {
    return this.opts.adminSecret !== undefined ? { credential: this.opts.adminSecret } : {};
  }

  /** One admin request on the control connection of `id`. */
  async call<T>(id: string, method: string, params: unknown, timeoutMs = 3000): Promise<T> {
    try {
      return await this.callOnce<T>(id, method, params, timeoutMs);
    } catch (err) {
      // The member closes an admin connection idle for a minute, and only with nothing pending:
      // a request that met that close was never served, so it is safe to send again.
      if (!(err instanceof AdminConnectionError && err.unserved)) throw err;
      return this.callOnce<T>(id, method, params, timeoutMs);
    }
  }

  private async callOnce<T>(id: string, method: string, params: unknown, timeoutMs: number): Promise<T> {
    const cached = this.control.get(id);
    if (cached && (await cached.catch(() => null))?.closed) this.dropControl(id);
    let p = this.control.get(id);
    if (!p) {
      p = AdminRpcClient.connect(this.address(id), {
        connectTimeoutMs: Math.min(timeoutMs, 2000),
        ...this.clientOptions(),
      });
      p.catch(() => this.control.delete(id));
      this.control.set(id, p);
    }
    try {
      return await (await p).request<T>(method, params, { timeoutMs });
    } catch (err) {
      // A remote error leaves the connection usable; anything else: reconnect next time.
      if (!(err instanceof AdminRemoteError)) this.dropControl(id);
      throw err;
    }
  }

  private dropControl(id: string): void {
    const p = this.control.get(id);
    this.control.delete(id);
    p?.then((c) => c.close()).catch(() => {});
  }

  async status(id: string, timeoutMs = 1500): Promise<NodeStatus | null> {
    if (!this.running(id)) return null;
    try {
      return await this.call<NodeStatus>(id, 'node.status', {}, timeoutMs);
    } catch {
      return null;
    }
  }

  /** The running member that says it leads (a stale one may still say so: callers verify by acting). */
  async leader(): Promise<string | null> {
    let best: { id: string; term: number } | null = null;
    for (const id of this.ids()) {
      const st = await this.status(id);
      if (st?.state === 'leader' && (!best || st.term > best.term)) best = { id, term: st.term };
    }
    return best?.id ?? null;
  }

  waitForLeader(timeoutMs: number): Promise<string> {
    return waitFor(() => this.leader(), timeoutMs, 'a leader');
  }

  logs(maxCharsPerNode = 4000): string {
    return [...this.output].map(([id, out]) => `--- ${id}\n${out.slice(-maxCharsPerNode)}`).join('\n');
  }

  /** For a run that exits without close() (an interrupt): no node process outlives it. */
  private readonly killAllSync = (): void => {
    for (const m of this.members.values()) if (m.proc && m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  };

  async close(): Promise<void> {
    process.removeListener('exit', this.killAllSync);
    for (const id of [...this.control.keys()]) this.dropControl(id);
    for (const id of this.ids()) {
      this.resume(id);
      await this.kill(id);
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
