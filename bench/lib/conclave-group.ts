// A conclave group of real node processes on loopback for the benchmark (see node-process.ts).
import { join } from 'node:path';
import { freePorts, waitFor } from '../../test/cluster/harness.js';
import { ChildRpc } from './ipc.js';
import type { LoadResult, LoadSpec } from './load.js';
import type { NodeProcessConfig } from './node-process.js';

interface NodeStatusLite {
  readonly state: string;
  readonly leader: string | null;
  readonly term: number;
}

const CALL_TIMEOUT_MS = 5000;
const START_TIMEOUT_MS = 30_000;

export class ConclaveGroup {
  readonly nodes = new Map<string, ChildRpc>();

  private constructor(readonly peers: Record<string, string>) {}

  static async start(count: number, dataRoot: string, label: string, cpuProfDir?: string, trace = false): Promise<ConclaveGroup> {
    const ports = await freePorts(count);
    const peers: Record<string, string> = {};
    ports.forEach((p, i) => (peers[`n${i + 1}`] = `127.0.0.1:${p}`));
    const g = new ConclaveGroup(peers);
    for (const id of Object.keys(peers)) {
      const config: NodeProcessConfig = { id, dataDir: join(dataRoot, `${label}-${id}`), listen: peers[id]!, peers, trace };
      g.nodes.set(id, new ChildRpc(new URL('./node-process.ts', import.meta.url), [JSON.stringify(config)], { label: `${label}-${id}`, cpuProfDir }));
    }
    try {
      await g.waitForLeader(START_TIMEOUT_MS);
    } catch (err) {
      const logs = [...g.nodes].map(([id, c]) => `--- ${id}\n${c.output.slice(-1500)}`).join('\n');
      await g.close();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
    return g;
  }

  async status(id: string): Promise<NodeStatusLite | null> {
    const c = this.nodes.get(id);
    if (!c?.alive) return null;
    return c.call<NodeStatusLite>('status', null, CALL_TIMEOUT_MS).catch(() => null);
  }

  /** The leader every live node agrees on. */
  async waitForLeader(timeoutMs: number): Promise<string> {
    return waitFor(
      async () => {
        const live = [...this.nodes].filter(([, c]) => c.alive).map(([id]) => id);
        const st = await Promise.all(live.map((id) => this.status(id)));
        const leaders = live.filter((_, i) => st[i]?.state === 'leader');
        if (leaders.length !== 1) return null;
        return st.every((s) => s?.leader === leaders[0]) ? leaders[0]! : null;
      },
      timeoutMs,
      `a leader agreed on by every live node of ${Object.keys(this.peers).join(', ')}`,
    );
  }

  node(id: string): ChildRpc {
    const c = this.nodes.get(id);
    if (!c) throw new Error(`no node ${id}`);
    return c;
  }

  setOverride(id: string, n: number): Promise<void> {
    return this.node(id).call('setOverride', n, CALL_TIMEOUT_MS);
  }

  /** The embedded driver: the load runs inside `id`'s process. */
  load(id: string, spec: LoadSpec): Promise<LoadResult> {
    return this.node(id).call('load', spec, spec.warmupMs + spec.durationMs + 60_000);
  }

  /** Reads of existing keys inside `id`'s process (bench/read.ts). */
  readLoad(id: string, spec: LoadSpec, consistency: 'linearizable' | 'lease' | 'none'): Promise<LoadResult> {
    return this.node(id).call('readLoad', { spec, consistency }, spec.warmupMs + spec.durationMs + 60_000);
  }

  async kill(id: string): Promise<void> {
    await this.node(id).kill();
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((c) => c.stop()));
  }
}
