// Proof that the whole-node simulation finds bugs (issue 13): each known driver defect,
// re-introduced by mutants.ts, must be caught within the seeds of sim-node.test.ts. A
// weakened simulation (a check dropped, a fault no longer injected) fails here.
import test from 'ava';
import { applyMutant, MUTANTS } from './mutants.js';
import { runSeed } from './schedule.js';
import { NPM_TEST_SEEDS } from './seed-suite.js';
import { WriteTracker } from '../../packages/conclave/src/write-tracker.js';

/** Each mutant must be caught within the first of npm test's seeds (seed-suite.ts runs 300): a bound that keeps this file short. */
const SEEDS = Math.min(NPM_TEST_SEEDS, Number(process.env.CONCLAVE_SIM_NODE_MUTANT_SEEDS ?? 24));

for (const m of MUTANTS) {
  test.serial(`mutant '${m}' is caught within ${SEEDS} seeds`, async (t) => {
    const undo = applyMutant(m);
    try {
      for (let seed = 1; seed <= SEEDS; seed++) {
        const r = await runSeed({ seed, ...(m === 'wall-clock-lease' ? { wallClockAsMonotonic: true } : {}) });
        if (!r.ok) {
          t.log(`caught at seed ${seed}: ${r.violations[0]!.split('\n')[0]}`);
          t.pass();
          return;
        }
      }
      t.fail(`the simulation did not catch '${m}' in ${SEEDS} seeds`);
    } finally {
      undo();
    }
  });
}

test.serial('a mutant patches the production method and its undo restores it', (t) => {
  const before = WriteTracker.prototype.onApplied;
  const undo = applyMutant('all-at-apply');
  t.not(WriteTracker.prototype.onApplied, before);
  undo();
  t.is(WriteTracker.prototype.onApplied, before);
});
