// Faults from outside the process, on five real node processes with lease reads where a
// lease could go wrong:
// - clocks under libfaketime within the lease's bound: monotonic clocks drifting at fixed
//   rates in 0.8x..1.25x, and wall clocks stepping by up to 2 s and changing rate on nodes
//   whose monotonic clock stays true, alongside every other fault: no violation;
// - a leader's monotonic clock far beyond the lease's drift bound (0.02x while it is cut off
//   from its peers, stopped, then resumed): the checker must find stale lease reads, which
//   shows the clock rounds can see them;
// - long message delays (the leader stopped past its lease with reads queued on it, then
//   resumed): no violation;
// - disk errors under libfiu (fdatasync, open, write fail with EIO or ENOSPC): a node whose
//   sync fails stops with a line saying so, nothing acknowledged is lost, and the restarted
//   node catches up (the final convergence check).
// Without faketime or libfiu a round says what is missing and fails: .ci/run installs both.
// NEMESIS_SEED=N replays a schedule's seed.
import test from 'ava';
import { formatReport, runNemesis, type NemesisRunOptions } from './run.js';
import { summarizeRun } from './summary.js';

const seed = () => Number(process.env.NEMESIS_SEED) || Math.floor(Math.random() * 2 ** 31) + 1;

async function round(t: { log: (...a: string[]) => void; timeout: (ms: number) => void }, o: Omit<NemesisRunOptions, 'seed'>) {
  t.timeout(o.durationMs + 180_000);
  const lines: string[] = [];
  const report = await runNemesis({ ...o, seed: seed(), log: (l) => lines.push(l) });
  t.log(lines.join('\n'));
  t.log(formatReport(report));
  return report;
}

test.serial('clocks within the drift bound, with every other fault and lease reads: linearizable, nothing lost', async (t) => {
  const report = await round(t, { durationMs: 30_000, clock: 'within', readConsistency: 'lease' });
  t.like(summarizeRun(report), { violations: 0, unknownKeys: 0, lostAcknowledged: 0, setupError: null }, `seed ${report.seed}, history ${report.historyFile}`);
  t.true((report.faultCounts['clock-step'] ?? 0) + (report.faultCounts['clock-rate'] ?? 0) >= 10, JSON.stringify(report.faultCounts));
  // Both kinds ran: lease reads met monotonic clocks drifting within the bound, and wall steps.
  t.true(report.clocks.some((c) => /drifting x(?!1 )/.test(c)), report.clocks.join('; '));
  t.true(report.clocks.some((c) => c.includes('wall-stepping')), report.clocks.join('; '));
});

test.serial("a leader's clock beyond the drift bound: the checker finds the stale lease reads", async (t) => {
  // 20 clients, four on each member: each slow leader then has a few clients whose request
  // waits on it while it is stopped, and the chance that none of them is a read is small.
  const report = await round(t, { durationMs: 40_000, clients: 20, clock: 'beyond', faults: ['clock-slow-leader'], readConsistency: 'lease' });
  t.is(report.setupError, null);
  t.true((report.faultCounts['clock-slow-leader'] ?? 0) >= 2, JSON.stringify(report.faultCounts));
  t.is(report.check.linearizable, false, `no stale lease read found (seed ${report.seed}): the clock rounds could not see one`);
  t.true(report.check.keys.some((k) => k.failure?.ops.some((o) => o.op.op.f === 'read')), 'a read is in a failing history');
});

test.serial('long message delays (the leader held past its lease, then released at once), lease reads: linearizable', async (t) => {
  const report = await round(t, { durationMs: 30_000, faults: ['long-delay'], readConsistency: 'lease' });
  t.true((report.faultCounts['long-delay'] ?? 0) >= 2, JSON.stringify(report.faultCounts));
  t.like(summarizeRun(report), { violations: 0, unknownKeys: 0, lostAcknowledged: 0, setupError: null }, `seed ${report.seed}, history ${report.historyFile}`);
});

test.serial('disk errors: a failed sync stops the node with a clear line, nothing acknowledged is lost, the restarted node catches up', async (t) => {
  const report = await round(t, { durationMs: 30_000, disk: true, faults: ['disk-error'] });
  t.like(summarizeRun(report), { violations: 0, unknownKeys: 0, lostAcknowledged: 0, setupError: null }, `seed ${report.seed}, history ${report.historyFile}`);
  const syncFaults = report.faults.filter((f) => f.kind === 'disk-error' && f.detail.includes('posix/io/sync'));
  t.true(syncFaults.length >= 1, report.faults.map((f) => f.detail).join('\n'));
  for (const f of syncFaults) t.regex(f.detail, /stopped, last line: .*(fail-stop|Input\/output error|EIO)/, 'the node stops and says why');
  t.deepEqual(report.fresh.lost, []);
  t.is(report.finalMembers.length, 5, 'every member, restarted on a healthy disk, caught up');
});
