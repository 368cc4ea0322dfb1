// Process lifetime (issue 18): a ConclaveLevel group of one is a local database and, like
// classic-level, does not keep the process alive by itself, while calls in progress still
// complete; a member with peers serves them until it is closed.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConclaveLevel } from '../src/index.js';
import { freePorts, quietLogger, tempDir, waitFor } from './helpers.js';

const CHILD = fileURLToPath(new URL('./level/lifetime-child.ts', import.meta.url));
/** Generous: a loaded 2-core machine starts tsx slowly. */
const EXIT_DEADLINE_MS = 60_000;

function start(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--conditions=conclave-source', '--import=tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

test('a group of one lets its process exit once nothing is pending, after its writes in flight complete', async (t) => {
  t.timeout(EXIT_DEADLINE_MS + 30_000);
  const dir = tempDir('level-lifetime');
  try {
    const location = join(dir.path, 'db');
    const run = start(['alone', location]);
    const timer = setTimeout(() => run.child.kill('SIGKILL'), EXIT_DEADLINE_MS);
    const code = await run.exited;
    clearTimeout(timer);
    t.is(code, 0, `the process exited by itself (${code === null ? 'killed at the deadline' : `code ${code}`}):\n${run.output()}`);
    t.regex(run.output(), /first written\nlast written/);
    const db = new ConclaveLevel(location, { conclave: { logger: quietLogger } });
    t.is(await db.get('last'), 'b', 'the write in flight at the end is durable');
    await db.close();
  } finally {
    dir.remove();
  }
});

test('a member with peers keeps its process running until closed', async (t) => {
  t.timeout(EXIT_DEADLINE_MS + 30_000);
  const dir = tempDir('level-lifetime-member');
  const [port, port2] = await freePorts(2);
  const run = start(['member', join(dir.path, 'n1'), String(port), String(port2)]);
  try {
    await waitFor(() => run.output().includes('member open') || run.child.exitCode !== null, EXIT_DEADLINE_MS, 'the member to open');
    t.true(run.output().includes('member open'), run.output());
    // Nothing else is pending in the child: only the member holds its process. (A wait, not
    // a timing assertion: a process that should exit would have exited by then.)
    const early = await Promise.race([run.exited.then(() => 'exited'), new Promise((resolve) => setTimeout(() => resolve('running'), 1500))]);
    t.is(early, 'running', run.output());
  } finally {
    run.child.kill('SIGKILL');
    await run.exited;
    dir.remove();
  }
});
