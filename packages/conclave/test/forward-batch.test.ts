// Forwarded writes in batches (kv.writeMany, write-many.ts; forward-pool.ts): each write of a
// batch keeps its own outcome, error code and deadline; a leader without the method still
// gets every write, one request each.
import test from 'ava';
import { InvalidArgumentError, NotLeaderError, RequestTooLargeError } from '@conclave/core';
import { AdminRemoteError, AdminRpcClient, Transport, type AdminRequestOptions } from '@conclave/transport';
import { SECRET } from '../../transport/test/helpers.js';
import { Call } from '../src/deadlines.js';
import { AbortedError, ProposalDroppedError, WriteOutcomeUnknownError } from '../src/errors.js';
import { FORWARD_POOL_LIMITS, ForwardPool } from '../src/forward-pool.js';
import { DEFAULT_DURABILITY } from '../src/options.js';
import type { LeaderRpcClient } from '../src/seams.js';
import { MAX_WRITES_PER_BATCH, serveWriteMany, WRITE_MANY_METHOD, type WriteAnswer } from '../src/write-many.js';
import { roomContext, settle } from './rooms.js';

const write = (tag: number, sizeBytes = 3) => {
  const data = new Uint8Array(sizeBytes);
  data[0] = tag;
  return { data, durability: DEFAULT_DURABILITY, needsOutcome: false };
};
const tokenAt = (index: number): WriteAnswer => ({ token: { groupId: 'g', term: 2, index }, outcome: null });

