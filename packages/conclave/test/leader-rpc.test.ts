// LeaderRpc on its own (manual clock, a stand-in network): following the leader, never
// sending a write twice, and reviving remote errors as our own types.
import test from 'ava';
import { NotLeaderError, ProposalDroppedError, RequestTooLargeError } from '@conclave/core';
import { AdminRemoteError, type AdminRequestOptions } from '@conclave/transport';
import { InsufficientReplicasError, WriteOutcomeUnknownError, WriteReplacedError } from '../src/errors.js';
import { LeaderRpc, reviveError } from '../src/leader-rpc.js';
import { DEFAULT_DURABILITY } from '../src/options.js';
import type { LeaderRpcClient, Network } from '../src/seams.js';
import { roomContext, settle } from './rooms.js';
import { serveWriteMany, WRITE_MANY_METHOD } from '../src/write-many.js';

const WRITE = { data: new Uint8Array([1, 2, 3]), durability: DEFAULT_DURABILITY, needsOutcome: false };

const MEMBERS = [
  { id: 'n1', address: '127.0.0.1:1', type: 'electable', priority: 1, removed: false },
  { id: 'n2', address: '127.0.0.1:2', type: 'electable', priority: 1, removed: false },
  { id: 'n3', address: '127.0.0.1:3', type: 'electable', priority: 1, removed: false },
];

/**
 * Each address answers with `answer(method)`; every request is recorded. A batch of writes
 * (kv.writeMany) is answered write by write, as the leader does (write-many.ts).
 */
function rpcWith(state: { leaderId: string | null }, answer: (address: string, method: string, params?: { data: Uint8Array }) => Promise<unknown>, opts: { batches?: boolean; wholeBatch?: boolean } = {}) {
  const requests: { address: string; method: string; timeoutMs: number | undefined }[] = [];
  const serve = (address: string, method: string, params: unknown): Promise<unknown> => {
    if (method !== WRITE_MANY_METHOD || opts.wholeBatch) return answer(address, method, params as { data: Uint8Array });
    if (opts.batches === false) return Promise.reject(new AdminRemoteError('UNKNOWN_METHOD', `unknown admin method '${method}'`));
    return serveWriteMany(params, 60_000, (data) => answer(address, 'kv.write', { data }) as Promise<never>);
  };
  const network: Network = {
    createTransport: () => {
      throw new Error('not used');
    },
    connectAdmin: async (address): Promise<LeaderRpcClient> => ({
      closed: false,
      request: (method: string, params: unknown, o: AdminRequestOptions) => {
        requests.push({ address, method, timeoutMs: o.timeoutMs });
        return serve(address, method, params);
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
    return { token: { groupId: 'conclave', term: 2, index: 7 }, outcome: null };
  });
  const call = r.rpc.callLeader('kv.write', WRITE, 1000);
  await r.clock.advance(50);
  t.deepEqual(await call, { token: { groupId: 'conclave', term: 2, index: 7 }, outcome: null });
  t.deepEqual(
    r.requests.map((q) => `${q.method} ${q.address}`),
    [`${WRITE_MANY_METHOD} 127.0.0.1:2`, `${WRITE_MANY_METHOD} 127.0.0.1:3`],
  );
});

test('a write sent and not answered (the connection failed after sending) is never sent again: WriteOutcomeUnknownError', async (t) => {
  const r = rpcWith({ leaderId: 'n2' }, async () => {
    throw new Error('socket hang up');
  }, { wholeBatch: true });
  const call = t.throwsAsync(r.rpc.callLeader('kv.write', WRITE, 1000), { instanceOf: WriteOutcomeUnknownError, message: /did not answer \(socket hang up\); it may or may not take effect/ });
  await r.clock.advance(1100);
  await call;
  t.is(r.requests.length, 1, 'sent once, never again');
  t.true(r.requests[0]!.timeoutMs! <= 1000, 'the request carries what is left of the deadline');
});

test('a remote error other than NOT_LEADER is revived and thrown at once', async (t) => {
  const r = rpcWith({ leaderId: 'n2' }, async () => {
    throw new AdminRemoteError('INSUFFICIENT_REPLICAS', 'need 2, have 1', { required: 2, active: 1 });
  });
  const call = t.throwsAsync(r.rpc.callLeader('kv.write', WRITE, 1000), { instanceOf: InsufficientReplicasError });
  await r.clock.advance(1);
  const err = await call;
  t.is(r.requests.length, 1);
  t.is(err?.message, 'need 2, have 1');
});

test('no leader known: NotLeaderError once the deadline passes', async (t) => {
  const r = rpcWith({ leaderId: null }, async () => ({}));
  const call = t.throwsAsync(r.rpc.callLeader('kv.write', WRITE, 100), { instanceOf: NotLeaderError, message: /found no leader to take it within 100 ms/ });
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

const tagged = (tag: number) => ({ ...WRITE, data: new Uint8Array([tag]) });
const at = (index: number) => ({ token: { groupId: 'conclave', term: 2, index }, outcome: null });

test('a leader change during a batch: a write the old leader refused as not leader goes to the new one; one it proposed and lost is "may have happened" and never sent again', async (t) => {
  const state = { leaderId: 'n2' as string | null };
  const r = rpcWith(state, async (address, _method, params) => {
    const tag = params!.data[0]!;
    if (address === '127.0.0.1:3') return at(30 + tag);
    state.leaderId = 'n3'; // n2 steps down while it handles the batch
    if (tag === 2) throw new NotLeaderError('n3@127.0.0.1:3');
    if (tag === 3) throw new WriteOutcomeUnknownError('proposed at index 12 and then lost leadership; it may or may not take effect');
    return at(10 + tag);
  });
  const calls = [1, 2, 3].map((tag) => r.rpc.callLeader('kv.write', tagged(tag), 1000).then((v) => v, (e: unknown) => e));
  await r.clock.advance(50);
  const [a, b, c] = await Promise.all(calls);
  t.deepEqual(a, at(11));
  t.deepEqual(b, at(32), 'refused before it was proposed: sent again, to the new leader');
  t.true(c instanceof WriteOutcomeUnknownError, String(c));
  t.deepEqual(
    r.requests.map((q) => `${q.method} ${q.address}`),
    [`${WRITE_MANY_METHOD} 127.0.0.1:2`, `${WRITE_MANY_METHOD} 127.0.0.1:3`],
  );
});

test('a leader without kv.writeMany (UNKNOWN_METHOD) gets the batch\'s writes one kv.write each, and only kv.write after that', async (t) => {
  const r = rpcWith({ leaderId: 'n2' }, async (_address, _method, params) => at(params!.data[0]!), { batches: false });
  const calls = [1, 2].map((tag) => r.rpc.callLeader('kv.write', tagged(tag), 1000));
  await r.clock.advance(10);
  t.deepEqual(await Promise.all(calls), [at(1), at(2)]);
  const later = r.rpc.callLeader('kv.write', tagged(3), 1000);
  await r.clock.advance(10);
  t.deepEqual(await later, at(3));
  t.deepEqual(
    r.requests.map((q) => q.method),
    [WRITE_MANY_METHOD, 'kv.write', 'kv.write', 'kv.write'],
  );
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
