// ReadGate on its own (manual clock, stand-in core): ReadIndex, maxLagMs, atLeast, the
// applied waiters and their deadlines.
import test from 'ava';
import { InvalidArgumentError, type ReadState } from '@conclave/core';
import { NodeClosedError, ReplicaConsistencyError } from '../src/errors.js';
import { ReadGate } from '../src/read-gate.js';
import { roomContext, settle } from './rooms.js';

function gate(state: { applied: number; commit: number; contact: number | null }) {
  const asked: { ctx: string; lease: boolean }[] = [];
  const room = roomContext({
    raft: {
      setNow: () => {},
      readIndex: (ctx: string, o: { lease: boolean }) => void asked.push({ ctx, lease: o.lease }),
      get commitIndex() {
        return state.commit;
      },
      get lastLeaderContactAt() {
        return state.contact;
      },
    } as never,
    storage: {
      get applied() {
        return state.applied;
      },
    } as never,
  });
  return { ...room, reads: new ReadGate(room.ctx), asked };
}

test('a linearizable read waits for its read state, then for the applied index to reach it', async (t) => {
  const state = { applied: 5, commit: 5, contact: null };
  const g = gate(state);
  let done = false;
  const read = g.reads.readBarrier('linearizable', 1000).then(() => (done = true));
  await settle();
  t.is(g.asked.length, 1);
  t.false(g.asked[0]!.lease);
  t.is(g.scheduled.count, 1, 'the Ready loop is asked to send the read index');
  g.reads.onReadStates([{ context: g.asked[0]!.ctx, index: 7 } as ReadState]);
  await settle();
  t.false(done, 'applied 5 < read index 7');
  state.applied = 7;
  g.reads.onApplied(7);
  await read;
  t.true(done);
});

test('a lease read asks for the lease; a read state for another context answers nothing', async (t) => {
  const g = gate({ applied: 5, commit: 5, contact: null });
  const read = g.reads.readBarrier('lease', 1000);
  await settle();
  t.true(g.asked[0]!.lease);
  g.reads.onReadStates([{ context: 'someone-else:1', index: 1 } as ReadState]);
  g.reads.onReadStates([{ context: g.asked[0]!.ctx, index: 5 } as ReadState]);
  await t.notThrowsAsync(read);
});

test('a read index never confirmed fails at the deadline with ReplicaConsistencyError, having retried', async (t) => {
  const g = gate({ applied: 5, commit: 5, contact: null });
  const read = t.throwsAsync(g.reads.readBarrier('linearizable', 200), { instanceOf: ReplicaConsistencyError, message: /could not confirm a linearizable read point/ });
  await g.clock.advance(250);
  await read;
  t.true(g.asked.length >= 2, `asked ${g.asked.length} times`);
});

test('maxLagMs: served once the leader was heard recently and the commit is applied; else fails at the deadline', async (t) => {
  const state = { applied: 5, commit: 6, contact: 1_000_000 as number | null };
  const g = gate(state);
  let done = false;
  const read = g.reads.readBarrier({ maxLagMs: 100 }, 1000).then(() => (done = true));
  await g.clock.advance(20);
  t.false(done, 'the commit index is not applied yet');
  state.applied = 6;
  await g.clock.advance(20);
  await read;
  t.true(done);

  state.contact = g.clock.nowMs() - 500; // heard 500 ms ago: 800 ms at the deadline
  const stale = t.throwsAsync(g.reads.readBarrier({ maxLagMs: 100 }, 300), { instanceOf: ReplicaConsistencyError, message: /more than 100 ms behind the leader \(last contact 8\d\d ms ago\)/ });
  await g.clock.advance(400);
  await stale;
});

test('atLeast: a token of another group is refused; an index not applied in time fails naming it', async (t) => {
  const g = gate({ applied: 5, commit: 5, contact: null });
  await t.throwsAsync(g.reads.readBarrier({ atLeast: { groupId: 'other', term: 1, index: 1 } }, 100), { instanceOf: InvalidArgumentError, message: /group 'other' used on group 'conclave'/ });
  await t.notThrowsAsync(g.reads.readBarrier({ atLeast: { groupId: 'conclave', term: 1, index: 5 } }, 100));
  const late = t.throwsAsync(g.reads.readBarrier({ atLeast: { groupId: 'conclave', term: 1, index: 9 } }, 100), { instanceOf: ReplicaConsistencyError, message: /did not apply index 9 within 100 ms/ });
  await g.clock.advance(150);
  await late;
});

test('failAll rejects every waiting read with the error given, and clears their timers', async (t) => {
  const g = gate({ applied: 5, commit: 5, contact: null });
  const a = g.reads.readBarrier('linearizable', 1000);
  const b = g.reads.readBarrier({ atLeast: { groupId: 'conclave', term: 1, index: 9 } }, 1000);
  await settle();
  g.ctx.closed = true;
  g.reads.failAll(new NodeClosedError('n1'));
  await t.throwsAsync(a, { instanceOf: NodeClosedError });
  await t.throwsAsync(b, { instanceOf: NodeClosedError });
  t.is(g.clock.pending, 0, 'no timer left behind');
});

test("'none' reads never wait", async (t) => {
  const g = gate({ applied: 0, commit: 9, contact: null });
  await t.notThrowsAsync(g.reads.readBarrier('none', 1));
  t.is(g.asked.length, 0);
});
