// CPU per write (issue 15): a 3-node group at N writes in flight of B bytes, loaded alternately in
// the leader's process (embedded) and by a client process through a follower (follower3);
// for each, the CPU time (user + system, /proc/<pid>/stat) and the write syscalls
// (/proc/<pid>/io syscw) of every process divided by the writes acknowledged. On this
// shared 2-core machine writes/s move with the other jobs' load; CPU per write much less.
//
//   flock -x /tmp/conclave-bench.lock npm run bench -- cpu-per-write [--inflight N] [--seconds S] [--size B] [--mode M] [--cpu-prof DIR]
//
// --mode embedded or follower runs two rounds of that mode only; with --cpu-prof the default
// mode is follower (the profiles then show one path).
import { readFileSync, rmSync } from 'node:fs';
import { suiteFlags } from './lib/args.js';
import { ConclaveGroup } from './lib/conclave-group.js';
import { profileSummary } from './lib/cpu-profile.js';
import { benchDir } from './lib/disk.js';
import { ChildRpc } from './lib/ipc.js';
import type { LoadResult } from './lib/load.js';

const usage = 'usage: npm run bench -- cpu-per-write [--inflight N] [--seconds S] [--size B] [--mode embedded|follower|both] [--cpu-prof DIR]';
const flags = suiteFlags(usage);
const inflight = flags.int('--inflight', 256, 1, 4096);
const seconds = flags.int('--seconds', 5, 1, 3600);
const sizeBytes = flags.int('--size', 100, 1, 1024 * 1024);
const prof = flags.text('--cpu-prof') ?? undefined;
const mode = flags.text('--mode') ?? (prof ? 'follower' : 'both');
flags.done();
if (mode !== 'embedded' && mode !== 'follower' && mode !== 'both') {
  console.error(`--mode: '${mode}' is not embedded, follower or both\n${usage}`);
  process.exit(2);
}
const rounds = mode === 'both' ? ['embedded', 'follower', 'embedded', 'follower'] : [mode, mode];
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const ticks = 100;
const cpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticks;
};
const syscw = (pid: number): number => Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
const { dir } = benchDir('conclave-fcpu-');
const g = await ConclaveGroup.start(3, dir, 'f3', prof);
const roles: [string, string][] = [];
try {
  const leader = await g.waitForLeader(20000);
  const follower = Object.keys(g.peers).find((id) => id !== leader)!;
  const other = Object.keys(g.peers).find((id) => id !== leader && id !== follower)!;
  const client = new ChildRpc(new URL('./lib/client-process.ts', import.meta.url), [], { label: 'f3-client', cpuProfDir: prof });
  const spec = { inflight, sizeBytes, warmupMs: 0, durationMs: 3000, maxOps: 2_000_000, keySpace: 1000 };
  await g.load(leader, spec);
  await client.call('load', { target: { kind: 'conclave', endpoint: g.peers[follower] }, spec }, 60000);
  roles.push(['leader', leader], ['follower', follower], ['other member', other]);
  const pids = { leader: g.node(leader).proc.pid!, follower: g.node(follower).proc.pid!, other: g.node(other).proc.pid!, client: client.proc.pid! };
  for (const round of rounds) {
    const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMs(p)]));
    const wBefore = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, syscw(p)]));
    const la = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    const s = { ...spec, durationMs: seconds * 1000 };
    const r: LoadResult = round === 'embedded' ? await g.load(leader, s) : await client.call('load', { target: { kind: 'conclave', endpoint: g.peers[follower] }, spec: s }, 120000);
    const n = r.ops;
    const per = Object.entries(pids).map(([k, p]) => `${k} ${(((cpuMs(p) - before[k]!) * 1000) / n).toFixed(0)}`).join(', ');
    const w = Object.entries(pids).map(([k, p]) => `${k} ${((syscw(p) - wBefore[k]!) / n).toFixed(2)}`).join(', ');
    console.log(`${round} x${inflight} ${sizeBytes} B: ${Math.round(r.opsPerS)} w/s p50 ${(r.latency.p50Us / 1000).toFixed(1)} ms errors ${r.errors} ${r.firstError ?? ''} | CPU µs/write: ${per} | write syscalls/write: ${w} | load ${la}`);
  }
  await client.stop();
} finally {
  await g.close();
  rmSync(dir, { recursive: true, force: true });
}
// The profiles are written as the processes exit, so they are read after the close.
if (prof) for (const [role, id] of roles) console.log(`\n${role} (${id}) CPU profile, self time (top 25):\n${profileSummary(prof, `f3-${id}`, 25)}`);
