// The whole-node simulation's seeds in npm test: a fixed range (never as many as time allows,
// so every run checks the same seeds), in groups that each finish well inside ava's timeout,
// then a check that the seeds exercised what they claim to. Two test files each run half of
// the range, so that ava's two workers share them.
import type { TestFn } from 'ava';
import { runSeed, type SeedResult } from './schedule.js';

/** Seeds npm test runs in all (the issue asks for at least 300); CONCLAVE_SIM_NODE_SEEDS changes it. */
export const NPM_TEST_SEEDS = Number(process.env.CONCLAVE_SIM_NODE_SEEDS ?? 300);
const GROUP = 10;

function failuresOf(rs: readonly SeedResult[]): string {
  return rs
    .filter((r) => !r.ok)
    .slice(0, 3)
    .map((f) => `seed ${f.seed}:\n  ${f.violations.slice(0, 3).join('\n  ')}\n  replay: ${f.replay}`)
    .join('\n');
}

/** Registers seeds first..last (inclusive) as serial groups, then the exercise check over them. */
export function seedSuite(test: TestFn, first: number, last: number): void {
  const results: SeedResult[] = [];
  for (let from = first; from <= last; from += GROUP) {
    const to = Math.min(last, from + GROUP - 1);
    test.serial(`seeds ${from}-${to}: linearizable, nothing acknowledged lost, every promise settles, failures say why`, async (t) => {
      const rs: SeedResult[] = [];
      const t0 = performance.now();
      for (let seed = from; seed <= to; seed++) rs.push(await runSeed({ seed }));
      results.push(...rs);
      const secs = (performance.now() - t0) / 1000;
      const simulatedMs = rs.reduce((n, r) => n + r.simulatedMs, 0);
      t.log(`${rs.length} seeds in ${secs.toFixed(1)} s: ${(rs.length / secs).toFixed(2)} seeds/s, ${(simulatedMs / 1000 / secs).toFixed(1)} simulated s per wall s`);
      t.deepEqual(
        rs.filter((r) => !r.ok).map((r) => r.seed),
        [],
        failuresOf(rs),
      );
    });
  }

  test.serial(`seeds ${first}-${last} exercise what they claim to`, (t) => {
    const n = results.length;
    t.is(n, Math.max(0, last - first + 1), `${n} seeds ran`);
    const total: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.stats)) total[k] = (total[k] ?? 0) + v;
    t.log(`${n} seeds: ${JSON.stringify(total)}`);
    t.true(total['client.ok']! > n * 200, 'clients complete operations');
    t.true(total.crashes! > n, 'nodes crash and restart');
    t.true(total.pauses! > 0, 'nodes pause');
    t.true(total.failStops! > 0, 'disk faults fail nodes, which say why');
    t.true(total.leaderChanges! > n * 2, 'leaders change');
    t.true(total.snapshotsDelivered! > 0, 'followers catch up through snapshots');
    t.true(total.unsyncedLost! > 0, 'crashes lose unsynced writes');
    // The log writes' safety rests on it: LevelDB gives outstanding batches no order (sim-disk.ts reorderRate).
    t.is(total.diskOverlappingBatches, 0, 'a node never has two database batches outstanding at once (but a background clear)');
    t.true(total['client.large']! > 0, 'values near the limits are written');
    t.true(total['watch.events']! > n * 100 && total['watch.resumes']! > 0, 'watchers see the changes and resume on other members');
    t.true(total['net.dropped']! > 0 && total['net.duplicated']! > 0 && total['net.reordered']! > 0, 'the network loses, doubles and reorders');
  });
}
