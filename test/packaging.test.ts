// conclave as an application outside the repository gets it: every workspace packed, the
// tarballs installed with `npm install` into a fresh project under the system temp folder
// (their dependencies from the registry as usual), then the README's embedding example under
// plain `node` (no tsx, no loader, no source condition), the `conclave` bin from that
// project's node_modules/.bin, and a strict TypeScript consumer checked against the shipped
// .d.ts files.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts, waitFor } from '../packages/conclave/test/helpers.js';
import { buildPackages, checkPacked, installApp, packWorkspaces, plainNodeEnv, REPO_ROOT, repoVersion, type PackedPackage } from '../scripts/pack.js';

const run = promisify(execFile);
const SETUP_TIMEOUT_MS = 10 * 60_000;
const STEP_TIMEOUT_MS = 2 * 60_000;
const OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024;

const root = mkdtempSync(join(tmpdir(), 'conclave-packaging-'));
const app = join(root, 'app');
const env = plainNodeEnv(process.env);
let packed: PackedPackage[] = [];

function codeBlockAfter(heading: string): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README has no section '${heading}'`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`no ts code block after '${heading}'`);
  return m[1]!;
}

/** The README's embedding example on free ports (its fixed ones could be taken by another test). */
async function embeddingExample(): Promise<string> {
  const code = codeBlockAfter('## Embedding');
  const fixed = [...new Set([...code.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!))];
  if (fixed.length !== 3) throw new Error(`expected the example to name 3 ports, found ${fixed.join(', ')}`);
  const ports = await freePorts(fixed.length);
  return fixed.reduce((c, port, i) => c.replaceAll(`127.0.0.1:${port}`, `127.0.0.1:${ports[i]!}`), code);
}

function plainNode(args: readonly string[], timeoutMs = STEP_TIMEOUT_MS) {
  return run(process.execPath, [...args], { cwd: app, env, timeout: timeoutMs, maxBuffer: OUTPUT_LIMIT_BYTES });
}

/** The installed bin, run as a user's shell would (its shebang picks node from PATH). */
async function conclave(args: readonly string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(join(app, 'node_modules/.bin/conclave'), [...args], { cwd: app, env, timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; killed?: boolean };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test.before(async (t) => {
  t.timeout(SETUP_TIMEOUT_MS);
  // The dist/ that gets packed is built from the current src/ here, never a stale one.
  await buildPackages();
  const tarballs = join(root, 'tarballs');
  mkdirSync(tarballs);
  packed = await packWorkspaces(tarballs);
  // The TypeScript consumer's tools, at the repository's versions (so from npm's cache when it has them).
  await installApp(app, packed, [`typescript@${repoVersion('typescript')}`, `@types/node@${repoVersion('@types/node')}`]);
});

test.after.always(() => {
  rmSync(root, { recursive: true, force: true });
});

test.serial('every workspace packs into a complete tarball', (t) => {
  t.deepEqual(packed.map((p) => p.name).sort(), ['@conclave/admin', '@conclave/core', '@conclave/storage', '@conclave/transport', 'conclave']);
  t.deepEqual(checkPacked(packed), []);
  for (const p of packed) t.false(p.files.some((f) => f.path.startsWith('src/')), `${p.name} ships src/`);
});

test.serial('the installed application has no TypeScript runtime: no tsx, no src/ in any conclave package', (t) => {
  t.false(existsSync(join(app, 'node_modules/tsx')), 'tsx was installed as a dependency');
  for (const dir of ['conclave', '@conclave/core', '@conclave/storage', '@conclave/transport', '@conclave/admin']) {
    t.true(existsSync(join(app, 'node_modules', dir, 'dist/index.js')), `${dir} has no dist/index.js`);
    t.false(existsSync(join(app, 'node_modules', dir, 'src')), `${dir} ships src/`);
  }
});

test.serial('every package imports under plain node', async (t) => {
  t.timeout(STEP_TIMEOUT_MS);
  const names = ['@conclave/core', '@conclave/storage', '@conclave/transport', 'conclave', '@conclave/admin'];
  const probe = names.map((n) => `console.log(${JSON.stringify(n)}, Object.keys(await import(${JSON.stringify(n)})).length, import.meta.resolve(${JSON.stringify(n)}));`).join('\n');
  writeFileSync(join(app, 'imports.mjs'), probe);
  const { stdout } = await plainNode(['imports.mjs']);
  const lines = stdout.trim().split('\n');
  t.is(lines.length, names.length);
  for (const [i, name] of names.entries()) {
    const [got, count, url] = lines[i]!.split(' ');
    t.is(got, name);
    t.true(Number(count) > 0, `${name} exports nothing`);
    t.true(url!.startsWith(`file://${app}/node_modules/`) && url!.endsWith('/dist/index.js'), `${name} resolved to ${url}`);
  }
});

test.serial("the README's embedding example runs as app.mjs under plain node", async (t) => {
  t.timeout(STEP_TIMEOUT_MS);
  writeFileSync(join(app, 'app.mjs'), await embeddingExample());
  const { stdout } = await plainNode(['app.mjs']);
  const lines = stdout.split('\n').filter((l) => !l.startsWith('[conclave'));
  t.deepEqual(lines.slice(0, 6), ["{ name: 'Ada' }", "{ name: 'Ada' }", 'true', 'user:1', 'user:2', 'ABORTED']);
});

