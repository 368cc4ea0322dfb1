// `npm run bench -- <suite> [options]`: runs bench/<suite>.ts in this process.
// Never run two benchmarks at once on this 2-core machine: the suites take a file lock.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const [suite, ...rest] = process.argv.slice(2).filter((a) => a !== '--');
if (!suite || suite.startsWith('-') || !suites.includes(suite)) {
  const what = suite ? `unknown benchmark suite '${suite}'` : 'no benchmark suite named';
  console.error(`${what}; available: ${suites.join(', ') || '(none yet)'}`);
  console.error('usage: npm run bench -- <suite> [options]');
  process.exit(2);
}
process.argv = [process.argv[0]!, join(here, `${suite}.ts`), ...rest];
await import(pathToFileURL(join(here, `${suite}.ts`)).href);