/** A leader's admin connection whose requests the test answers (`answer`) or holds (`held`). */
function leaderConnection(answer?: (method: string, params: unknown) => Promise<unknown>) {
  const requests: { method: string; params: unknown; timeoutMs: number | undefined; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  const client: LeaderRpcClient = {
    closed: false,
    request: (method: string, params: unknown, o: AdminRequestOptions) =>
      new Promise((resolve, reject) => {
        requests.push({ method, params, timeoutMs: o.timeoutMs, resolve, reject });
        if (answer) answer(method, params).then(resolve, reject);
      }),
    close: async () => {},
  };
  return { client, requests };
}

test('the writes of one turn leave in one kv.writeMany, and each gets its own outcome and error code', async (t) => {
  const room = roomContext();
  // The leader's own handler: tag 1 is proposed, 2 too large, 3 refused as not leader.
  const propose = async (data: Uint8Array) => {
    if (data[0] === 2) throw new RequestTooLargeError(data.length, 2);
    if (data[0] === 3) throw new NotLeaderError('n3@127.0.0.1:3');
    return tokenAt(10 + data[1]!);
  };
  const leader = leaderConnection((method, params) => (method === WRITE_MANY_METHOD ? serveWriteMany(params, 10_000, propose) : Promise.reject(new Error(`unexpected ${method}`))));
  const pool = new ForwardPool('127.0.0.1:2', async () => leader.client, FORWARD_POOL_LIMITS, room.clock);
  const ws = [write(1), write(2), write(1), write(3)];
  ws[2]!.data[1] = 5;
  const outcomes = ws.map((w) => pool.write(w, 5000).then((a) => a, (e: unknown) => e));
  await room.clock.advance(1);
  const [a, b, c, d] = await Promise.all(outcomes);
  t.is(leader.requests.length, 1, 'one request for the four writes');
  t.is(leader.requests[0]!.method, WRITE_MANY_METHOD);
  t.is((leader.requests[0]!.params as { writes: unknown[] }).writes.length, 4);
  t.deepEqual(a, tokenAt(10));
  t.deepEqual(c, tokenAt(15));
  t.true(b instanceof AdminRemoteError && b.code === 'REQUEST_TOO_LARGE' && b.data.limitBytes === 2, String(b));
  t.true(d instanceof AdminRemoteError && d.code === 'NOT_LEADER' && d.data.leaderHint === 'n3@127.0.0.1:3', String(d));
  pool.close();
});

test('the leader refuses a malformed write of a batch alone, and a malformed batch as a whole, saying what was wrong', async (t) => {
  const proposed: number[] = [];
  const propose = async (data: Uint8Array, _d: unknown, _n: boolean, timeoutMs: number) => {
    proposed.push(timeoutMs);
    return tokenAt(proposed.length);
  };
  const good = { data: new Uint8Array([1]), durability: DEFAULT_DURABILITY, needsOutcome: false, timeoutMs: 300 };
  const r = await serveWriteMany({ writes: [good, { data: 'x' }, { ...good, durability: { replicaAck: 'some' } }, 5, { ...good, timeoutMs: -1 }, { ...good, timeoutMs: 99_999 }] }, 1000, propose);
  const codes = r.results.map((x) => (x as { ok: boolean; error?: { code: string } }).error?.code ?? 'ok');
  t.deepEqual(codes, ['ok', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'ok']);
  const messages = r.results.map((x) => (x as { error?: { message: string } }).error?.message ?? '');
  t.regex(messages[1]!, /writes\[1\]\.data must be bytes; it was not written/);
  t.regex(messages[2]!, /writes\[2\]\.durability\.replicaAck must be one of/);
  t.regex(messages[3]!, /writes\[3\] must be an object/);
  t.regex(messages[4]!, /writes\[4\]\.timeoutMs must be a positive integer/);
  t.deepEqual(proposed, [300, 1000], 'each write within its own deadline, never past the request\'s');
  for (const bad of [null, [], { writes: [] }, { writes: 'x' }, { writes: Array.from({ length: MAX_WRITES_PER_BATCH + 1 }, () => good) }]) {
    await t.throwsAsync(serveWriteMany(bad, 1000, propose), { instanceOf: InvalidArgumentError, message: /params\.writes must be a list of 1 to \d+ writes; nothing was written/ });
  }
  t.is(proposed.length, 2);
});

test('a malformed answer to a batch leaves its writes "may have happened"', async (t) => {
  const room = roomContext();
  const leader = leaderConnection(async () => ({ results: [{ ok: true, token: tokenAt(1).token }] }));
  const pool = new ForwardPool('127.0.0.1:2', async () => leader.client, FORWARD_POOL_LIMITS, room.clock);
  const both = [pool.write(write(1), 5000), pool.write(write(1), 5000)].map((p) => p.then(() => null, (e: unknown) => e));
  await room.clock.advance(1);
  for (const e of await Promise.all(both)) t.true(e instanceof WriteOutcomeUnknownError && /malformed answer/.test(e.message), String(e));
  pool.close();
});

test('a write whose deadline passes while its batch is out is WRITE_OUTCOME_UNKNOWN, its neighbour still gets its answer; one that never found room did not happen', async (t) => {
  const room = roomContext();
  const leader = leaderConnection(); // answered by the test
  const pool = new ForwardPool('127.0.0.1:2', async () => leader.client, { ...FORWARD_POOL_LIMITS, connections: 1, inflightPerConnection: 2 }, room.clock);
  const short = pool.write(write(1), 100).then(() => null, (e: unknown) => e);
  const long = pool.write(write(1), 1000);
  const waiting = pool.write(write(1), 200).then(() => null, (e: unknown) => e); // no room: the connection carries two
  await room.clock.advance(1);
  t.is(leader.requests.length, 1);
  t.is((leader.requests[0]!.params as { writes: { timeoutMs: number }[] }).writes.map((w) => w.timeoutMs).join(), '100,1000', 'each write carries its own deadline');
  await room.clock.advance(150);
  const e1 = await short;
  t.true(e1 instanceof WriteOutcomeUnknownError, String(e1));
  t.regex((e1 as Error).message, /was sent to the leader at 127\.0\.0\.1:2 and its deadline passed before the answer came; it may or may not take effect/);
  await room.clock.advance(100);
  const e3 = await waiting;
  t.true(e3 instanceof ProposalDroppedError, String(e3));
  t.regex((e3 as Error).message, /had room .* before its deadline; nothing was sent/);
  leader.requests[0]!.resolve({ results: [{ ok: true, token: tokenAt(1).token }, { ok: true, token: tokenAt(2).token }] });
  t.deepEqual(await long, tokenAt(2));
  t.is(leader.requests.length, 1, 'the write that found no room was never sent');
  pool.close();
});

test('a write aborted while queued is ABORTED and left out of the batch; aborted once sent, WRITE_OUTCOME_UNKNOWN', async (t) => {
  const room = roomContext();
  const leader = leaderConnection();
  const pool = new ForwardPool('127.0.0.1:2', async () => leader.client, FORWARD_POOL_LIMITS, room.clock);
  const ac1 = new AbortController();
  const ac2 = new AbortController();
  const queued = pool.write(write(1), 5000, Call.of(room.ctx, 'the put of key "a"', { signal: ac1.signal }, 5000)).then(() => null, (e: unknown) => e);
  const kept = pool.write(write(2), 5000, Call.of(room.ctx, 'the put of key "b"', { signal: ac2.signal }, 5000)).then(() => null, (e: unknown) => e);
  ac1.abort();
  t.true((await queued) instanceof AbortedError);
  await room.clock.advance(1);
  t.is(leader.requests.length, 1);
  t.deepEqual((leader.requests[0]!.params as { writes: { data: Uint8Array }[] }).writes.map((w) => w.data[0]), [2], 'the aborted write was not sent');
  ac2.abort();
  const e = await kept;
  t.true(e instanceof WriteOutcomeUnknownError && /put of key "b" was sent .* aborted by the caller/.test(e.message), String(e));
  pool.close();
});

test('a batch is bounded in writes and in bytes; the queue in bytes', async (t) => {
  const room = roomContext();
  const leader = leaderConnection(async (_m, params) => ({ results: (params as { writes: unknown[] }).writes.map((_, i) => ({ ok: true, token: tokenAt(i).token })) }));
  const pool = new ForwardPool('127.0.0.1:2', async () => leader.client, { ...FORWARD_POOL_LIMITS, connections: 1, writesPerBatch: 3, queuedBytes: 2 * 1024 * 1024 }, room.clock);
  const small = Array.from({ length: 7 }, () => pool.write(write(1), 5000));
  await room.clock.advance(1);
  await Promise.all(small);
  t.deepEqual(leader.requests.map((r) => (r.params as { writes: unknown[] }).writes.length), [3, 3, 1]);
  leader.requests.length = 0;
  // 600 KiB each: two do not fit one batch's MAX_BATCH_DATA_BYTES (1 MiB); the fourth not the queue.
  const big = [0, 1, 2].map(() => pool.write(write(1, 600 * 1024), 5000));
  await t.throwsAsync(pool.write(write(1, 600 * 1024), 5000), { instanceOf: ProposalDroppedError, message: /already wait to be forwarded.*nothing was sent/ });
  await room.clock.advance(1);
  await Promise.all(big);
  t.deepEqual(leader.requests.map((r) => (r.params as { writes: unknown[] }).writes.length), [1, 1, 1]);
  pool.close();
});

test('a leader that does not know kv.writeMany (not yet upgraded) gets one kv.write per write on that connection, over the real admin channel', async (t) => {
  const old = new Transport({ id: 'n2', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET });
  const served: number[] = [];
  old.registerAdminHandler('kv.write', (params) => {
    const tag = (params as { data: Uint8Array }).data[0]!;
    served.push(tag);
    if (tag === 9) throw new NotLeaderError(null);
    return tokenAt(tag);
  });
  await old.start();
  const room = roomContext();
  let connects = 0;
  const pool = new ForwardPool(
    old.listenAddress,
    () => {
      connects++;
      return AdminRpcClient.connect(old.listenAddress, { connectTimeoutMs: 10_000 });
    },
    { ...FORWARD_POOL_LIMITS, connections: 1 },
    room.clock,
  );
  const tick = async () => {
    await room.clock.advance(1, async () => {
      await settle();
      await new Promise((r) => setTimeout(r, 5));
    });
  };
  try {
    const first = [1, 9, 3].map((tag) => pool.write(write(tag), 5000).then((a) => a, (e: unknown) => e));
    let results: unknown[] = [];
    for (let i = 0; i < 400 && results.length === 0; i++) {
      await tick();
      results = await Promise.race([Promise.all(first), new Promise<unknown[]>((r) => setTimeout(() => r([]), 5))]);
    }
    t.deepEqual(results[0], tokenAt(1));
    t.true(results[1] instanceof AdminRemoteError && (results[1] as AdminRemoteError).code === 'NOT_LEADER', String(results[1]));
    t.deepEqual(results[2], tokenAt(3));
    t.deepEqual([...served].sort(), [1, 3, 9], 'each write served once');
    const later = pool.write(write(4), 5000);
    let done: unknown = null;
    void later.then((a) => (done = a));
    for (let i = 0; i < 400 && done === null; i++) await tick();
    t.deepEqual(done, tokenAt(4));
    t.is(old.stats().adminRequests, 5, 'one refused kv.writeMany, then four kv.write: no batch tried again on that connection');
    t.is(connects, 1);
  } finally {
    pool.close();
    await old.close();
  }
});
