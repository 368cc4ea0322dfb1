// Requests that carry several operations (admin-batch.ts): a connection counts their
// operations against adminMaxPendingRequests, and gives the room back when they end.
import test from 'ava';
import { AdminRemoteError, AdminRpcClient, DEFAULTS, Transport, weighedAdminHandler } from '../src/index.js';
import { adminErrorBody, remoteErrorOf } from '../src/admin-batch.js';
import { ADMIN_SECRET, SECRET } from './helpers.js';

test('a batch counts its operations against the requests a connection may have in flight, and frees them when answered', async (t) => {
  const n = new Transport({ id: 'n1', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET, adminSecret: ADMIN_SECRET });
  const held: (() => void)[] = [];
  /** Answers the oldest held request once one arrives; a deadline only bounds a failure (a loaded machine). */
  const nextHeld = async (): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (held.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (held.length < 1) throw new Error('no held request reached the handler within 20 s');
    held.shift()!();
  };
  n.registerAdminHandler(
    'many',
    weighedAdminHandler((params) => new Promise((resolve) => held.push(() => resolve((params as { ops: unknown[] }).ops.length))), (p) => (p as { ops: unknown[] }).ops.length),
  );
  n.registerAdminHandler('one', () => 'one');
  await n.start();
  const limit = DEFAULTS.adminMaxPendingRequests;
  const c = await AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET });
  try {
    const ops = (k: number) => ({ ops: Array.from({ length: k }, (_, i) => i) });
    const first = c.request('many', ops(limit - 1), { timeoutMs: 10_000 });
    // One more operation fits; a batch of two does not, and says how full the connection is.
    const tooMany = await t.throwsAsync(c.request('many', ops(2), { timeoutMs: 10_000 }), { instanceOf: AdminRemoteError });
    t.is(tooMany!.code, 'TOO_MANY_REQUESTS');
    t.regex(tooMany!.message, new RegExp(`many carries 2 operations; ${limit - 1} of the ${limit}`));
    t.is(await c.request('one', null, { timeoutMs: 10_000 }), 'one');
    const alone = await t.throwsAsync(c.request('many', ops(limit + 1), { timeoutMs: 10_000 }), { instanceOf: AdminRemoteError });
    t.is(alone!.code, 'TOO_MANY_REQUESTS', 'a batch larger than the limit is refused even on an idle connection');
    await nextHeld();
    t.is(await first, limit - 1);
    // Its operations went back: a full-size batch is taken now.
    const full = c.request('many', ops(limit), { timeoutMs: 10_000 });
    await nextHeld();
    t.is(await full, limit);
  } finally {
    await c.close();
    await n.close();
  }
});

test('an operation\'s error inside an answer keeps its code, message and plain fields; a malformed one is INTERNAL', (t) => {
  const err = Object.assign(new Error('not here'), { code: 'NOT_LEADER', leaderHint: 'n2@127.0.0.1:2', nested: { x: 1 } });
  const back = remoteErrorOf(adminErrorBody(err));
  t.is(back.code, 'NOT_LEADER');
  t.is(back.message, 'not here');
  t.deepEqual(back.data, { leaderHint: 'n2@127.0.0.1:2' });
  t.is(remoteErrorOf('garbage').code, 'INTERNAL');
  t.is(remoteErrorOf({ code: 7, message: null, data: [1] }).code, 'INTERNAL');
  t.deepEqual(remoteErrorOf({ code: 'X', message: 'm', data: [1] }).data, {});
});
