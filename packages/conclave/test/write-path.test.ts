// WritePath on its own (manual clock, stand-in core): where a write goes, what it waits
// for before it is proposed, and what its errors say happened.
import test from 'ava';
import { NotLeaderError, type Entry, type Role } from '@conclave/core';
import { decodeCommand } from '@conclave/storage';
import { InsufficientReplicasError } from '../src/errors.js';
import { DEFAULT_DURABILITY } from '../src/options.js';
import { ReadGate } from '../src/read-gate.js';
import { WritePath } from '../src/write-path.js';
import { roomContext, settle } from './rooms.js';

function path(state: { role: Role; active: number; quorum: number; leaderId: string | null; applied?: number }, options = {}) {
  const proposed: Uint8Array[] = [];
  const forwarded: { method: string; params: unknown; timeoutMs: number }[] = [];
  const room = roomContext({
    options,
    raft: {
      get currentRole() {
        return state.role;
      },
      get leaderId() {
        return state.leaderId;
      },
      groupMetadata: { groupId: 'conclave', members: [{ id: 'n2', address: '127.0.0.1:2', type: 'electable', priority: 1, removed: false }] },
      get quorumSize() {
        return state.quorum;
      },
      electableCount: 3,
      activeElectableCount: () => state.active,
      propose: (data: Uint8Array) => {
        proposed.push(data);
        return { index: 10 + proposed.length, term: 2 };
      },
      termAt: () => 2,
      ackIndex: () => 0,
    } as never,
    storage: {
      syncPolicy: 'sync', // localSync then has nothing more to do
      get applied() {
        return state.applied ?? 0;
      },
    } as never,
  });
  const reads = new ReadGate(room.ctx);
  const writes = new WritePath(room.ctx, reads, async (method, params, timeoutMs) => {
    forwarded.push({ method, params, timeoutMs });
    return { token: { groupId: 'conclave', term: 2, index: 20 }, outcome: null };
  });
  return { ...room, writes, reads, proposed, forwarded };
}

test('a follower without forwardWrites refuses with NotLeaderError naming the leader', async (t) => {
  const p = path({ role: 'follower', active: 3, quorum: 2, leaderId: 'n2' }, { forwardWrites: false });
  await t.throwsAsync(p.writes.write({ op: 'put', key: 'k', value: 1 }, undefined), { instanceOf: NotLeaderError, message: /n2@127\.0\.0\.1:2/ });
  t.is(p.proposed.length + p.forwarded.length, 0);
});

test('a follower forwards the encoded write to the leader, then waits (bounded) to apply it here', async (t) => {
  const state = { role: 'follower' as Role, active: 3, quorum: 2, leaderId: 'n2', applied: 0 };
  const p = path(state);
  let done = false;
  const w = p.writes.write({ op: 'put', key: 'k', value: 1 }, undefined).then((r) => {
    done = true;
    return r;
  });
  await settle();
  t.is(p.forwarded.length, 1);
  t.is(p.forwarded[0]!.method, 'kv.write');
  t.deepEqual(decodeCommand((p.forwarded[0]!.params as { data: Uint8Array }).data), { op: 'put', key: 'k', value: 1 });
  t.false(done, 'waits for index 20 to be applied here');
  state.applied = 20;
  p.reads.onApplied(20);
  t.deepEqual((await w).token, { groupId: 'conclave', term: 2, index: 20 });
});

test('a follower whose apply does not come answers after one election timeout anyway (the write is committed)', async (t) => {
  const p = path({ role: 'follower', active: 3, quorum: 2, leaderId: 'n2', applied: 0 });
  const w = p.writes.write({ op: 'del', key: 'k' }, undefined);
  await p.clock.advance(10 * 50); // tickMs 10, electionTicks default
  t.is((await w).token.index, 20);
});

test('a leader without enough replicas connected waits insufficientReplicasTimeoutMs, then refuses: nothing was written', async (t) => {
  const state = { role: 'leader' as Role, active: 1, quorum: 2, leaderId: 'n1' };
  const p = path(state, { insufficientReplicasTimeoutMs: 300 });
  const refused = t.throwsAsync(p.writes.write({ op: 'put', key: 'k', value: 1 }, undefined), { instanceOf: InsufficientReplicasError, message: /needs 2 electable members connected under 'simpleMajority', 1 are \(waited 300 ms\); nothing was written/ });
  await p.clock.advance(350);
  await refused;
  t.is(p.proposed.length, 0);
});

test('a leader proposes once a quorum is connected, and resolves at the apply of its own (term, index)', async (t) => {
  const state = { role: 'leader' as Role, active: 1, quorum: 2, leaderId: 'n1' };
  const p = path(state);
  const w = p.writes.write({ op: 'put', key: 'k', value: 1 }, DEFAULT_DURABILITY);
  await p.clock.advance(20);
  t.is(p.proposed.length, 0, 'still waiting for a replica');
  state.active = 2;
  await p.clock.advance(20);
  t.is(p.proposed.length, 1);
  t.is(p.scheduled.count, 1, 'the proposal goes to the Ready loop');
  p.writes.writes.onApplied([{ index: 11, term: 2, type: 'normal', data: p.proposed[0]! } as Entry], [{ outcome: null }] as never);
  t.deepEqual((await w).token, { groupId: 'conclave', term: 2, index: 11 });
});
