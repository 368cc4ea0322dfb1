// Bytes written to disk per acknowledged byte (issue 15): a closed-loop load of 16 KiB values
// (64 in flight) on a 3-member group, and the sum over the members' processes of
// /proc/<pid>/io write_bytes (what each process sent to the storage layer: log, data,
// compactions) across the measured window, divided by the bytes of the values acknowledged
// in it. conclave and etcd, one after the other, in the same run.
//
//   flock -x /tmp/conclave-bench.lock npm run bench -- bytes [--size B] [--seconds S] [--no-etcd]
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { suiteFlags } from './lib/args.js';
import { ConclaveGroup } from './lib/conclave-group.js';
import { benchDir } from './lib/disk.js';
import { EtcdGroup, findEtcd } from './lib/etcd-group.js';
import { ChildRpc } from './lib/ipc.js';
import type { LoadResult, LoadSpec } from './lib/load.js';

const flags = suiteFlags('usage: npm run bench -- bytes [--size B] [--seconds S] [--no-etcd]');
const SIZE_BYTES = flags.int('--size', 16384, 1, 1024 * 1024);
const SECONDS = flags.int('--seconds', 10, 1, 3600);
const NO_ETCD = flags.has('--no-etcd');
flags.done();
const spec: LoadSpec = { inflight: 64, sizeBytes: SIZE_BYTES, warmupMs: 0, durationMs: SECONDS * 1000, maxOps: 10_000_000, keySpace: 1000 };

function writeBytes(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const m = /^write_bytes:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    sum += Number(m?.[1] ?? 0);
  }
  return sum;
}

async function measure(pids: readonly number[], load: () => Promise<LoadResult>): Promise<{ r: LoadResult; written: number; perAcked: number }> {
  const before = writeBytes(pids);
  const r = await load();
  // What the processes dirtied during the load and the flushes it caused (LevelDB compacts in the background).
  await new Promise((res) => setTimeout(res, 2000));
  const written = writeBytes(pids) - before;
  // Every write issued in the window counts: the closed loop acknowledged r.ops in the window proper.
  return { r, written, perAcked: written / (r.ops * SIZE_BYTES) };
}

const { dir: dataRoot } = benchDir('conclave-bench-bytes-');
const cleanups: (() => Promise<unknown>)[] = [async () => rmSync(dataRoot, { recursive: true, force: true })];
const out: string[] = [];
try {
  const load1 = loadavg()[0]!.toFixed(2);
  const g = await ConclaveGroup.start(3, dataRoot, 'w3');
  cleanups.unshift(() => g.close());
  const leader = await g.waitForLeader(20_000);
  await g.load(leader, { ...spec, durationMs: 2000 }); // warm-up
  const pids = [...g.nodes.values()].map((c) => c.proc.pid!);
  const c = await measure(pids, () => g.load(leader, { ...spec, warmupMs: 0 }));
  out.push(`| conclave 3 | ${Math.round(c.r.opsPerS).toLocaleString('en')} | ${(c.written / 2 ** 20).toFixed(0)} | ${c.perAcked.toFixed(2)} |`);
  await g.close();
  const binary = NO_ETCD ? null : findEtcd();
  if (binary) {
    const e = await EtcdGroup.start(binary, dataRoot);
    cleanups.unshift(() => e.close());
    const endpoint = await e.leaderEndpoint(20_000);
    const client = new ChildRpc(new URL('./lib/client-process.ts', import.meta.url), [], { label: 'client-etcd-bytes' });
    cleanups.unshift(() => client.stop());
    const call = (s: LoadSpec): Promise<LoadResult> => client.call<LoadResult>('load', { target: { kind: 'etcd', endpoint }, spec: s }, s.durationMs + 60_000);
    await call({ ...spec, durationMs: 2000 });
    const x = await measure(e.pids, () => call(spec));
    out.push(`| etcd 3 | ${Math.round(x.r.opsPerS).toLocaleString('en')} | ${(x.written / 2 ** 20).toFixed(0)} | ${x.perAcked.toFixed(2)} |`);
  }
  console.log(`\nbytes written per acknowledged byte: ${SIZE_BYTES} B values, 64 in flight, ${SECONDS} s, 3 members (sum of their /proc/<pid>/io write_bytes, window + 2 s); load average ${load1} at the start, ${loadavg()[0]!.toFixed(2)} at the end; ${new Date().toISOString()}\n`);
  console.log('| group | writes/s | MiB written | bytes written ÷ bytes acknowledged |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const l of out) console.log(l);
} finally {
  for (const c of cleanups) await c().catch(() => {});
}
