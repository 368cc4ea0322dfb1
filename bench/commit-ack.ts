// The commit-ack benchmark (DESIGN.md "Benchmarks", issue 7): durable commit-ack latency
// and throughput of conclave groups of real node processes on loopback, the machine's
// floor and a 3-member etcd, all in one run. `npm run bench` with no suite runs it.
//
//   flock -x /tmp/conclave-bench.lock npm run bench [-- --quick]
//
// The flock keeps two benchmarks (or a benchmark and the tests) from sharing this 2-core
// machine. Output: a table, bench/results/<date>.json and bench/results/<date>.svg.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, UsageError, type BenchArgs } from './lib/args.js';
import { ConclaveGroup } from './lib/conclave-group.js';
import { type BenchResults, type Cell, type ConfigId } from './lib/configs.js';
import { benchDir } from './lib/disk.js';
import { EtcdGroup, findEtcd } from './lib/etcd-group.js';
import { measureFloor, SHARED_DISK_WRITERS } from './lib/floor.js';
import { ChildRpc } from './lib/ipc.js';
import type { LoadResult, LoadSpec } from './lib/load.js';
import { renderChart } from './lib/svg.js';
import { resultsTable, targetChecks, targetsTable } from './lib/report.js';
import { TtyProgress } from '../scripts/tty-progress.js';

const argv = process.argv.slice(2).filter((a) => a !== '--');
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
let args: BenchArgs;
try {
  args = parseArgs(argv);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`commit-ack benchmark: ${err.message}\n${USAGE}`);
  process.exit(2);
}

const quick = args.quick;
const WARMUP_MS = quick ? 150 : 500;
const DURATION_MS = quick ? 450 : 3000;
const MAX_OPS = 2_000_000;
const KEY_SPACE = 1000;
const FLOOR_SAMPLES = quick ? { fdatasync: 300, roundTrip: 1000 } : { fdatasync: 2000, roundTrip: 5000 };
/** The whole run's deadline: a stuck group must not hold the benchmark lock for ever. */
const RUN_DEADLINE_MS = quick ? 120_000 : 45 * 60_000;
const LEADER_TIMEOUT_MS = 20_000;
/** Unmeasured load on every fresh group (ours and etcd alike) before its first cell: JIT, caches, LevelDB's first flushes. */
const GROUP_WARMUP = { inflight: 64, sizeBytes: 1024, durationMs: quick ? 1000 : 3000 };
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