test.serial('the installed conclave bin: --help, node start, then put and get through it', async (t) => {
  t.timeout(STEP_TIMEOUT_MS);
  const help = await conclave(['--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: conclave /m);
  t.regex(help.stdout, /cluster/);

  const [port] = await freePorts(1);
  const address = `127.0.0.1:${port!}`;
  const node = spawn(join(app, 'node_modules/.bin/conclave'), ['node', 'start', '--id', 'n1', '--data', join(app, 'data/n1'), '--listen', address, '--peers', `n1=${address}`, '--tick-ms', '50'], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  node.stdout.on('data', (d: Buffer) => (output += d.toString()));
  node.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => node.once('exit', (code) => resolve(code)));
  try {
    // Exit 3 while nothing listens, 1 while there is no leader yet; 0 once the write is committed.
    const put = await waitFor(async () => {
      if (node.exitCode !== null) throw new Error(`the node exited (${node.exitCode}): ${output}`);
      const r = await conclave(['put', 'greeting', 'hello', '--endpoint', address, '--timeout', '2000']);
      return r.code === 0 ? r : null;
    }, 60_000, 'conclave put to succeed against the started node');
    t.regex(put.stdout, /^OK/);
    const get = await conclave(['get', 'greeting', '--endpoint', address]);
    t.is(get.code, 0, get.stderr);
    t.is(get.stdout.trim(), 'hello');
    const missing = await conclave(['get', 'nobody', '--endpoint', address]);
    t.is(missing.code, 1);
  } finally {
    node.kill('SIGTERM');
    const killer = setTimeout(() => node.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(killer);
    t.is(code, 0, `node start did not stop cleanly on SIGTERM: ${output}`);
  }
});

test.serial('a strict TypeScript consumer (moduleResolution node16) type-checks against the shipped .d.ts', async (t) => {
  t.timeout(STEP_TIMEOUT_MS);
  const dir = join(app, 'ts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'es2022', noEmit: true, skipLibCheck: false, types: ['node'] },
      include: ['*.ts'],
    }),
  );
  writeFileSync(join(dir, 'readme-example.ts'), await embeddingExample());
  writeFileSync(
    join(dir, 'consumer.ts'),
    `import { openNode, ConclaveNode, ConclaveError, NotLeaderError, InsufficientReplicasError, InvalidArgumentError, WriteOutcomeUnknownError, type OpenNodeOptions, type CommitToken, type NodeStatus } from 'conclave';
import { AdminClient, NoEndpointError } from '@conclave/admin';

export async function roundTrip(options: OpenNodeOptions): Promise<string> {
  const node: ConclaveNode = await openNode(options);
  try {
    const { token }: { token: CommitToken } = await node.put('k', { v: 1 }, { durability: { replicaAck: 'all', ackTimeoutMs: 1000 } });
    const value: unknown = await node.get('k', { consistency: { atLeast: token } });
    const cas = await node.compareAndSet('k', { v: 1 }, { v: 2 });
    const succeeded: boolean = cas.succeeded;
    const status: NodeStatus = node.status();
    return JSON.stringify({ value, succeeded, term: status.term, index: token.index });
  } catch (err) {
    if (err instanceof NotLeaderError) return err.leaderHint ?? 'no leader known';
    if (err instanceof InsufficientReplicasError || err instanceof WriteOutcomeUnknownError) return err.code;
    if (err instanceof InvalidArgumentError) return err.message;
    if (err instanceof ConclaveError) return err.code;
    throw err;
  } finally {
    await node.close();
  }
}

export async function adminGet(endpoint: string): Promise<boolean> {
  const admin = new AdminClient({ endpoints: [endpoint], timeoutMs: 1000 });
  try {
    const { found } = await admin.get('k');
    return found;
  } catch (err) {
    if (err instanceof NoEndpointError) return false;
    throw err;
  } finally {
    await admin.close();
  }
}
`,
  );
  // The declarations are real types, not any: each misuse below must be an error.
  writeFileSync(
    join(dir, 'misuse.ts'),
    `import { openNode } from 'conclave';
import { AdminClient } from '@conclave/admin';

export async function misuse(): Promise<void> {
  // @ts-expect-error: id is required
  await openNode({ dataDir: 'd', listen: '127.0.0.1:1' });
  const node = await openNode({ id: 'n1', dataDir: 'd', listen: '127.0.0.1:1' });
  // @ts-expect-error: keys are strings
  await node.put(42, 'v');
  // @ts-expect-error: not a consistency policy
  await node.get('k', { consistency: 'eventual' });
  // @ts-expect-error: endpoints is required
  new AdminClient({ timeoutMs: 1 });
}
`,
  );
  const tsc = join(app, 'node_modules/typescript/bin/tsc');
  try {
    await plainNode([tsc, '-p', dir]);
    t.pass();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    t.fail(`tsc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
});
