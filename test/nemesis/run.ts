// One nemesis run: five node processes, clients recording a history while the nemesis
// injects faults, then healing, final linearizable reads, the search for every acknowledged
// write on every member, and the linearizability check.
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminRpcClient } from '@conclave/transport';
import { seededRandom } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { randomBytes } from 'node:crypto';
import { NemesisCluster, type LaunchSpec } from './cluster.js';
import { NetnsNetwork } from './netns.js';
import { ClockControl, type ClockMode } from './clock.js';
import { DiskControl } from './disk.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Nemesis, type FaultKind, type FaultRecord } from './faults.js';
import { countOperations, operationsOf, type HistoryCounts, type HistoryEvent } from './history.js';
import { checkHistory, type CheckResult } from './linearizability.js';
import { FRESH_KEY_PREFIX, registerKey, Workload } from './workload.js';
import { checkWatchStreams } from './watch-check.js';
import { NemesisWatchers, WATCHED_PREFIX } from './watchers.js';
import { LockWorkload, type LockReport } from './locks.js';
import type { FencedWrite } from '../lock-check/lock-check.js';

export interface NemesisRunOptions {
  readonly durationMs: number;
  readonly seed: number;
  readonly nodes?: number;
  readonly clients?: number;
  readonly keys?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly requestTimeoutMs?: number;
  readonly holdMs?: readonly [number, number];
  readonly quietMs?: readonly [number, number];
  /** 'hook' (default): the transport's fault hook cuts links; 'netns': the kernel does, in namespaces. */
  readonly network?: 'hook' | 'netns';
  /** Nodes under libfaketime: 'within' the lease's drift bound, or 'beyond' it (expected to find stale lease reads). */
  readonly clock?: ClockMode;
  /** Nodes under libfiu, and disk-error faults (fdatasync, open, write fail with EIO or ENOSPC). */
  readonly disk?: boolean;
  /** Only these fault kinds (default: every kind of the chosen modes). */
  readonly faults?: readonly FaultKind[];
  /** The clients' reads (final reads are always linearizable). Default linearizable. */
  readonly readConsistency?: 'linearizable' | 'lease' | 'none';
  /** Where a failing run's history goes (and every run's, with keepHistory). */
  readonly outDir?: string;
  readonly keepHistory?: boolean;
  readonly log?: (line: string) => void;
  /** Watchers beside the clients (default 3). */
  readonly watchers?: number;
  /** Lock holder processes of the lock workload (locks.ts); 0 (default) runs none. */
  readonly lockHolders?: number;
}

export interface FreshCheck {
  readonly acked: number;
  readonly indeterminate: number;
  readonly failed: number;
  /** Acknowledged fresh writes missing (or wrong) on some member: "member key" strings. */
  readonly lost: readonly string[];
  /** Keys present that no client wrote, or whose write surely failed. */
  readonly unexpected: readonly string[];
  readonly membersChecked: readonly string[];
}

export interface NemesisReport {
  readonly seed: number;
  /** How the network is cut: 'hook' (the transport's fault hook) or 'netns' (the kernel). */
  readonly network: string;
  readonly durationMs: number;
  readonly operations: HistoryCounts;
  readonly okPerSecond: number;
  readonly faults: readonly FaultRecord[];
  readonly faultCounts: Record<string, number>;
  readonly errorCodes: Record<string, number>;
  readonly check: CheckResult;
  readonly checkMs: number;
  readonly fresh: FreshCheck;
  readonly finalMembers: readonly string[];
  readonly historyFile: string | null;
  /** With --clock: each node process start's kind of clock, in order. */
  readonly clocks: readonly string[];
  /** The watchers' streams: what they covered and what the watch checker found. */
  readonly watch: { readonly streams: number; readonly events: number; readonly coveredRevisions: number; readonly resumes: number; readonly compacted: number; readonly stopped: readonly string[]; readonly violations: readonly string[] };
  /** The lock workload's holdings and checks (null: it did not run). */
  readonly lock: LockReport | null;
  /** Linearizable, nothing acknowledged lost, nothing unexpected, the watch streams whole, no lock violation. */
  readonly ok: boolean;
  /** Why the run could not finish its final checks, if it could not. */
  readonly setupError: string | null;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_OUT_DIR = join(REPO_ROOT, '.nemesis-failures');
const CONVERGE_TIMEOUT_MS = 60_000;
const SCAN_PAGE = 5000;
const MAX_SCAN_PAGES = 1000;


async function converge(cluster: NemesisCluster): Promise<NodeStatus> {
  const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
  let last = '';
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const leader = await cluster.leader();
    const ls = leader ? await cluster.status(leader) : null;
    if (ls) {
      const statuses = await Promise.all(cluster.ids().map((id) => cluster.status(id)));
      const behind = cluster.ids().filter((_, j) => !statuses[j] || statuses[j]!.appliedIndex < ls.commitIndex);
      if (behind.length === 0) return ls;
      last = `behind the leader's commit ${ls.commitIndex}: ${behind.join(', ')}`;
    } else last = 'no leader';
    await sleep(200);
  }
  throw new Error(`the group did not converge within ${CONVERGE_TIMEOUT_MS} ms (${last})`);
}

