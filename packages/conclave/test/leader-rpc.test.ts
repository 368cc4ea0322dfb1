// LeaderRpc on its own (manual clock, a stand-in network): following the leader, never
// sending a write twice, and reviving remote errors as our own types.
import test from 'ava';
import { NotLeaderError, ProposalDroppedError, RequestTooLargeError } from '@conclave/core';
import { AdminRemoteError, type AdminRequestOptions } from '@conclave/transport';
import { InsufficientReplicasError, WriteOutcomeUnknownError, WriteReplacedError } from '../src/errors.js';
import { LeaderRpc, reviveError } from '../src/leader-rpc.js';
import type { LeaderRpcClient, Network } from '../src/seams.js';
import { roomContext, settle } from './rooms.js';

const MEMBERS = [
  { id: 'n1', address: '127.0.0.1:1', type: 'electable', priority: 1, removed: false },
  { id: 'n2', address: '127.0.0.1:2', type: 'electable', priority: 1, removed: false },
  { id: 'n3', address: '127.0.0.1:3', type: 'electable', priority: 1, removed: false },
];

/** Each address answers with `answer(method)`; every request is recorded. */
function rpcWith(state: { leaderId: string | null }, answer: (address: string, method: string) => Promise<unknown>) {
  const requests: { address: string; method: string; timeoutMs: number | undefined }[] = [];
  const network: Network = {
    createTransport: () => {
      throw new Error('not used');
    },
    connectAdmin: async (address): Promise<LeaderRpcClient> => ({
      closed: false,
      request: (method: string, _params: unknown, o: AdminRequestOptions) => {
        requests.push({ address, method, timeoutMs: o.timeoutMs });
        return answer(address, method);
      },
      close: async () => {},
    }),
  };
  const local = { proposed: 0 };
  const room = roomContext({
    seams: { network },
    raft: {
      get leaderId() {
        return state.leaderId;
      },
      get currentRole() {
        return state.leaderId === 'n1' ? 'leader' : 'follower';
      },
      groupMetadata: { groupId: 'conclave', members: MEMBERS },
    } as never,
  });
  const rpc = new LeaderRpc(room.ctx, {
    proposeLocal: async () => {
      local.proposed++;
      return { token: { groupId: 'conclave', term: 1, index: 1 }, outcome: null };
    },
    changeMembershipLocal: async () => ({ groupId: 'conclave', members: [] }),
    status: () => ({}) as never,
  });
  return { ...room, rpc, requests, local };
}

test('callLeader follows NOT_LEADER to the new leader', async (t) => {
  const state = { leaderId: 'n2' as string | null };
  const r = rpcWith(state, async (address) => {
    if (address === '127.0.0.1:2') {
      state.leaderId = 'n3';
      throw new AdminRemoteError('NOT_LEADER', 'n2 is not the leader', { leaderHint: 'n3@127.0.0.1:3' });
    }
    return { ok: address };
  });
  const call = r.rpc.callLeader('kv.write', {}, 1000);
  await r.clock.advance(50);
  t.deepEqual(await call, { ok: '127.0.0.1:3' });
  t.deepEqual(
    r.requests.map((q) => q.address),
    ['127.0.0.1:2', '127.0.0.1:3'],
  );
});

test('a write sent and not answered (the connection failed after sending) is never sent again: WriteOutcomeUnknownError', async (t) => {
  const r = rpcWith({ leaderId: 'n2' }, async () => {
    throw new Error('socket hang up');
  });
  const call = t.throwsAsync(r.rpc.callLeader('kv.write', {}, 1000), { instanceOf: WriteOutcomeUnknownError, message: /did not answer \(socket hang up\); it may or may not take effect/ });
  await r.clock.advance(1100);
  await call;
  t.is(r.requests.length, 1, 'sent once, never again');
  t.true(r.requests[0]!.timeoutMs! <= 1000, 'the request carries what is left of the deadline');
});

test('a remote error other than NOT_LEADER is revived and thrown at once', async (t) => {
  const r = rpcWith({ leaderId: 'n2' }, async () => {
    throw new AdminRemoteError('INSUFFICIENT_REPLICAS', 'need 2, have 1', { required: 2, active: 1 });
  });
  const err = await t.throwsAsync(r.rpc.callLeader('kv.write', {}, 1000), { instanceOf: InsufficientReplicasError });
  t.is(r.requests.length, 1);
  t.is(err?.message, 'need 2, have 1');
});

test('no leader known: NotLeaderError once the deadline passes', async (t) => {
  const r = rpcWith({ leaderId: null }, async () => ({}));
  const call = t.throwsAsync(r.rpc.callLeader('kv.write', {}, 100), { instanceOf: NotLeaderError, message: /no leader answered within 100 ms/ });
  await r.clock.advance(150);
  await call;
  t.is(r.requests.length, 0);
});

test('when this node leads, a forwarded write is proposed here', async (t) => {
  const r = rpcWith({ leaderId: 'n1' }, async () => ({}));
  await r.rpc.callLeader('kv.write', { data: new Uint8Array(), durability: {}, needsOutcome: false }, 100);
  t.is(r.local.proposed, 1);
  t.is(r.requests.length, 0);
});

test('reviveError keeps the code and the data that say what happened', (t) => {
  t.true(reviveError(new AdminRemoteError('WRITE_REPLACED', 'replaced', { index: 4, term: 2 })) instanceof WriteReplacedError);
  t.true(reviveError(new AdminRemoteError('PROPOSAL_DROPPED', 'dropped')) instanceof ProposalDroppedError);
  const big = reviveError(new AdminRemoteError('REQUEST_TOO_LARGE', 'big', { sizeBytes: 10, limitBytes: 5 }));
  t.true(big instanceof RequestTooLargeError);
  const other = new AdminRemoteError('SOMETHING_ELSE', 'x');
  t.is(reviveError(other), other, 'an unknown code stays the remote error, with its code');
  t.is(reviveError('plain').message, 'plain');
});
