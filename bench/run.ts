// `npm run bench -- <suite> [options]`: runs bench/<suite>.ts in this process; with no
// suite, the commit-ack benchmark.
// Never run two benchmarks at once on this 2-core machine: the suites take a file lock.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

/** `npm run bench` with no suite (or only options) runs the full commit-ack benchmark. */
const DEFAULT_SUITE = 'commit-ack';
const given = process.argv.slice(2).filter((a) => a !== '--');
const [suite, ...rest] = given.length === 0 || given[0]!.startsWith('-') ? [DEFAULT_SUITE, ...given] : given;
if (!suites.includes(suite!)) {
  const what = `unknown benchmark suite '${suite}'`;
  console.error(`${what}; available: ${suites.join(', ') || '(none yet)'}`);
  console.error('usage: npm run bench [-- [<suite>] [options]]   (no suite: commit-ack)');
  process.exit(2);
}
process.argv = [process.argv[0]!, join(here, `${suite}.ts`), ...rest];
await import(pathToFileURL(join(here, `${suite}.ts`)).href);
