// The README's code examples run exactly as written, and print what they say they print.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const TSX = import.meta.resolve('tsx');

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
    const out = execFileSync(process.execPath, ['--import', TSX, file], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    t.regex(out, /^leader \[ 'hello' \]$/m);
    t.regex(out, /'CANDIDATE:VOTE_QUORUM:LEADER',\s+'PRE_CANDIDATE:PREVOTE_GRANTED:CANDIDATE'/);
  } finally {
    rmSync(file, { force: true });
  }
});

test('the embedding example runs as written and prints what its comments say', (t) => {
  const code = codeBlockAfter('## Embedding');
  const file = join(ROOT, 'test', `.readme-embedding-${process.pid}.ts`);
  const cwd = mkdtempSync(join(tmpdir(), 'conclave-readme-'));
  writeFileSync(file, code);
  try {
    // The example writes ./data/example under its working directory: a fresh temp one.
    const out = execFileSync(process.execPath, ['--import', TSX, file], { cwd, encoding: 'utf8', timeout: 60_000 });
    const lines = out.split('\n').filter((l) => !l.startsWith('[conclave'));
    t.deepEqual(lines.slice(0, 6), ["{ name: 'Ada' }", "{ name: 'Ada' }", 'true', 'user:1', 'user:2', 'ABORTED']);
  } finally {
    rmSync(file, { force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('the revisions, transactions and watch example runs as written', (t) => {
  const code = codeBlockAfter('### Revisions, transactions and watch');
  const file = join(ROOT, 'test', `.readme-revisions-${process.pid}.ts`);
  const cwd = mkdtempSync(join(tmpdir(), 'conclave-readme-revisions-'));
  writeFileSync(file, code);
  try {
    const out = execFileSync(process.execPath, ['--import', TSX, file], { cwd, encoding: 'utf8', timeout: 60_000 });
    const lines = out.split('\n').filter((l) => !l.startsWith('[conclave'));
    t.deepEqual(lines.slice(0, 3), ['1 true', 'true', 'put orders/1 apple true']);
  } finally {
    rmSync(file, { force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('the README gives the two commands', (t) => {
  t.true(README.includes('npm install && npm start'));
  t.true(README.includes('npm install && npm test'));
});

test('the ConclaveLevel example (a classic-level app switched, a sublevel on a group) runs as written', async (t) => {
  t.timeout(90_000);
  const { freePorts } = await import('../packages/conclave/test/helpers.js');
  let code = codeBlockAfter('### ConclaveLevel');
  // Its fixed ports could be taken by another test: free ones instead.
  const fixed = [...new Set([...code.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!))];
  t.is(fixed.length, 3);
  const ports = await freePorts(3);
  code = fixed.reduce((c, port, i) => c.replaceAll(`127.0.0.1:${port}`, `127.0.0.1:${ports[i]!}`), code);
  const file = join(ROOT, 'test', `.readme-level-${process.pid}.ts`);
  const cwd = mkdtempSync(join(tmpdir(), 'conclave-readme-level-'));
  writeFileSync(file, code);
  try {
    const out = execFileSync(process.execPath, ['--import', TSX, file], { cwd, encoding: 'utf8', timeout: 60_000 });
    const lines = out.split('\n').filter((l) => !l.startsWith('[conclave'));
    t.deepEqual(lines.slice(0, 3), ["[ 'user:1', 'user:2' ]", "{ name: 'Ada' }", "{ name: 'Ada' }"]);
  } finally {
    rmSync(file, { force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('the leases, locks and elections example runs as written and prints what its comments say', async (t) => {
  t.timeout(90_000);
  const { freePorts } = await import('../packages/conclave/test/helpers.js');
  const [port] = await freePorts(1);
  const code = codeBlockAfter('### Leases, locks and elections').replaceAll('127.0.0.1:7201', `127.0.0.1:${port!}`);
  const file = join(ROOT, 'test', `.readme-locks-${process.pid}.ts`);
  const cwd = mkdtempSync(join(tmpdir(), 'conclave-readme-locks-'));
  writeFileSync(file, code);
  try {
    const out = execFileSync(process.execPath, ['--import', TSX, file], { cwd, encoding: 'utf8', timeout: 60_000 });
    const lines = out.split('\n').filter((l) => !l.startsWith('[conclave') && !l.startsWith('{'));
    t.deepEqual(lines.slice(0, 5), ["[ [ 'workers/w1' ] ]", 'undefined', 'true', 'true', 'scheduler-on-host-a']);
  } finally {
    rmSync(file, { force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
});
