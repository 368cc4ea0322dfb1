// Watch and txn over the admin endpoint: AdminClient.watch pulls batches from a member and,
// when that member closes, resumes on the next endpoint from the revision after the last
// batch (no gap, no repeat); `conclave watch` prints one line per change; `conclave txn`
// runs a JSON transaction from a file.
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../../packages/admin/src/index.js';
import { startGroup, tempDir, within } from '../../packages/conclave/test/helpers.js';
import { jsonOf, runCli } from './run-cli.js';

test('AdminClient.watch resumes on another member from the last revision when its member closes; txn through the admin endpoint', async (t) => {
  t.timeout(180_000);
  const g = await startGroup(3);
  t.teardown(() => g.close());
  const leader = await g.waitForLeader();
  const [a, b] = [...g.nodes.values()].filter((n) => n !== leader);
  await Promise.all([a!.ready(), b!.ready()]);
  const client = new AdminClient({ endpoints: [a!.address, b!.address] });
  t.teardown(() => client.close());
  const first = await client.txn({ if: [{ key: 'w/0', target: 'exists', op: '==', value: false }], then: [{ op: 'put', key: 'w/0', value: 0 }] });
  t.true(first.succeeded);
  const resumes: string[] = [];
  const w = client.watch({ prefix: 'w/' }, { fromRevision: first.revision, onResume: (r) => resumes.push(r.endpoint) });
  const seen: { key: string; revision: number }[] = [];
  const writes: number[] = [first.revision];
  const reading = (async () => {
    for await (const batch of w) {
      for (const e of batch.events) seen.push({ key: e.key, revision: e.revision });
      if (seen.length >= 20) break;
    }
  })();
  for (let i = 1; i < 10; i++) writes.push((await leader.put(`w/${i}`, i)).revision);
  await within(
    (async () => {
      while (seen.length < 10) await new Promise((r) => setTimeout(r, 20));
    })(),
    20_000,
    'the first ten events',
  );
  await a!.close(); // the member the watch is on goes away
  for (let i = 10; i < 20; i++) writes.push((await leader.put(`w/${i}`, i)).revision);
  await within(reading, 60_000, 'the watch to resume and see all twenty');
  t.deepEqual(
    seen.map((s) => s.revision),
    writes,
    'every write once, in revision order, across the resume',
  );
  t.true(resumes.includes(b!.address));
});

test('conclave txn --file runs a transaction; conclave watch --from-revision --json prints one line per change', async (t) => {
  t.timeout(180_000);
  const g = await startGroup(1);
  t.teardown(() => g.close());
  const n = await g.waitForLeader();
  const endpoint = ['--endpoint', n.address];
  const dir = tempDir('txn-cli');
  t.teardown(() => dir.remove());
  const file = join(dir.path, 'txn.json');
  writeFileSync(file, JSON.stringify({ if: [{ key: 'c/x', target: 'version', op: '==', value: 0 }], then: [{ op: 'put', key: 'c/x', value: 1 }, { op: 'put', key: 'c/y', value: 'two' }], else: [{ op: 'get', key: 'c/x' }] }));
  const r = await runCli(['txn', '--file', file, '--json', ...endpoint]);
  t.is(r.code, 0, r.stderr);
  const out = jsonOf<{ ok: boolean; succeeded: boolean; revision: number }>(r);
  t.like(out, { ok: true, succeeded: true });
  const again = await runCli(['txn', '--file', file, ...endpoint]);
  t.regex(again.stdout, /^FAILED \(else\) at revision \d+\nc\/x\t1\n$/);
  const bad = await runCli(['txn', '--file', join(dir.path, 'missing.json'), ...endpoint]);
  t.is(bad.code, 2, bad.stderr);

  const CLI = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'watch', 'c/', '--from-revision', String(out.revision), '--json', ...endpoint], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  t.teardown(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = await within(
    new Promise<string[]>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const ls = stdout.split('\n').filter(Boolean);
        if (ls.length >= 3) resolve(ls);
      });
      void n.put('c/z', true);
    }),
    90_000,
    `three watch lines (stderr: ${stderr})`,
  );
  const events = lines.slice(0, 3).map((l) => JSON.parse(l) as { type: string; key: string; value: unknown; revision: number });
  t.deepEqual(
    events.map((e) => [e.type, e.key, e.value]),
    [
      ['put', 'c/x', 1],
      ['put', 'c/y', 'two'],
      ['put', 'c/z', true],
    ],
  );
  t.is(events[0]!.revision, out.revision);
  child.kill('SIGINT');
});