async function scanFresh(conn: AdminRpcClient, consistency: 'none' | 'linearizable'): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  let after: string | null = null;
  for (let page = 0; page < MAX_SCAN_PAGES; page++) {
    const range: Record<string, unknown> = after === null ? { gte: FRESH_KEY_PREFIX } : { gt: after };
    const res: { pairs: [string, unknown][] } = await conn.request('kv.scan', { ...range, lt: `${FRESH_KEY_PREFIX}\uffff`, limit: SCAN_PAGE, consistency }, { timeoutMs: 20_000 });
    for (const [k, v] of res.pairs) out.set(k, v);
    if (res.pairs.length < SCAN_PAGE) return out;
    after = res.pairs[res.pairs.length - 1]![0];
  }
  throw new Error(`more than ${MAX_SCAN_PAGES * SCAN_PAGE} fresh keys`);
}

async function checkFresh(cluster: NemesisCluster, workload: Workload, leader: string): Promise<FreshCheck> {
  const { acked, indeterminate, failed } = workload.fresh;
  const lost: string[] = [];
  const unexpected = new Set<string>();
  const members = cluster.ids();
  for (const id of members) {
    const conn = await AdminRpcClient.connect(cluster.address(id), { connectTimeoutMs: 5000, ...cluster.clientOptions() });
    try {
      const views = [await scanFresh(conn, 'none')];
      if (id === leader) views.push(await scanFresh(conn, 'linearizable'));
      for (const found of views) {
        for (const [k, v] of acked) if (found.get(k) !== v) lost.push(`${id} ${k}`);
        for (const [k, v] of found) if (acked.get(k) !== v && indeterminate.get(k) !== v) unexpected.add(`${k}=${JSON.stringify(v)}${failed.has(k) ? ' (its write failed)' : ''}`);
      }
    } finally {
      await conn.close();
    }
  }
  return { acked: acked.size, indeterminate: indeterminate.size, failed: failed.size, lost, unexpected: [...unexpected], membersChecked: members };
}

/** Final linearizable reads of every register key on every member, recorded in the history. */
async function finalReads(cluster: NemesisCluster, workload: Workload, keys: number, firstProcess: number): Promise<void> {
  let process = firstProcess;
  for (const id of cluster.ids()) {
    const conn = await AdminRpcClient.connect(cluster.address(id), { connectTimeoutMs: 5000, ...cluster.clientOptions() });
    try {
      for (let k = 0; k < keys; k++) await workload.register(conn, process++, registerKey(k), { f: 'read', value: null });
    } finally {
      await conn.close();
    }
  }
}

