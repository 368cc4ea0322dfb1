// The README's code examples run exactly as written, and print what they say they print.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function codeBlockAfter(heading: string): string {
  const at = README.indexOf(heading);
  if (at < 0) throw new Error(`README has no section '${heading}'`);
  const m = /```ts\n([\s\S]*?)```/.exec(README.slice(at));
  if (!m) throw new Error(`no ts code block after '${heading}'`);
  return m[1]!;
}

test("the core's API example runs and prints what its comments say", (t) => {
  const code = codeBlockAfter('### The core\'s API');
  // Inside the repo so that '@conclave/core' resolves through the workspace.
  const file = join(ROOT, 'test', `.readme-example-${process.pid}.ts`);
  writeFileSync(file, code);
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    t.regex(out, /^leader \[ 'hello' \]$/m);
    t.regex(out, /'CANDIDATE:VOTE_QUORUM:LEADER',\s+'PRE_CANDIDATE:PREVOTE_GRANTED:CANDIDATE'/);
  } finally {
    rmSync(file, { force: true });
  }
});

test('the README gives the two commands', (t) => {
  t.true(README.includes('npm install && npm start'));
  t.true(README.includes('npm install && npm test'));
});
