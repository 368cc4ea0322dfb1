// One conclave node in its own process, driven by the benchmark over IPC. The embedded
// driver runs here: the load calls node.put() in the leader's own process, as an
// application that embeds conclave would.
import type { ConclaveNode } from 'conclave';
import { openNodeWith, WriteTrace } from 'conclave/internal';
import { serveIpc } from './ipc.js';
import { runLoad, type LoadSpec } from './load.js';

export interface NodeProcessConfig {
  readonly id: string;
  readonly dataDir: string;
  readonly listen: string;
  readonly peers: Record<string, string>;
  /** Stamp each write's steps (write-trace.ts) for the latency budget (bench/budget.ts). */
  readonly trace?: boolean;
}

const config = JSON.parse(process.argv[2] ?? 'null') as NodeProcessConfig | null;
if (!config) throw new Error('node-process: missing the JSON config argument');

const trace = config.trace ? new WriteTrace() : null;
let node: ConclaveNode | null = null;
node = await openNodeWith({
  id: config.id,
  dataDir: config.dataDir,
  listen: config.listen,
  peers: config.peers,
  groupId: 'bench',
  syncPolicy: 'sync',
  logger: { info: () => {}, warn: (f, m) => console.error(`[${config.id}] WARN ${String(f.event)}: ${m}`), error: (f, m) => console.error(`[${config.id}] ERROR ${String(f.event)}: ${m}`) },
}, trace ? { tracer: trace } : {});
const n = node;

serveIpc(
  {
    status: () => {
      const st = n.status();
      return { state: st.state, leader: st.leader?.id ?? null, term: st.term, commitIndex: st.commitIndex, appliedIndex: st.appliedIndex };
    },
    setOverride: async (args) => {
      await n.setElectableGroupSizeOverride(Number(args));
      return null;
    },
    trace: () => trace?.take() ?? {},
    /** Reads of existing keys (bench/read.ts), served by this node under `consistency`. */
    readLoad: (args) => {
      const { spec, consistency } = args as { spec: LoadSpec; consistency: 'linearizable' | 'lease' | 'none' };
      return runLoad(async (key) => {
        const v = await n.get(key, { consistency });
        if (v === undefined) throw new Error(`key ${key} is missing`);
        return v;
      }, spec);
    },
    load: (args) => runLoad((key, value) => n.put(key, value), args as LoadSpec),
  },
  async () => {
    await node?.close();
  },
);
