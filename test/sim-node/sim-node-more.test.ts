// The second half of npm test's whole-node simulation seeds (seed-suite.ts): a file of its
// own so that ava's two workers run the halves side by side.
import test from 'ava';
import { NPM_TEST_SEEDS, seedSuite } from './seed-suite.js';

seedSuite(test, Math.ceil(NPM_TEST_SEEDS / 2) + 1, NPM_TEST_SEEDS);
