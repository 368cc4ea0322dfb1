// Three etcd members on loopback ports, each with its own data directory on the same disk
// as conclave's, fsync on (etcd's default), for the side-by-side run.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePorts, waitFor } from '../../test/cluster/harness.js';

const OUTPUT_TAIL_BYTES = 4000;
/** etcd refuses writes past its backend quota; 8 GiB (its maximum) keeps a long run of 16 KiB values from hitting it. */
const QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;

/** The etcd binary on PATH, or null. */
export function findEtcd(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export class EtcdGroup {
  private readonly procs: { name: string; proc: ChildProcess; output: string }[] = [];
  readonly clientEndpoints: string[] = [];
  version = 'unknown';

  /** The members' process ids (bench/bytes.ts reads their /proc/<pid>/io). */
  get pids(): number[] {
    return this.procs.map((p) => p.proc.pid!).filter((pid) => pid !== undefined);
  }

  private constructor(private readonly binary: string) {}

  static async start(binary: string, dataRoot: string, members = 3): Promise<EtcdGroup> {
    const g = new EtcdGroup(binary);
    const ports = await freePorts(members * 2);
    const names = Array.from({ length: members }, (_, i) => `e${i + 1}`);
    const peerUrl = (i: number): string => `http://127.0.0.1:${ports[members + i]}`;
    const cluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
    names.forEach((name, i) => {
      const client = `127.0.0.1:${ports[i]}`;
      g.clientEndpoints.push(client);
      const args = [
        '--name', name, '--data-dir', join(dataRoot, `etcd-${name}`),
        '--listen-client-urls', `http://${client}`, '--advertise-client-urls', `http://${client}`,
        '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
        '--initial-cluster', cluster, '--initial-cluster-token', 'conclave-bench', '--initial-cluster-state', 'new',
        '--quota-backend-bytes', String(QUOTA_BACKEND_BYTES), '--logger', 'zap', '--log-level', 'warn',
      ];
      const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const entry = { name, proc, output: '' };
      const keep = (b: Buffer): void => {
        entry.output = (entry.output + b.toString()).slice(-OUTPUT_TAIL_BYTES);
      };
      proc.stdout!.on('data', keep);
      proc.stderr!.on('data', keep);
      g.procs.push(entry);
    });
    try {
      await g.leaderEndpoint(30_000);
    } catch (err) {
      const logs = g.procs.map((p) => `--- ${p.name}\n${p.output.slice(-1500)}`).join('\n');
      await g.close();
      throw new Error(`etcd did not elect a leader: ${(err as Error).message}\n${logs}`);
    }
    return g;
  }

  /** The client endpoint of the member that is leader (every member agreeing). */
  async leaderEndpoint(timeoutMs: number): Promise<string> {
    const { Etcd3 } = await import('etcd3');
    return waitFor(
      async () => {
        const statuses = await Promise.all(
          this.clientEndpoints.map(async (endpoint) => {
            const c = new Etcd3({ hosts: `http://${endpoint}`, dialTimeout: 1000 });
            try {
              const s = await c.maintenance.status();
              return { endpoint, member: s.header.member_id, leader: s.leader, version: s.version };
            } catch {
              return null;
            } finally {
              c.close();
            }
          }),
        );
        if (statuses.some((s) => s === null)) return null;
        const leader = statuses[0]!.leader;
        if (leader === '0' || statuses.some((s) => s!.leader !== leader)) return null;
        this.version = statuses[0]!.version;
        return statuses.find((s) => s!.member === leader)?.endpoint ?? null;
      },
      timeoutMs,
      'an etcd leader agreed on by every member',
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.proc.once('exit', () => r()));
        p.proc.kill('SIGTERM');
        const timer = setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
