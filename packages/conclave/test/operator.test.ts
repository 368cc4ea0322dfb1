// Operator and RollbackKeeper on their own (stand-in core): what they refuse before
// anything is asked of the group, and what they say.
import test from 'ava';
import { InvalidArgumentError } from '@conclave/core';
import { ConfChangeError, UnknownMemberError } from '../src/errors.js';
import { LeaderRpc } from '../src/leader-rpc.js';
import { Operator } from '../src/operator.js';
import { OverrideControl } from '../src/override.js';
import { ReadGate } from '../src/read-gate.js';
import { RollbackKeeper } from '../src/rollback-keeper.js';
import { roomContext } from './rooms.js';

const MEMBERS = [
  { id: 'n1', address: '127.0.0.1:1', type: 'electable', priority: 1, removed: false },
  { id: 'n2', address: '127.0.0.1:2', type: 'secondary', priority: 1, removed: false },
  { id: 'n3', address: '127.0.0.1:3', type: 'electable', priority: 0, removed: false },
  { id: 'n4', address: '127.0.0.1:4', type: 'electable', priority: 1, removed: true },
];

function operator(state: { role: string; leaderId: string | null; promotable: boolean }) {
  let campaigns = 0;
  const room = roomContext({
    raft: {
      get currentRole() {
        return state.role;
      },
      get leaderId() {
        return state.leaderId;
      },
      groupMetadata: { groupId: 'conclave', members: MEMBERS },
      status: () => ({ promotable: state.promotable, leadTransferee: null }),
      campaign: () => void campaigns++,
      electableGroupSizeOverride: 0,
      electableCount: 2,
    } as never,
  });
  const reads = new ReadGate(room.ctx);
  const rpc = new LeaderRpc(room.ctx, { proposeLocal: async () => ({}) as never, changeMembershipLocal: async () => ({}) as never, status: () => ({}) as never });
  const op = new Operator(room.ctx, rpc, reads, new OverrideControl(room.ctx, async () => null), () => ({}) as never, () => '127.0.0.1:1');
  return { ...room, op, campaigns: () => campaigns };
}

test('transferLeaderTo refuses, before asking anyone, a secondary, a priority-0 member, a removed or unknown id, and no id', async (t) => {
  const o = operator({ role: 'follower', leaderId: 'n1', promotable: true });
  await t.throwsAsync(o.op.transferLeaderTo([], {}), { instanceOf: InvalidArgumentError, message: /at least one member/ });
  await t.throwsAsync(o.op.transferLeaderTo(['n2'], {}), { instanceOf: InvalidArgumentError, message: /n2 is a secondary/ });
  await t.throwsAsync(o.op.transferLeaderTo(['n3'], {}), { instanceOf: InvalidArgumentError, message: /n3 has priority 0/ });
  await t.throwsAsync(o.op.transferLeaderTo(['n4'], {}), { instanceOf: ConfChangeError, message: /n4 was removed/ });
  await t.throwsAsync(o.op.transferLeaderTo(['n9'], {}), { instanceOf: UnknownMemberError });
});

test('addMember refuses a removed id, a member at another address, and a member already of that type', async (t) => {
  const o = operator({ role: 'follower', leaderId: 'n1', promotable: true });
  await t.throwsAsync(o.op.addMember('n4', '127.0.0.1:4', 'electable', 100, {}), { instanceOf: ConfChangeError, message: /can never rejoin/ });
  await t.throwsAsync(o.op.addMember('n2', '127.0.0.1:9', 'electable', 100, {}), { instanceOf: ConfChangeError, message: /already in the group at 127\.0\.0\.1:2/ });
  await t.throwsAsync(o.op.addMember('n1', '127.0.0.1:1', 'electable', 100, {}), { instanceOf: ConfChangeError, message: /already an electable member/ });
});

test('pingElection campaigns only when no leader is known and this node may campaign', (t) => {
  const state = { role: 'follower', leaderId: 'n2' as string | null, promotable: true };
  const o = operator(state);
  t.deepEqual(o.op.pingElection(), { action: 'none', reason: 'follows n2' });
  state.leaderId = null;
  state.promotable = false;
  t.is(o.op.pingElection().action, 'none');
  state.promotable = true;
  t.is(o.op.pingElection().action, 'campaign');
  t.is(o.campaigns(), 1);
  t.is(o.scheduled.count, 1);
  state.role = 'preCandidate';
  t.regex(o.op.pingElection().reason, /already under way \(PRE_CANDIDATE\)/);
});

test('RollbackKeeper: nothing to accept is refused, naming the state; no divergence, no task', async (t) => {
  const room = roomContext({ raft: { currentDivergence: null, status: () => ({ rollbackRequested: false }) } as never });
  const keeper = new RollbackKeeper(room.ctx);
  t.deepEqual(keeper.status(), { state: 'none' });
  t.false(keeper.rollingBack);
  keeper.checkDivergence();
  await t.throwsAsync(keeper.accept(), { instanceOf: InvalidArgumentError, message: /n1 has no prohibited rollback to accept \(rollback state: none\)/ });
});
