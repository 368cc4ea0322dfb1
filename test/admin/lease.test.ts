// `conclave lease`, `conclave lock NAME -- COMMAND` and `conclave elect`, against an
// in-process group of one, through the real CLI in child processes.
import test from 'ava';
import { AdminClient } from '../../packages/admin/src/index.js';
import { startGroup } from '../../packages/conclave/test/helpers.js';
import { jsonOf, runCli } from './run-cli.js';

test('conclave lease grant/keep-alive/list/revoke; conclave lock runs the command with its fencing token; conclave elect prints the leader', async (t) => {
  t.timeout(300_000);
  const g = await startGroup(1);
  t.teardown(() => g.close());
  const n = await g.waitForLeader();
  const endpoint = ['--endpoint', n.address];

  const granted = jsonOf<{ id: number; ttlMs: number }>(await runCli(['lease', 'grant', '60000', '--json', ...endpoint]));
  t.is(granted.ttlMs, 60_000);
  await n.put('owned', 1, { lease: granted.id });
  t.like(jsonOf(await runCli(['lease', 'keep-alive', String(granted.id), '--json', ...endpoint])), { ok: true, id: granted.id });
  const list = jsonOf<{ leader: boolean; leases: { id: number; keys: string[]; remainingMs: number | null }[] }>(await runCli(['lease', 'list', '--json', ...endpoint]));
  t.true(list.leader);
  t.deepEqual(list.leases.find((l) => l.id === granted.id)?.keys, ['owned']);
  t.like(jsonOf(await runCli(['lease', 'revoke', String(granted.id), '--json', ...endpoint])), { ok: true, deleted: 1 });
  t.is(await n.get('owned'), undefined);
  const missing = await runCli(['lease', 'revoke', String(granted.id), ...endpoint]);
  t.is(missing.code, 1, missing.stderr);
  t.regex(missing.stderr, /LEASE_NOT_FOUND|not found/);
  t.is((await runCli(['lease', 'grant', 'soon', ...endpoint])).code, 2);

  const run = await runCli(['lock', 'jobs/cli', '--ttl-ms', '5000', ...endpoint, '--', process.execPath, '-e', 'console.log("token=" + process.env.CONCLAVE_FENCING_TOKEN + " key=" + process.env.CONCLAVE_LOCK_KEY)']);
  t.is(run.code, 0, run.stderr);
  const m = /token=(\d+) key=(jobs\/cli\/\d+)/.exec(run.stdout);
  t.truthy(m, run.stdout);
  t.deepEqual(n.leases().filter((l) => l.keys.some((k) => k.startsWith('jobs/cli/'))), [], 'the lock was released when the command ended');
  const exitCode = await runCli(['lock', 'jobs/cli', ...endpoint, '--', process.execPath, '-e', 'process.exit(3)']);
  t.is(exitCode.code, 3, 'the command’s exit code');

  const e = n.election('cli-election');
  await e.campaign('boss', { ttlMs: 60_000 });
  const client = new AdminClient({ endpoints: [n.address] });
  t.teardown(() => client.close());
  t.like((await client.electionLeader('cli-election')).leader, { value: 'boss' });
  await e.resign();
  t.is((await client.electionLeader('cli-election')).leader, null);
});