const started = Date.now();
const cells: Cell[] = [];
const cleanups: (() => Promise<void>)[] = [];
/** Cells this run will measure (etcd's counted even if it turns out to be missing): the progress line's denominator. */
const plannedCells = (() => {
  const n = (id: ConfigId, sizes: readonly number[]) => (args.configs.includes(id) ? sizes.length * args.inflights.length : 0);
  const secondary = args.quick ? [args.sizesBytes[0]!] : args.sizesBytes;
  return n('conclave3', args.sizesBytes) + n('follower3', secondary) + n('conclave5', secondary) + n('override5', secondary) + n('etcd3', args.sizesBytes);
})();
/** On a terminal: the cell running, elapsed and (from the cells done so far) remaining time. */
const progress = new TtyProgress(process.stderr, (elapsedMs) => (cells.length === 0 ? null : (elapsedMs / cells.length) * Math.max(0, plannedCells - cells.length)));
const log = (m: string): void => progress.print(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${m}`);

function spec(sizeBytes: number, inflight: number): LoadSpec {
  return { inflight, sizeBytes, warmupMs: WARMUP_MS, durationMs: DURATION_MS, maxOps: MAX_OPS, keySpace: KEY_SPACE };
}

/** Loads a fresh group without measuring. */
async function warmUp(what: string, load: (s: LoadSpec) => Promise<LoadResult>): Promise<void> {
  const r = await load({ ...spec(GROUP_WARMUP.sizeBytes, GROUP_WARMUP.inflight), warmupMs: 0, durationMs: GROUP_WARMUP.durationMs });
  log(`${what} warmed up: ${Math.round(r.opsPerS)} writes/s for ${GROUP_WARMUP.durationMs} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`);
}

/** Runs every (size, in-flight) cell of one configuration through `load`. */
async function runCells(config: ConfigId, load: (s: LoadSpec) => Promise<LoadResult>, sizes = args.sizesBytes): Promise<void> {
  for (const sizeBytes of sizes) {
    for (const inflight of args.inflights) {
      progress.set(`cell ${cells.length + 1}/${plannedCells}: ${config} ${sizeBytes} B x ${inflight}`);
      const r = await load(spec(sizeBytes, inflight));
      cells.push({ config, ...r });
      log(`${config} ${sizeBytes} B x ${inflight}: ${Math.round(r.opsPerS)} writes/s, p50 ${(r.latency.p50Us / 1000).toFixed(2)} ms, p99 ${(r.latency.p99Us / 1000).toFixed(2)} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`);
    }
  }
}

/** A load client in its own process. */
function startClient(label: string): ChildRpc {
  const c = new ChildRpc(new URL('./lib/client-process.ts', import.meta.url), [], { label, cpuProfDir: args.cpuProfDir ?? undefined });
  cleanups.push(() => c.stop());
  return c;
}

function clientLoad(client: ChildRpc, target: { kind: 'conclave' | 'etcd'; endpoint: string }): (s: LoadSpec) => Promise<LoadResult> {
  return (s) => client.call<LoadResult>('load', { target, spec: s }, s.warmupMs + s.durationMs + 60_000);
}

const want = (c: ConfigId): boolean => args.configs.includes(c);
/** Quick runs measure the secondary configurations at one value size only. */
const secondarySizes = quick ? [args.sizesBytes[0]!] : args.sizesBytes;

async function main(): Promise<BenchResults> {
  const { dir: dataRoot, where } = benchDir('conclave-bench-commit-');
  cleanups.push(async () => rmSync(dataRoot, { recursive: true, force: true }));
  log(`commit-ack benchmark${quick ? ' (quick)' : ''}: ${cpus().length} CPUs, node ${process.version}, data on ${where}`);

  const floor = await measureFloor(dataRoot, FLOOR_SAMPLES);
  log(`floor: fdatasync p50 ${floor.fdatasync.p50Us} µs, ws round trip p50 ${floor.wsRoundTrip.p50Us} µs`);

  if (want('conclave3') || want('follower3')) {
    const g = await ConclaveGroup.start(3, dataRoot, 'g3', args.cpuProfDir ?? undefined);
    cleanups.push(() => g.close());
    const leader = await g.waitForLeader(LEADER_TIMEOUT_MS);
    log(`3-node group up, leader ${leader}`);
    await warmUp('3-node group', (s) => g.load(leader, s));
    if (want('conclave3')) await runCells('conclave3', (s) => g.load(leader, s));
    if (want('follower3')) {
      const follower = Object.keys(g.peers).find((id) => id !== leader)!;
      const client = startClient('client-follower3');
      const viaFollower = clientLoad(client, { kind: 'conclave', endpoint: g.peers[follower]! });
      await warmUp('client on a follower', viaFollower);
      await runCells('follower3', viaFollower, secondarySizes);
      await client.stop();
    }
    await g.close();
  }

  if (want('conclave5') || want('override5')) {
    const g = await ConclaveGroup.start(5, dataRoot, 'g5', args.cpuProfDir ?? undefined);
    cleanups.push(() => g.close());
    let leader = await g.waitForLeader(LEADER_TIMEOUT_MS);
    log(`5-node group up, leader ${leader}`);
    await warmUp('5-node group', (s) => g.load(leader, s));
    if (want('conclave5')) await runCells('conclave5', (s) => g.load(leader, s), secondarySizes);
    if (want('override5')) {
      // JE HA's override case: 3 of 5 electable members down, the 2 survivors carry on with O = 2.
      const survivor = Object.keys(g.peers).find((id) => id !== leader)!;
      const down = Object.keys(g.peers).filter((id) => id !== leader && id !== survivor);
      await g.setOverride(leader, 2);
      await g.setOverride(survivor, 2);
      for (const id of down) await g.kill(id);
      leader = await g.waitForLeader(LEADER_TIMEOUT_MS);
      log(`override: ${down.join(', ')} killed, ${leader} and ${survivor} run with override 2, leader ${leader}`);
      await runCells('override5', (s) => g.load(leader, s), secondarySizes);
    }
    await g.close();
  }

  let etcd: BenchResults['etcd'] = { ran: false, version: null, note: 'not requested (--only)' };
  if (want('etcd3')) {
    const binary = args.skipEtcd ? null : findEtcd();
    if (!binary) {
      const note = args.skipEtcd ? 'skipped (--no-etcd)' : 'skipped: no etcd binary on PATH (on Debian: apt-get install etcd-server)';
      log(`etcd ${note}`);
      etcd = { ran: false, version: null, note };
    } else {
      const e = await EtcdGroup.start(binary, dataRoot);
      cleanups.push(() => e.close());
      const endpoint = await e.leaderEndpoint(LEADER_TIMEOUT_MS);
      log(`etcd ${e.version} up (${binary}), leader at ${endpoint}`);
      const client = startClient('client-etcd3');
      await warmUp('etcd', clientLoad(client, { kind: 'etcd', endpoint }));
      await runCells('etcd3', clientLoad(client, { kind: 'etcd', endpoint }));
      await client.stop();
      await e.close();
      etcd = { ran: true, version: e.version, note: null };
    }
  }

  return {
    at: new Date().toISOString(),
    quick,
    machine: { cpus: cpus().length, node: process.version, disk: where },
    floor,
    etcd,
    cells,
    targets: targetChecks(cells, floor, args.sizesBytes),
    durationS: (Date.now() - started) / 1000,
  };
}

async function cleanup(): Promise<void> {
  for (const c of cleanups.reverse()) await c().catch(() => {});
}

const deadline = setTimeout(() => {
  console.error(`commit-ack benchmark: not finished within ${RUN_DEADLINE_MS / 1000} s; stopping`);
  void cleanup().finally(() => process.exit(1));
}, RUN_DEADLINE_MS);

try {
  const r = await main();
  progress.stop();
  console.log('');
  console.log(`floor: fdatasync p50 ${r.floor.fdatasync.p50Us} µs (p99 ${r.floor.fdatasync.p99Us}), ws round trip p50 ${r.floor.wsRoundTrip.p50Us} µs (p99 ${r.floor.wsRoundTrip.p99Us}); floor = ${r.floor.p50Us} µs; beside it, fdatasync p50 with ${SHARED_DISK_WRITERS} writers on this disk at once ${r.floor.sharedFdatasync.p50Us} µs`);
  if (!r.etcd.ran) console.log(`etcd: ${r.etcd.note}`);
  console.log(resultsTable(r.cells, r.floor));
  console.log(targetsTable(r.targets));
  const missed = r.targets.filter((t) => t.met === false).length;
  console.log(missed === 0 ? 'all targets checked were met' : `${missed} target(s) MISSED`);
  mkdirSync(resultsDir, { recursive: true });
  const stamp = r.at.replace(/[:.]/g, '-');
  writeFileSync(join(resultsDir, `${stamp}.json`), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(join(resultsDir, `${stamp}.svg`), renderChart(r));
  console.log(`wrote bench/results/${stamp}.json and .svg (${r.durationS.toFixed(1)} s in all)`);
} catch (err) {
  console.error(`commit-ack benchmark failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  progress.stop();
  clearTimeout(deadline);
  await cleanup();
}
