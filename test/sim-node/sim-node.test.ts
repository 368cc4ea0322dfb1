// The whole-node simulation in npm test: full ConclaveNodes on simulated clocks, disks and
// network, under seeded faults; every history checked. The first half of npm test's seeds
// (seed-suite.ts); sim-node-more.test.ts runs the second. `npm run sim:node -- --seeds N`
// runs more, `--seed N` replays one with its trace.
import test from 'ava';
import { runSeed } from './schedule.js';
import { NPM_TEST_SEEDS, seedSuite } from './seed-suite.js';

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

seedSuite(test, 1, Math.ceil(NPM_TEST_SEEDS / 2));
