// Deadlines and cancellation on every call (issue 22, item 2), on a real node driven by forged
// messages (driver-harness.ts: nothing moves unless the test says) and on a real group: a
// write aborted before it is proposed did not happen (ABORTED), one aborted after may have
// (WRITE_OUTCOME_UNKNOWN); the call's timeoutMs bounds it; a read that cannot succeed fails
// at once with the reason.
import test from 'ava';
import { AbortedError, NotLeaderError, ReplicaConsistencyError, WriteOutcomeUnknownError } from '../src/index.js';
import { Call } from '../src/deadlines.js';
import { FORWARD_POOL_LIMITS, ForwardPool } from '../src/forward-pool.js';
import type { LeaderRpcClient } from '../src/seams.js';
import { DriverHarness } from './driver-harness.js';
import { codeOf, startGroup, waitFor, within } from './helpers.js';
import { roomContext, settle } from './rooms.js';

test('a write aborted before it is proposed is ABORTED and writes nothing; one aborted after it was proposed is WRITE_OUTCOME_UNKNOWN', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  const last = h.raft.status().lastIndex;
  const ac = new AbortController();
  ac.abort(new Error('the user went away'));
  const before = await t.throwsAsync(h.node.put('a', 1, { signal: ac.signal }), { instanceOf: AbortedError });
  t.is(before!.code, 'ABORTED');
  t.regex(before!.message, /put of key "a" was aborted before it took effect; it did not happen/);
  t.is(h.raft.status().lastIndex, last, 'nothing proposed');

  const ac2 = new AbortController();
  const w = h.node.put('b', 2, { signal: ac2.signal, durability: { ackTimeoutMs: 60_000 }, timeoutMs: 60_000 });
  w.catch(() => {});
  await h.idle();
  t.is(h.raft.status().lastIndex, last + 1, 'proposed, never acknowledged');
  ac2.abort();
  const after = await within(w.then(() => null, (e: Error) => e), 10_000, 'the aborted write');
  t.true(after instanceof WriteOutcomeUnknownError);
  t.regex(after!.message, /put of key "b" was proposed at index \d+ and then aborted by the caller/);
});

test("a write's timeoutMs bounds it whatever its ackTimeoutMs; a read's abort stops its wait for a read index", async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  // Never acknowledged: only the call's own deadline can end it.
  const w = codeOf(h.node.put('c', 3, { durability: { ackTimeoutMs: 60_000 }, timeoutMs: 300 }));
  t.true(['INSUFFICIENT_ACKS', 'WRITE_OUTCOME_UNKNOWN'].includes(await within(w, 10_000, 'the write with timeoutMs 300')), 'may have happened');

  const ac = new AbortController();
  const r = h.node.get('c', { signal: ac.signal, timeoutMs: 60_000 });
  r.catch(() => {});
  await h.idle();
  ac.abort();
  const err = await within(r.then(() => null, (e: Error) => e), 10_000, 'the aborted read');
  t.true(err instanceof AbortedError, String(err));
  // Bad options are refused by name.
  await t.throwsAsync(h.node.get('c', { timeoutMs: -1 }), { code: 'INVALID_ARGUMENT', message: /timeoutMs must be a positive number/ });
  await t.throwsAsync(h.node.put('c', 1, { signal: 'no' as never }), { code: 'INVALID_ARGUMENT', message: /signal must be an AbortSignal/ });
});

test('on the last member of a group that lost its quorum, writes and reads fail at once with the quorum explanation, not at their deadline', async (t) => {
  const g = await startGroup(3);
  t.teardown(() => g.close());
  const leader = await g.waitForLeader(30_000);
  const survivor = [...g.nodes.values()].find((n) => n !== leader)!;
  await survivor.put('x', 1);
  await Promise.all([...g.nodes.values()].filter((n) => n !== survivor).map((n) => n.close()));
  const started = Date.now();
  const put = await t.throwsAsync(within(survivor.put('y', 2, { timeoutMs: 60_000 }), 30_000, 'the put'), { instanceOf: NotLeaderError });
  t.regex(put!.message, /put of key "y" found no leader to take it/);
  t.regex(put!.message, /an election needs the votes of 2 of 3/);
  t.regex(put!.message, /it did not happen/);
  t.notRegex(put!.message, /kv\.write|admin|CONNECTION_REFUSED/);
  const read = await t.throwsAsync(within(survivor.get('x', { timeoutMs: 60_000 }), 30_000, 'the read'), { instanceOf: ReplicaConsistencyError });
  t.regex(read!.message, /read of key "x" cannot be served: no leader.*an election needs the votes of 2 of 3/);
  // maxLagMs: no leader known, none heard within maxLagMs: it cannot be met.
  await waitFor(() => survivor.leader === null, 30_000, 'the survivor to lose its leader');
  await new Promise((r) => setTimeout(r, 300));
  const lag = await t.throwsAsync(within(survivor.get('x', { consistency: { maxLagMs: 200 }, timeoutMs: 60_000 }), 30_000, 'the maxLagMs read'), { instanceOf: ReplicaConsistencyError });
  t.regex(lag!.message, /no leader is known now/);
  t.true(Date.now() - started < 45_000, 'each failed long before its 60 s deadline');
});

test('a forwarded write aborted while waiting for a connection is ABORTED; aborted once sent, WRITE_OUTCOME_UNKNOWN; a waiting slot goes back', async (t) => {
  const room = roomContext();
  // A connection that never opens: nothing is ever sent on it.
  const never = new ForwardPool('127.0.0.1:1', () => new Promise<LeaderRpcClient>(() => {}), { ...FORWARD_POOL_LIMITS, connections: 1, inflightPerConnection: 1, queued: 10 }, room.clock);
  const ac = new AbortController();
  const waiting = never.request('kv.write', {}, 60_000, Call.of(room.ctx, 'the put of key "k"', { signal: ac.signal }, 60_000));
  ac.abort();
  const e1 = await t.throwsAsync(waiting, { instanceOf: AbortedError });
  t.regex(e1!.message, /put of key "k" was aborted before it took effect; it did not happen/);
  never.close();

  // A leader that takes the request and never answers.
  const sent: string[] = [];
  const silent = new ForwardPool(
    '127.0.0.1:2',
    async () => ({
      closed: false,
      request: (method: string) => {
        sent.push(method);
        return new Promise(() => {});
      },
      close: async () => {},
    }),
    { ...FORWARD_POOL_LIMITS, connections: 1, inflightPerConnection: 1, queued: 10 },
    room.clock,
  );
  const ac2 = new AbortController();
  const inFlight = silent.request('kv.write', {}, 60_000, Call.of(room.ctx, 'the put of key "k"', { signal: ac2.signal }, 60_000));
  for (let i = 0; i < 10 && sent.length === 0; i++) await settle();
  t.deepEqual(sent, ['kv.write']);
  ac2.abort();
  const e2 = await t.throwsAsync(inFlight, { instanceOf: WriteOutcomeUnknownError });
  t.regex(e2!.message, /put of key "k" was sent to the leader at 127\.0\.0\.1:2 and then aborted by the caller/);
  // Its slot went back: the next request is sent at once.
  void silent.request('kv.write', {}, 60_000).catch(() => {});
  for (let i = 0; i < 10 && sent.length < 2; i++) await settle();
  t.is(sent.length, 2);
  silent.close();
});
