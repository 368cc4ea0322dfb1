// The core must stay pure (no I/O, timers, clock or ambient randomness): that is what makes
// thousands of deterministic failure schedules per second possible.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const SRC = new URL('../src/', import.meta.url).pathname;
const FORBIDDEN: [RegExp, string][] = [
  [/from\s+['"](node:)?(fs|net|http|https|child_process|dgram|worker_threads|timers|os|crypto|dns|tls|path)['"]/, 'a Node I/O module'],
  [/from\s+['"]@conclave\/(storage|transport|admin)|from\s+['"]conclave['"]/, 'a package above core'],
  [/\bDate\.now\b|\bnew Date\(/, 'the wall clock'],
  [/\bMath\.random\b/, 'ambient randomness'],
  [/\bset(Timeout|Interval|Immediate)\b|process\.(hrtime|nextTick|env)|performance\.now|\bawait\b|\bPromise\b/, 'timers, async work or the environment'],
  [/\bconsole\./, 'logging (the driver logs)'],
];

test('packages/core/src imports no I/O and uses no clock, timers or Math.random', (t) => {
  const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));
  t.true(files.length >= 8);
  for (const f of files) {
    const lines = readFileSync(join(SRC, f), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('*') || trimmed.startsWith('/*')) return; // doc comments may name what we avoid
      const code = line.replace(/\/\/.*$/, '');
      for (const [re, what] of FORBIDDEN) t.false(re.test(code), `${f}:${i + 1} uses ${what}: ${line.trim()}`);
    });
  }
});
