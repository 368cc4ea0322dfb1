// The latency budget of one sequential write on 3 nodes (issue 15): every write's steps are
// stamped on the path (write-trace.ts, on the hrtime clock all processes share), and each
// step's median is set against the measured p50 of put() to resolve. With --cpu-prof DIR, the
// leader's CPU profile is summarised too (self time per function).
//
//   flock -x /tmp/conclave-bench.lock npm run bench -- budget [--writes N] [--size B] [--cpu-prof DIR]
import { rmSync } from 'node:fs';
import { suiteFlags } from './lib/args.js';
import { ConclaveGroup } from './lib/conclave-group.js';
import { profileSummary } from './lib/cpu-profile.js';
import { benchDir } from './lib/disk.js';
import { measureFloor, SHARED_DISK_WRITERS } from './lib/floor.js';

type Stamps = Partial<Record<string, number>>;
type Trace = Record<string, Stamps>;

const flags = suiteFlags('usage: npm run bench -- budget [--writes N>=10] [--size BYTES] [--cpu-prof DIR]');
const WRITES = flags.int('--writes', 2000, 10, 1_000_000);
const SIZE_BYTES = flags.int('--size', 100, 1, 1024 * 1024);
const CPU_PROF = flags.text('--cpu-prof');
flags.done();

/** The critical path of one write, in order: [label, from (node:step), to (node:step)]. L = leader, F = the follower whose ack came first. */
const ROWS: [string, string, string][] = [
  ['put() to proposed (checks, encode, propose)', 'L:put', 'L:proposed'],
  ['proposed to Ready turn (event-loop hop, ready())', 'L:proposed', 'L:readyTaken'],
  ['Ready to append sent (msgpack encode, ws send)', 'L:readyTaken', 'L:sent'],
  ['append on the wire, received, decoded', 'L:sent', 'F:received'],
  ['follower step to Ready turn', 'F:received', 'F:readyTaken'],
  ['follower LevelDB write + fsync', 'F:readyTaken', 'F:durable'],
  ['follower durable to ack sent', 'F:durable', 'F:ackSent'],
  ['ack on the wire, received, decoded', 'F:ackSent', 'L:ackReceived'],
  ['ack to commit (step, hop, own write, Ready)', 'L:ackReceived', 'L:committed'],
  ['apply (KV batch)', 'L:committed', 'L:applied'],
  ['applied to put() resolved (settle, promises)', 'L:applied', 'L:resolved'],
];
const SIDE: [string, string, string][] = [['leader LevelDB write + fsync (in parallel)', 'L:readyTaken', 'L:durable']];

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function budget(leader: Trace, followers: Trace[]): { rows: [string, number, number][]; side: [string, number][]; p50: number; n: number } {
  const deltas = ROWS.map(() => [] as number[]);
  const side = SIDE.map(() => [] as number[]);
  const totals: number[] = [];
  for (const [index, L] of Object.entries(leader)) {
    if (L.put === undefined || L.resolved === undefined) continue;
    const fs = followers.map((t) => t[index]).filter((f): f is Stamps => !!f && f.ackSent !== undefined && f.received !== undefined);
    if (fs.length === 0) continue;
    const F = fs.reduce((a, b) => (a.ackSent! <= b.ackSent! ? a : b));
    const at = (ref: string): number | undefined => (ref.startsWith('L:') ? L : F)[ref.slice(2)];
    const ds = ROWS.map(([, a, b]) => (at(b) ?? NaN) - (at(a) ?? NaN));
    if (ds.some((d) => Number.isNaN(d))) continue;
    ds.forEach((d, i) => deltas[i]!.push(d));
    SIDE.forEach(([, a, b], i) => side[i]!.push(at(b)! - at(a)!));
    totals.push(L.resolved - L.put);
  }
  return { rows: ROWS.map(([label], i) => [label, median(deltas[i]!), deltas[i]!.length]), side: SIDE.map(([label], i) => [label, median(side[i]!)]), p50: median(totals), n: totals.length };
}

const { dir: dataRoot, where } = benchDir('conclave-bench-budget-');
let g: ConclaveGroup | null = null;
try {
  const floor = await measureFloor(dataRoot, { fdatasync: 1000, roundTrip: 2000 });
  g = await ConclaveGroup.start(3, dataRoot, 'b3', CPU_PROF ?? undefined, true);
  const leader = await g.waitForLeader(20_000);
  const spec = { inflight: 1, sizeBytes: SIZE_BYTES, warmupMs: 0, durationMs: 60_000, maxOps: 500, keySpace: 1000 };
  await g.load(leader, spec); // warm-up: JIT, LevelDB's first files
  for (const id of Object.keys(g.peers)) await g.node(id).call('trace', null, 10_000);
  const r = await g.load(leader, { ...spec, maxOps: WRITES });
  const traces = new Map<string, Trace>();
  for (const id of Object.keys(g.peers)) traces.set(id, await g.node(id).call<Trace>('trace', null, 10_000));
  const b = budget(traces.get(leader)!, [...traces].filter(([id]) => id !== leader).map(([, t]) => t));
  const sum = b.rows.reduce((a, [, us]) => a + us, 0);
  console.log(`latency budget: ${WRITES} sequential ${SIZE_BYTES} B writes, 3 nodes, durable (data on ${where}); ${b.n} writes traced`);
  console.log(`floor: fdatasync p50 ${floor.fdatasync.p50Us} µs + ws round trip p50 ${floor.wsRoundTrip.p50Us} µs = ${floor.p50Us} µs`);
  console.log(`beside the floor: fdatasync p50 with ${SHARED_DISK_WRITERS} writers on this disk at once (a group's members) ${floor.sharedFdatasync.p50Us} µs`);
  console.log('');
  console.log('| step | median µs | share of p50 |');
  console.log('| --- | ---: | ---: |');
  for (const [label, us] of b.rows) console.log(`| ${label} | ${us} | ${((100 * us) / b.p50).toFixed(0)} % |`);
  console.log(`| **sum of medians** | **${sum}** | ${((100 * sum) / b.p50).toFixed(0)} % |`);
  console.log(`| **measured p50, put() to resolved (traced)** | **${b.p50}** | 100 % |`);
  console.log(`| measured p50 by the load loop | ${r.latency.p50Us} | |`);
  for (const [label, us] of b.side) console.log(`| (beside the path) ${label} | ${us} | |`);
  console.log(`\np50 / floor: ${(b.p50 / floor.p50Us).toFixed(2)}x`);
  await g.close();
  g = null;
  if (CPU_PROF) console.log(`\nleader CPU profile, self time (top 20):\n${profileSummary(CPU_PROF, `b3-${leader}`)}`);
} finally {
  await g?.close();
  rmSync(dataRoot, { recursive: true, force: true });
}
