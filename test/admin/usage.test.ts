// Bad arguments are usage errors (exit 2) with a message naming what is wrong, before anything
// is asked of a group; endpoints where nothing listens are "unreachable" (exit 3).
import test from 'ava';
import { freePorts } from '../cluster/harness.js';
import { jsonOf, runCli } from './run-cli.js';

test('bad arguments: exit 2 and a message naming the argument', async (t) => {
  const cases: [string[], RegExp][] = [
    [['override', 'set', '--endpoint', '127.0.0.1:1'], /missing required argument 'n'/],
    [['dashboard', '--interval-ms', '5', '--endpoint', '127.0.0.1:1'], /--interval-ms must be an integer from 100 to 60000, got '5'/],
    [['election', 'status', '--endpoint', 'nowhere'], /endpoint 'nowhere' is not HOST:PORT/],
    [['election', 'status', '--endpoint', '127.0.0.1:1', '--timeout', 'soon'], /--timeout must be an integer from 1 to 600000, got 'soon'/],
    [['election', 'vote', '--endpoint', '127.0.0.1:1'], /unknown command 'vote'/],
    [['election', 'debug', '--endpoint', '127.0.0.1:1', '--humane'], /unknown option '--humane'/],
    [['group', 'remove-member', 'n 1', '--endpoint', '127.0.0.1:1'], /ID 'n 1' must be 1-64 characters of \[A-Za-z0-9_.-\]/],
    [['group', 'add-member', 'n4', 'localhost', '--endpoint', '127.0.0.1:1'], /ADDRESS 'localhost' is not HOST:PORT/],
    [['group', 'transfer-leader', '--endpoint', '127.0.0.1:1'], /missing required argument 'ids'/],
    [['override', 'clear', '--node', '', '--endpoint', '127.0.0.1:1'], /--node '' must be 1-64 characters/],
    [['override', 'set', '2', '--endpoint', '127.0.0.1:1', '--secret-file', '/nonexistent/secret'], /cannot read --secret-file '\/nonexistent\/secret'/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runCli(args)));
  runs.forEach((r, i) => {
    t.is(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, cases[i]![1]);
  });
});

test('nothing listening: election status prints code 2 per endpoint and exits 3; the other commands exit 3', async (t) => {
  const [a, b] = await freePorts(2);
  const endpoints = ['--endpoint', `127.0.0.1:${a}`, '--endpoint', `127.0.0.1:${b}`];
  const [status, text, show, set, leave, put] = await Promise.all([
    runCli(['election', 'status', ...endpoints, '--json']),
    runCli(['election', 'status', ...endpoints]),
    runCli(['group', 'show', ...endpoints, '--json']),
    runCli(['override', 'set', '2', ...endpoints]),
    runCli(['election', 'leave', ...endpoints]),
    runCli(['put', 'k', 'v', ...endpoints]),
  ]);
  t.is(status.code, 3);
  const j = jsonOf<{ members: { id: string; status: number; message: string }[]; verdict: { leader: null; text: string } }>(status);
  t.deepEqual(j.members.map((m) => [m.id, m.status, m.message]), [
    [`127.0.0.1:${a}`, 2, `127.0.0.1:${a}: connection refused`],
    [`127.0.0.1:${b}`, 2, `127.0.0.1:${b}: connection refused`],
  ]);
  t.is(j.verdict.text, 'verdict: no member answered');
  t.regex(text.stdout, /\| 127\.0\.0\.1:\d+ \| +2 \| 127\.0\.0\.1:\d+: connection refused \|/);
  for (const r of [show, set, leave, put]) {
    t.is(r.code, 3, `${r.args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /no endpoint answered: 127\.0\.0\.1:\d+ \(connection refused by 127\.0\.0\.1:\d+\).*\[NO_ENDPOINT\]/);
  }
  t.like(jsonOf(show), { ok: false, error: { code: 'NO_ENDPOINT' } });
});

test('issue 21 item 8: a usage error under --json prints one JSON line with code USAGE', async (t) => {
  const cases = [
    ['election', 'status', '--endpoint', '127.0.0.1:1', '--bogus', '--json'],
    ['group', 'show', '--endpoint', '127.0.0.1:1', '--no-such-flag', '--json'],
    ['election', 'vote', '--endpoint', '127.0.0.1:1', '--json'],
  ];
  const runs = await Promise.all(cases.map((args) => runCli(args)));
  for (const r of runs) {
    t.is(r.code, 2, r.args.join(' '));
    const j = jsonOf<{ ok: boolean; error: { code: string; message: string } }>(r);
    t.like(j, { ok: false, error: { code: 'USAGE' } });
    t.true(j.error.message.length > 0);
  }
  t.regex(jsonOf<{ error: { message: string } }>(runs[0]!).error.message, /unknown option '--bogus'/);
});

test('issue 21 item 8: a reader that goes away (| head -1) ends the command quietly, without an EPIPE stack trace', async (t) => {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const cli = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
  const [port] = await freePorts(1);
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), cli, 'election', 'status', '--endpoint', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // Our end of its stdout is closed before it writes, as `head -1` does after its line.
  child.stdout.destroy();
  // Only stops a hang: starting the CLI under tsx takes many seconds on a loaded machine.
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  t.notRegex(stderr, /EPIPE|Error|    at /, stderr);
  t.true(code === 3 || code === 0, `exit ${String(code)}`);
});
