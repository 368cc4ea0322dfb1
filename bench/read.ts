// The read benchmark (issue 15): reads of existing 100-byte keys at 1, 16, 64 and 256 in
// flight (closed loop), 3 nodes on loopback. conclave: linearizable (ReadIndex) and lease on
// the leader, none on a follower, each load twice: inside that node's process (the embedded
// case) and from a client process over the admin RPC (like for like with etcd); etcd (3
// members, the etcd3 client in its own process, connected to the leader): linearizable (its
// default, ReadIndex) and serializable (member-local). Ratios are against etcd's
// linearizable reads at the same concurrency, in the same run.
//
//   flock -x /tmp/conclave-bench.lock npm run bench -- read [--quick] [--no-etcd]
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { suiteFlags } from './lib/args.js';
import { ConclaveGroup } from './lib/conclave-group.js';
import { benchDir } from './lib/disk.js';
import { EtcdGroup, findEtcd } from './lib/etcd-group.js';
import { ChildRpc } from './lib/ipc.js';
import type { LoadResult, LoadSpec } from './lib/load.js';

const flags = suiteFlags('usage: npm run bench -- read [--quick] [--no-etcd]');
const quick = flags.has('--quick');
const skipEtcd = flags.has('--no-etcd');
flags.done();
const INFLIGHTS = [1, 16, 64, 256];
const KEY_SPACE = 1000;
const spec = (inflight: number): LoadSpec => ({ inflight, sizeBytes: 100, warmupMs: quick ? 150 : 500, durationMs: quick ? 500 : 3000, maxOps: 5_000_000, keySpace: KEY_SPACE });
/** Writes every key before reading: KEY_SPACE sequential-ish writes and then some. */
const FILL: LoadSpec = { inflight: 16, sizeBytes: 100, warmupMs: 0, durationMs: 60_000, maxOps: KEY_SPACE * 2, keySpace: KEY_SPACE };

interface Row {
  readonly what: string;
  readonly r: LoadResult;
}
const rows: Row[] = [];
const log = (m: string): void => console.error(m);
const record = (what: string, r: LoadResult): void => {
  rows.push({ what, r });
  log(`${what} x${r.inflight}: ${Math.round(r.opsPerS)} reads/s, p50 ${(r.latency.p50Us / 1000).toFixed(2)} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`);
};

const { dir: dataRoot } = benchDir('conclave-bench-read-');
const cleanups: (() => Promise<unknown>)[] = [async () => rmSync(dataRoot, { recursive: true, force: true })];
try {
  const load1 = loadavg()[0]!.toFixed(2);
  const g = await ConclaveGroup.start(3, dataRoot, 'r3');
  cleanups.unshift(() => g.close());
  const leader = await g.waitForLeader(20_000);
  const follower = Object.keys(g.peers).find((id) => id !== leader)!;
  await g.load(leader, FILL);
  await g.readLoad(leader, { ...spec(64), warmupMs: 0, durationMs: 1000 }, 'linearizable'); // warm-up
  const modes = [
    ['linearizable', 'leader', leader],
    ['lease', 'leader', leader],
    ['none', 'follower', follower],
  ] as const;
  for (const [c, role, id] of modes) {
    for (const n of INFLIGHTS) record(`conclave ${c} (${role}, embedded)`, await g.readLoad(id, spec(n), c));
  }
  const client = new ChildRpc(new URL('./lib/client-process.ts', import.meta.url), [], { label: 'client-conclave-read' });
  cleanups.unshift(() => client.stop());
  const viaClient = (id: string, s: LoadSpec, read: 'linearizable' | 'lease' | 'none'): Promise<LoadResult> =>
    client.call<LoadResult>('load', { target: { kind: 'conclave', endpoint: g.peers[id] }, spec: s, read }, s.warmupMs + s.durationMs + 60_000);
  await viaClient(leader, { ...spec(64), warmupMs: 0, durationMs: 1000 }, 'linearizable'); // warm-up of the admin path
  for (const [c, role, id] of modes) {
    for (const n of INFLIGHTS) record(`conclave ${c} (${role}, client over the admin RPC)`, await viaClient(id, spec(n), c));
  }
  await client.stop();
  await g.close();

  const binary = skipEtcd ? null : findEtcd();
  let etcdVersion = 'skipped';
  if (binary) {
    const e = await EtcdGroup.start(binary, dataRoot);
    cleanups.unshift(() => e.close());
    etcdVersion = e.version;
    const endpoint = await e.leaderEndpoint(20_000);
    const client = new ChildRpc(new URL('./lib/client-process.ts', import.meta.url), [], { label: 'client-etcd-read' });
    cleanups.unshift(() => client.stop());
    const call = (s: LoadSpec, read?: 'linearizable' | 'serializable'): Promise<LoadResult> => client.call<LoadResult>('load', { target: { kind: 'etcd', endpoint }, spec: s, read }, s.warmupMs + s.durationMs + 60_000);
    await call(FILL);
    await call({ ...spec(64), warmupMs: 0, durationMs: 1000 }, 'linearizable');
    for (const read of ['linearizable', 'serializable'] as const) for (const n of INFLIGHTS) record(`etcd ${read}`, await call(spec(n), read));
  }
  const load2 = loadavg()[0]!.toFixed(2);
  const etcdLin = new Map(rows.filter((x) => x.what === 'etcd linearizable').map((x) => [x.r.inflight, x.r.opsPerS]));
  console.log(`\nread benchmark${quick ? ' (quick)' : ''}: 100 B values, ${KEY_SPACE} keys, 3 nodes; etcd ${etcdVersion}; load average ${load1} at the start, ${load2} at the end; ${new Date().toISOString()}`);
  console.log(`uptime: ${execFileSync('uptime').toString().trim()}\n`);
  console.log('| reads | in flight | reads/s | p50 ms | p99 ms | reads/s ÷ etcd linearizable | errors |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { what, r } of rows) {
    const e = etcdLin.get(r.inflight);
    console.log(`| ${what} | ${r.inflight} | ${Math.round(r.opsPerS).toLocaleString('en')} | ${(r.latency.p50Us / 1000).toFixed(2)} | ${(r.latency.p99Us / 1000).toFixed(2)} | ${e ? (r.opsPerS / e).toFixed(2) + 'x' : '-'} | ${r.errors} |`);
  }
} finally {
  for (const c of cleanups) await c().catch(() => {});
}
