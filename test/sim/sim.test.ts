// Random failure schedules through the pure core: 500 seeds (250 of 3 nodes, 250 of 5),
// with crashes, partitions, loss, duplication, reordering, leader transfers and membership
// changes, every invariant checked after every event. `npm run sim -- --seeds 10000` soaks.
import test from 'ava';
import { runSeed, type SeedResult } from './schedule.js';

const SEEDS_PER_SIZE = Number(process.env.CONCLAVE_SIM_SEEDS ?? 250);

for (const nodes of [3, 5]) {
  test(`${SEEDS_PER_SIZE} random schedules of ${nodes} nodes keep every safety invariant and heal`, (t) => {
    const failures: SeedResult[] = [];
    const total = { steps: 0, committed: 0, crashes: 0, snapshotsInstalled: 0, confChangesApplied: 0, leaderTransfers: 0, elections: 0 };
    for (let i = 0; i < SEEDS_PER_SIZE; i++) {
      const res = runSeed({ seed: nodes * 100_000 + i, nodes });
      if (!res.ok) failures.push(res);
      total.steps += res.steps;
      total.committed += res.committed;
      for (const k of Object.keys(res.stats) as (keyof SeedResult['stats'])[]) total[k] += res.stats[k];
    }
    const report = failures
      .slice(0, 5)
      .map((f) => `seed ${f.seed}: ${f.violations.map((v) => `[${v.kind}] ${v.message}`).join('; ')}\n  replay: ${f.replay}`)
      .join('\n');
    t.is(failures.length, 0, report);
    t.log(`${nodes} nodes: ${JSON.stringify(total)}`);
    // The schedules must really exercise what they claim to.
    t.true(total.committed > SEEDS_PER_SIZE * 20, 'writes commit');
    t.true(total.crashes > SEEDS_PER_SIZE, 'nodes crash and restart');
    t.true(total.elections > SEEDS_PER_SIZE * 2, 'leaders change');
    t.true(total.leaderTransfers > 0, 'leadership is transferred');
    t.true(total.confChangesApplied > 0, 'membership changes apply');
    t.true(total.snapshotsInstalled > 0, 'followers catch up through snapshots');
  });
}
