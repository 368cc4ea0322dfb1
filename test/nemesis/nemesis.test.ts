// One 60-second nemesis round on five real node processes: SIGKILL and restart, SIGSTOP and
// SIGCONT, partitions (majority/minority, bridge, isolated leader), lossy links, leader
// transfer, and a member removed and brought back under a new id. Every operation of the
// clients' history must be linearizable, and every acknowledged write present on every
// member at the end. Beside them, the lock workload (locks.ts): three holder processes take
// one lock over and over, killed and paused now and then, writing their fencing tokens to a
// fenced register. The soak is `npm run nemesis -- --minutes 30`; NEMESIS_SEED=N replays
// a schedule's seed (the processes' timing still varies).
import test from 'ava';
import { formatReport, runNemesis } from './run.js';

const ROUND_MS = 60_000;

test('nemesis round: linearizable under kills, pauses, partitions, transfers and membership changes; nothing acknowledged lost', async (t) => {
  t.timeout(ROUND_MS + 180_000);
  const seed = Number(process.env.NEMESIS_SEED) || Math.floor(Math.random() * 2 ** 31) + 1;
  const lines: string[] = [];
  const report = await runNemesis({ durationMs: ROUND_MS, seed, lockHolders: 3, log: (line) => lines.push(line) });
  t.log(lines.join('\n'));
  t.log(formatReport(report));
  t.is(report.setupError, null, 'the final checks ran');
  t.is(report.check.linearizable, true, `replay the schedule with NEMESIS_SEED=${seed}; history in ${report.historyFile}`);
  t.deepEqual(report.fresh.lost, [], 'every acknowledged write is on every member');
  t.deepEqual(report.fresh.unexpected, [], 'nothing that was not written (or surely failed) is there');
  t.deepEqual(report.watch.violations, [], 'every watcher saw every acknowledged write once, in revision order, without a gap; revisions agree with real time');
  t.true(report.watch.events >= 100 && report.watch.resumes >= 1, `watchers saw ${report.watch.events} events and resumed ${report.watch.resumes} times`);
  // The round must have done enough to be able to fail. These are floors for that, not
  // throughput targets (a loaded machine does fewer operations; bench/ measures speed).
  t.true(report.fresh.acked >= 30, `${report.fresh.acked} acknowledged fresh writes`);
  t.true(report.operations.total >= 500, `${report.operations.total} operations`);
  // The lock workload (locks.ts): holders took the lock over and over, some after a holder
  // was killed or paused while it held; no two at once by token order (beyond what an
  // expired lease allows), and the fenced register never went back.
  t.deepEqual(report.lock?.violations, [], 'no two lock holders at once by token order; the fenced register never accepted a lower token or a stale holder after its successor');
  t.true(report.lock !== null && report.lock.holdings >= 10, `${report.lock?.holdings} lock holdings`);
  t.true(report.lock !== null && report.lock.handoversAfterFault >= 1, `${report.lock?.handoversAfterFault} handovers after a holder was killed or paused`);
  t.true(report.lock !== null && report.lock.writes.accepted >= 10, `${report.lock?.writes.accepted} fenced writes accepted`);
  const applied = report.faults.filter((f) => !f.error);
  t.true(applied.length >= 5, `${applied.length} faults applied without error`);
});
