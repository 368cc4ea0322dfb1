// The whole-node simulation in npm test: full ConclaveNodes on simulated clocks, disks and
// network, under seeded faults; every history checked. `npm run sim:node -- --seeds N`
// runs more, `--seed N` replays one with its trace.
import test from 'ava';
import { runSeed, type SeedResult } from './schedule.js';

/** Seeds every run checks (the mutants' test counts on them), in groups that each finish well inside ava's timeout. */
const MIN_SEEDS = Number(process.env.CONCLAVE_SIM_NODE_SEEDS ?? 24);
const GROUP = 4;
/** Then more seeds while the budget lasts, up to the 300. Wall time decides only how many run. */
const MAX_SEEDS = Math.max(MIN_SEEDS, Number(process.env.CONCLAVE_SIM_NODE_MAX_SEEDS ?? 300));
const BUDGET_MS = Number(process.env.CONCLAVE_SIM_NODE_BUDGET_MS ?? 60_000);

const results: SeedResult[] = [];

function failuresOf(rs: readonly SeedResult[]): string {
  return rs
    .filter((r) => !r.ok)
    .slice(0, 3)
    .map((f) => `seed ${f.seed}:\n  ${f.violations.slice(0, 3).join('\n  ')}\n  replay: ${f.replay}`)
    .join('\n');
}

test.serial('one seed replays bit for bit: the same trace, history and digest', async (t) => {
  const a = await runSeed({ seed: 4242, chaosMs: 4000, keepTrace: true });
  const b = await runSeed({ seed: 4242, chaosMs: 4000, keepTrace: true });
  const c = await runSeed({ seed: 4243, chaosMs: 4000 });
  t.true(a.steps > 1000, `a busy run (${a.steps} events)`);
  t.deepEqual(a.trace, b.trace);
  t.deepEqual(a.history, b.history);
  t.is(a.digest, b.digest);
  t.not(a.digest, c.digest);
});

for (let first = 1; first <= MIN_SEEDS; first += GROUP) {
  const last = Math.min(MIN_SEEDS, first + GROUP - 1);
  test.serial(`seeds ${first}-${last}: linearizable, nothing acknowledged lost, every promise settles, failures say why`, async (t) => {
    const rs: SeedResult[] = [];
    for (let seed = first; seed <= last; seed++) rs.push(await runSeed({ seed }));
    results.push(...rs);
    t.deepEqual(
      rs.filter((r) => !r.ok).map((r) => r.seed),
      [],
      failuresOf(rs),
    );
  });
}

test.serial(`more seeds, up to ${MAX_SEEDS} in all, while ${BUDGET_MS / 1000} s last`, async (t) => {
  const t0 = performance.now();
  const rs: SeedResult[] = [];
  let simulatedMs = 0;
  // At least one: a budget spent before it starts still checks a seed.
  for (let seed = MIN_SEEDS + 1; seed <= MAX_SEEDS && (rs.length === 0 || performance.now() - t0 < BUDGET_MS); seed++) {
    const r = await runSeed({ seed });
    rs.push(r);
    simulatedMs += r.simulatedMs;
  }
  results.push(...rs);
  const secs = (performance.now() - t0) / 1000;
  t.log(`${rs.length} more seeds in ${secs.toFixed(1)} s: ${(rs.length / secs).toFixed(2)} seeds/s, ${(simulatedMs / 1000 / secs).toFixed(1)} simulated s per wall s`);
  t.deepEqual(
    rs.filter((r) => !r.ok).map((r) => r.seed),
    [],
    failuresOf(rs),
  );
});

test.serial('the seeds exercise what they claim to', (t) => {
  const n = results.length;
  t.true(n >= MIN_SEEDS, `${n} seeds ran`);
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