export async function runNemesis(o: NemesisRunOptions): Promise<NemesisReport> {
  const log = o.log ?? (() => {});
  const random = seededRandom(o.seed);
  const keys = o.keys ?? 5;
  const clients = o.clients ?? 10;
  const nodes = o.nodes ?? 5;
  const network = o.network === 'netns' ? await NetnsNetwork.create(nodes) : undefined;
  const controlDir = mkdtempSync(join(tmpdir(), 'conclave-nemesis-control-'));
  const removeControlDir = () => rmSync(controlDir, { recursive: true, force: true });
  process.once('exit', removeControlDir); // an interrupted run too
  let clock: ClockControl | undefined;
  let disk: DiskControl | undefined;
  let cluster: NemesisCluster;
  try {
    clock = o.clock ? new ClockControl(controlDir, o.clock, random) : undefined;
    disk = o.disk ? new DiskControl(controlDir) : undefined;
    const launchers = [clock?.launcher, disk?.launcher].filter((l) => l !== undefined);
    cluster = await NemesisCluster.start({
      nodes,
      tickMs: o.tickMs ?? 50,
      electionTicks: o.electionTicks ?? 10,
      // In the kernel's network, the hook stays off: nothing can cut links but the kernel.
      ...(network ? { network, faultInjection: false, adminSecret: randomBytes(24).toString('hex'), clusterSecret: randomBytes(24).toString('hex') } : {}),
      // The clock's wrapper inside, fiu-run outside: fiu-run sets LD_PRELOAD, the clock's shell adds to it.
      ...(launchers.length ? { launcher: (id: string, spec: LaunchSpec) => launchers.reduce((acc, l) => l(id, acc), spec) } : {}),
      ...(clock ? { onProcessExit: clock.processExited } : {}),
    });
  } catch (err) {
    await network?.destroy();
    process.removeListener('exit', removeControlDir);
    removeControlDir();
    throw err;
  }
  if (clock) log(`clocks: libfaketime, ${clock.mode} the lease's drift bound: ${clock.starts.join('; ')}`);
  if (disk) log('disks: libfiu (fiu-run -x), faults turned on and off with fiu-ctrl');
  if (network) log(`netns: bridge ${network.bridge}, namespaces ${network.namespace(1)}..${nodes}, delays by ${network.delayMechanism}`);
  const workload = new Workload(cluster, { clients, keys, requestTimeoutMs: o.requestTimeoutMs ?? 5_000, freshKeyShare: 0.1, random, readConsistency: o.readConsistency ?? 'linearizable' });
  const watchers = new NemesisWatchers(cluster, random);
  // Drifting clocks (--clock) shorten a lease by up to rho = 0.25 (0.8x to 1.25x); otherwise
  // every process reads the same CLOCK_MONOTONIC. Its own random source: the lock workload
  // leaves the schedule of the others' seed as it was.
  const locks = (o.lockHolders ?? 0) > 0 ? new LockWorkload(cluster, { holders: o.lockHolders!, random: seededRandom(o.seed + 0x10c), log, clockBound: clock ? 0.25 : 0.01 }) : null;
  let lockRegister: { value: unknown; log: FencedWrite[] } | null = null;
  const now = () => workload.history.now();
  const nemesis = new Nemesis(cluster, { random, holdMs: o.holdMs ?? [2000, 6000], quietMs: o.quietMs ?? [1000, 3000], now, log, ...(network ? { network } : {}), ...(clock ? { clock } : {}), ...(disk ? { disk } : {}), ...(o.faults ? { kinds: o.faults } : {}) });
  let setupError: string | null = null;
  let fresh: FreshCheck = { acked: 0, indeterminate: 0, failed: 0, lost: [], unexpected: [], membersChecked: [] };
  let finalMembers: string[] = [];
  let watching: Promise<void> = Promise.resolve();
  try {
    await locks?.start();
    const stopAt = now() + o.durationMs;
    log(`seed ${o.seed}: ${cluster.ids().length} nodes, ${clients} clients, ${keys} keys, ${locks ? `${o.lockHolders} lock holders, ` : ''}${Math.round(o.durationMs / 1000)} s`);
    watching = watchers.run(o.watchers ?? 3);
    const lockStopAt = Date.now() + o.durationMs;
    await Promise.all([workload.run(stopAt), nemesis.run(stopAt), locks?.run(lockStopAt)]);
    await nemesis.healAll();
    // The holders release what they hold (the group is whole again) and exit.
    if (locks) {
      const stopping = Date.now();
      await locks.stop();
      log(`lock holders stopped in ${Date.now() - stopping} ms`);
    }
    workload.readConsistency = 'linearizable';
    try {
      const ls = await converge(cluster);
      log(`converged: leader ${ls.id}, commit ${ls.commitIndex}`);
      await finalReads(cluster, workload, keys, clients);
      await converge(cluster);
      finalMembers = cluster.ids();
      fresh = await checkFresh(cluster, workload, (await cluster.leader()) ?? ls.id);
      if (locks) lockRegister = await locks.readRegister((await cluster.leader()) ?? ls.id);
      // The watchers reach the final commit (bounded), then stop.
      const commit = (await cluster.status((await cluster.leader()) ?? ls.id))?.commitIndex ?? ls.commitIndex;
      for (let i = 0; i < 300 && watchers.lowestRevision < commit; i++) await sleep(100);
      if (watchers.lowestRevision < commit) log(`watchers reached revision ${watchers.lowestRevision} of ${commit} before the deadline`);
    } catch (err) {
      setupError = (err as Error).message;
      log(`final checks failed: ${setupError}\n${cluster.logs()}`);
    }
  } finally {
    workload.stop();
    await locks?.kill();
    await watchers.stop();
    await Promise.race([watching, sleep(5000)]);
    await cluster.close();
    await network?.destroy();
    process.removeListener('exit', removeControlDir);
    removeControlDir();
  }
  const events: HistoryEvent[] = workload.history.events;
  const ops = operationsOf(events);
  const started = Date.now();
  const check = checkHistory(ops);
  const checkMs = Date.now() - started;
  const watchViolations = checkWatchStreams(watchers.streams, ops, (k) => k.startsWith(WATCHED_PREFIX));
  const watch = {
    streams: watchers.streams.length,
    events: watchers.counts.events,
    coveredRevisions: watchers.streams.reduce((n, w) => n + Math.max(0, w.to - w.from + 1), 0),
    resumes: watchers.counts.resumes,
    compacted: watchers.counts.compacted,
    stopped: watchers.streams.filter((w) => w.stopped !== null).map((w) => `${w.name}: ${w.stopped}`),
    violations: watchViolations,
  };
  const operations = countOperations(ops);
  const okCount = Object.values(operations.byKind).reduce((a, r) => a + r.ok, 0);
  const faultCounts: Record<string, number> = {};
  for (const f of nemesis.faults) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
  const lock = locks ? locks.check(lockRegister) : null;
  const ok = check.linearizable === true && fresh.lost.length === 0 && fresh.unexpected.length === 0 && setupError === null && watchViolations.length === 0 && (lock === null || lock.violations.length === 0);
  let historyFile: string | null = null;
  if (!ok || o.keepHistory) {
    const dir = o.outDir ?? DEFAULT_OUT_DIR;
    mkdirSync(dir, { recursive: true });
    historyFile = join(dir, `nemesis-${o.seed}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(historyFile, JSON.stringify({ seed: o.seed, events, faults: nemesis.faults, fresh: workload.fresh, ...(locks ? { lock: locks.history(lockRegister) } : {}) }, (_k, v) => (v instanceof Map ? Object.fromEntries(v) : v)));
  }
  return {
    seed: o.seed,
    network: network ? 'netns' : 'hook',
    durationMs: o.durationMs,
    operations,
    okPerSecond: okCount / (o.durationMs / 1000),
    faults: nemesis.faults,
    faultCounts,
    errorCodes: Object.fromEntries(workload.errors),
    check,
    checkMs,
    fresh,
    finalMembers,
    historyFile,
    clocks: clock ? [...clock.starts] : [],
    watch,
    lock,
    ok,
    setupError,
  };
}

/** The report as lines for people. */
export function formatReport(r: NemesisReport): string {
  const lines = [
    `seed ${r.seed}, ${Math.round(r.durationMs / 1000)} s: ${r.ok ? 'OK' : 'FAILED'}`,
    `operations: ${r.operations.total} (${r.okPerSecond.toFixed(0)} ok/s)`,
    ...Object.entries(r.operations.byKind).map(([k, c]) => `  ${k.padEnd(15)} ok ${c.ok}, fail ${c.fail}, info ${c.info}`),
    ...(r.clocks.length ? [`clocks: ${r.clocks.join('; ')}`] : []),
    `faults injected: ${r.faults.length} (${Object.entries(r.faultCounts).map(([k, n]) => `${k} ${n}`).join(', ')})`,
    ...r.faults.filter((f) => f.error).map((f) => `  fault ${f.kind} ${f.detail}: ${f.error}`),
    `client errors by code: ${Object.entries(r.errorCodes).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
    `linearizability: ${r.check.linearizable === true ? 'linearizable' : r.check.linearizable === false ? 'VIOLATION' : 'UNKNOWN (search budget exceeded)'} over ${r.check.keys.length} keys, checked in ${r.checkMs} ms`,
    ...r.check.keys.filter((k) => k.linearizable !== true).map((k) => k.message ?? ''),
    `fresh keys: ${r.fresh.acked} acknowledged, ${r.fresh.indeterminate} indeterminate, ${r.fresh.failed} failed; on ${r.fresh.membersChecked.join(', ')}: ${r.fresh.lost.length} lost, ${r.fresh.unexpected.length} unexpected`,
    ...r.fresh.lost.slice(0, 20).map((x) => `  LOST ${x}`),
    ...r.fresh.unexpected.slice(0, 20).map((x) => `  UNEXPECTED ${x}`),
    `watchers: ${r.watch.streams} streams over ${r.watch.coveredRevisions} revisions, ${r.watch.events} events, ${r.watch.resumes} resumes (${r.watch.compacted} COMPACTED); ${r.watch.violations.length} violations`,
    ...r.watch.stopped.map((x) => `  stopped ${x}`),
    ...r.watch.violations.slice(0, 20).map((x) => `  WATCH ${x}`),
    ...(r.lock
      ? [
          `locks: ${r.lock.holders} holders (${r.lock.holderStarts} processes), ${r.lock.holdings} holdings, ${r.lock.handoversAfterFault} handovers after a holder was killed or paused (${r.lock.faults.kill} kills, ${r.lock.faults.pause} pauses); fenced writes ${r.lock.writes.accepted} accepted, ${r.lock.writes.rejected} refused, ${r.lock.writes.unknown} unknown; ${r.lock.registerWrites} in the register's log; ${r.lock.excusedOverlaps} overlaps past a lease (${r.lock.staleWritesRefused} stale writes refused); ${r.lock.violations.length} violations`,
          ...r.lock.violations.slice(0, 20).map((x) => `  LOCK ${x}`),
        ]
      : []),
    ...(r.setupError ? [`final checks could not run: ${r.setupError}`] : []),
    ...(r.historyFile ? [`history: ${r.historyFile}`] : []),
  ];
  return lines.join('\n');
}
