// The `conclave` CLI given malformed arguments: exit code 2 (usage) with a message naming
// what was wrong, never a stack trace; a damaged data directory: exit 1 naming it; and
// random argument vectors: a documented exit code, no stack trace, within a deadline.
import test from 'ava';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../cluster/harness.js';

const CLI = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
// Only stops a hang: each run starts the CLI under tsx, which a loaded machine stretches far
// past its usual second or two (issue 11, item 16).
const DEADLINE_MS = 90_000;
/** A stack frame, or Node's own report of an uncaught error. */
const STACK = /^\s+at .+[:(]|node:internal|Uncaught|UnhandledPromiseRejection/m;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI. A command without --endpoint talks to $CONCLAVE_ENDPOINTS, else 127.0.0.1:7001
 * (where a developer's `npm start` group may run): here it is port 1 on loopback, never open.
 */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONCLAVE_ENDPOINTS: '127.0.0.1:1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout = (stdout + b.toString()).slice(-20_000)));
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`conclave ${args.join(' ')} did not exit within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    // 'close', not 'exit': the output may still be unread when the process has exited.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `items` through `fn`, `limit` at a time (the machine has two cores). */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const root = mkdtempSync(join(tmpdir(), 'conclave-cli-args-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));

test('malformed arguments exit 2 with a message naming the argument, never a stack trace', async (t) => {
  const [closedPort] = await freePorts(1);
  const ep = `127.0.0.1:${closedPort}`;
  const data = join(root, 'unused');
  const shortSecret = join(root, 'short-secret');
  writeFileSync(shortSecret, 'tooshort\n');
  const start = (...extra: string[]) => ['node', 'start', '--id', 'n1', '--data', data, '--listen', '127.0.0.1:7001', '--peers', 'n1=127.0.0.1:7001', ...extra];
  const cases: [string[], RegExp][] = [
    [['bogus'], /unknown command 'bogus'/],
    [['node', 'start', '--id', 'n1'], /required option '--data/],
    [['node', 'start', '--id', 'n1', '--data', data], /required option '--listen/],
    [['node', 'start', '--id', 'n1', '--data', data, '--listen', 'nohost'], /listen 'nohost' is not HOST:PORT/],
    [['node', 'start', '--id', 'n1', '--data', data, '--listen', '127.0.0.1:99999'], /port from 0 to 65535/],
    [['node', 'start', '--id', 'bad id!', '--data', data, '--listen', '127.0.0.1:7001', '--peers', 'bad id!=127.0.0.1:7001'], /bad id!/],
    [start('--tick-ms', 'abc'), /--tick-ms must be an integer/],
    [start('--tick-ms', '-5'), /--tick-ms must be an integer/],
    [start('--election-ticks', '1'), /--election-ticks must be an integer from 2/],
    [start('--sync-policy', 'sometimes'), /--sync-policy must be sync, writeNoSync or noSync/],
    [start('--override', '-1'), /--override must be an integer/],
    [start('--snapshot-interval', '1e3'), /--snapshot-interval must be an integer/],
    [start('--secret-file', join(root, 'no-such-file')), /cannot read --secret-file/],
    [start('--secret-file', shortSecret), /at least 16 characters/],
    [start('--join', '127.0.0.1:7002'), /either peers .* or join/],
    [start('--no-such-flag'), /unknown option '--no-such-flag'/],
    [['node', 'start', '--id', 'n1', '--data', data, '--listen', '127.0.0.1:7001', '--peers', 'garbage'], /--peers entry 'garbage' is not ID=HOST:PORT/],
    [['node', 'start', '--id', 'n1', '--data', data, '--listen', '127.0.0.1:7001', '--peers', 'n1=127.0.0.1:7001,n1=127.0.0.1:7002'], /names n1 twice/],
    [['node', 'start', '--id', 'n1', '--data', data, '--listen', '127.0.0.1:7001', '--peers', 'n2=127.0.0.1:7002'], /'n1' is missing from peers/],
    [['put', 'k', '--endpoint', ep], /missing required argument 'value'/],
    [start('--log-format', 'xml'), /--log-format must be pretty or json, got 'xml'/],
    [start('--log-level', 'loud'), /--log-level must be one of/],
    [['dashboard', '--host', '0.0.0.0'], /--host must be a loopback address/],
    [['dashboard', '--port', '70000'], /--port must be an integer/],
    [['put', 'k', 'v', '--endpoint', 'not-an-address'], /endpoint 'not-an-address' is not HOST:PORT/],
    [['put', 'k', '{', '--json-value', '--endpoint', ep], /not valid JSON/],
    [['get', 'k', '--endpoint', ep, '--consistency', 'eventually'], /--consistency must be/],
    [['get', 'k', '--endpoint', ep, '--timeout', '0'], /--timeout must be an integer/],
    [['get', 'k', '--endpoint', ep, '--timeout', 'soon'], /--timeout must be an integer/],
    [['del', '--endpoint', ep], /missing required argument 'key'/],
    [['group', 'remove-member', '--endpoint', ep], /missing required argument 'id'/],
    [['group', 'transfer-leader', '--endpoint', ep], /missing required argument 'ids'/],
    [['group', 'bogus'], /unknown command 'bogus'/],
    [['override', 'set', '--endpoint', ep], /missing required argument 'n'/],
    [['override', 'set', 'x', '--endpoint', ep], /N must be an integer/],
    [['election', 'bogus'], /unknown command 'bogus'/],
  ];
  await pool(cases, 3, async ([args, message]) => {
    const r = await cli(args);
    const what = `conclave ${args.join(' ')}`;
    t.is(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
    t.regex(r.stderr, message, what);
    t.notRegex(r.stderr + r.stdout, STACK, `${what} printed a stack trace`);
  });
  t.log(`${cases.length} malformed invocations`);
});

test('a damaged or foreign data directory: exit 1 naming the directory; an unreachable endpoint: exit 3', async (t) => {
  const [port, closedPort] = await freePorts(2);
  const file = join(root, 'a-file');
  writeFileSync(file, 'not a directory');
  const foreign = join(root, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'precious');
  const damaged = join(root, 'damaged');
  mkdirSync(damaged);
  writeFileSync(join(damaged, 'CURRENT'), 'MANIFEST-0000\n'); // a LevelDB whose manifest is gone
  const node = (dir: string) => ['node', 'start', '--id', 'n1', '--data', dir, '--listen', `127.0.0.1:${port}`, '--peers', `n1=127.0.0.1:${port}`];
  for (const [dir, message] of [
    [file, /not a directory/],
    [foreign, /not a conclave data directory .*notes\.txt/],
    [damaged, /STORAGE_(IO|CORRUPT)/],
  ] as const) {
    const r = await cli(node(dir));
    t.is(r.code, 1, r.stderr);
    t.true(r.stderr.includes(dir), r.stderr);
    t.regex(r.stderr, message);
    t.notRegex(r.stderr + r.stdout, STACK);
  }
  const r = await cli(['get', 'k', '--endpoint', `127.0.0.1:${closedPort}`]);
  t.is(r.code, 3, r.stderr);
  t.regex(r.stderr, /no endpoint answered|refused/i);
  t.notRegex(r.stderr, STACK);
  // No --endpoint: $CONCLAVE_ENDPOINTS is the one asked, and a bad entry in it is a usage error naming it.
  const fromEnv = await cli(['get', 'k'], { CONCLAVE_ENDPOINTS: `127.0.0.1:${closedPort}` });
  t.is(fromEnv.code, 3, fromEnv.stderr);
  t.true(fromEnv.stderr.includes(`127.0.0.1:${closedPort}`), fromEnv.stderr);
  const badEnv = await cli(['get', 'k'], { CONCLAVE_ENDPOINTS: '127.0.0.1:7001,nohost' });
  t.is(badEnv.code, 2, badEnv.stderr);
  t.regex(badEnv.stderr, /CONCLAVE_ENDPOINTS entry 'nohost' is not HOST:PORT/);
});

test('random argument vectors: a documented exit code, no stack trace, within the deadline', async (t) => {
  const [closedPort] = await freePorts(1);
  const ep = `127.0.0.1:${closedPort}`;
  // Commands that can only fail or reach the closed endpoint: never one that would start a node.
  const commands = [['put'], ['get'], ['del'], ['group', 'show'], ['group', 'remove-member'], ['group', 'transfer-leader'], ['override', 'show'], ['override', 'set'], ['election', 'status'], ['election', 'debug'], ['election', 'leave'], ['election', 'ping']];
  const token = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('--endpoint', '--timeout', '--json', '--consistency', '--secret-file', '--json-value', '--force', '--node', '-x', '--', '-', '--endpoint=', '='),
    fc.constantFrom(ep, '127.0.0.1:0', '[::1]:x', '999999', '-1', '0', 'NaN', '{"a":', '\u0000', '\u202e', 'ünï', ' '.repeat(3)),
    fc.integer().map(String),
  );
  const argv = fc.tuple(fc.constantFrom(...commands), fc.array(token, { maxLength: 6 }), fc.boolean()).map(([c, rest, withEndpoint]) => [...c, ...rest, ...(withEndpoint ? ['--endpoint', ep] : [])]);
  const samples = fc.sample(argv, { seed: 2718, numRuns: 30 });
  const codes = new Map<number | null, number>();
  await pool(samples, 3, async (args) => {
    const r = await cli(args.map((a) => a.replace(/\u0000/g, '')));
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    const what = `conclave ${JSON.stringify(args)}`;
    t.true([0, 1, 2, 3].includes(r.code ?? -1), `${what}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr}`);
    t.notRegex(r.stderr + r.stdout, STACK, `${what} printed a stack trace:\n${r.stderr}`);
    if (r.code !== 0) t.true(r.stderr.trim().length > 0, `${what}: failed without saying why`);
  });
  t.log(`exit codes: ${JSON.stringify(Object.fromEntries(codes))}`);
});
