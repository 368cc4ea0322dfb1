// What a leader tells the caller of each write (issue 11, items 8, 9 and 15), on a real
// node driven by forged messages (driver-harness.ts): writes keyed by (term, index), the
// 'all' policy, and error codes that say whether the write did not happen, happened, or
// may have happened.
import test from 'ava';
import { StorageIoError } from '@conclave/storage';
import { DriverHarness } from './driver-harness.js';
import { codeOf as outcome, within } from './helpers.js';

/** Resolves with `p`'s value, or 'pending' when it has not settled after the loop drained. */
async function stateOf(h: DriverHarness, p: Promise<string>): Promise<string> {
  await h.idle();
  return Promise.race([p, new Promise<string>((r) => setImmediate(() => r('pending')))]);
}

test('writes are keyed by (term, index): a truncated write settles as replaced, and its timer never touches the write that reuses its index (items 8, 15)', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  const t1 = h.raft.currentTerm;
  const base = h.raft.status().lastIndex; // the leader's first entry, acknowledged by n2
  // Three writes in t1, never acknowledged: at base+1, base+2, base+3. The last one times out soon.
  const a = outcome(h.node.put('a', 1, { durability: { ackTimeoutMs: 60_000 } }));
  const b = outcome(h.node.put('b', 1, { durability: { ackTimeoutMs: 60_000 } }));
  const c = outcome(h.node.put('c', 1, { durability: { ackTimeoutMs: 1500 } }));
  await h.idle();
  t.is(h.raft.status().lastIndex, base + 3);

  // n2 leads in t1+1: its first entry replaces base+1 (and truncates base+2, base+3) and commits.
  const t2 = t1 + 1;
  h.deliver(h.message('app', 'n2', { term: t2, index: base, logTerm: t1, commit: base + 1, entries: [{ index: base + 1, term: t2, type: 'noop', data: new Uint8Array(0) }] }));
  t.is(await stateOf(h, a), 'WRITE_REPLACED', 'a: another entry committed at its index, so it surely did not happen');
  t.is(h.raft.status().lastIndex, base + 1);

  // n1 is elected again in t2+1: its first entry goes to base+2, the next write to base+3.
  await h.winElection();
  const t3 = h.raft.currentTerm;
  let dResult: { token: { index: number; term: number } } | null = null;
  const d = outcome(h.node.put('d', 2, { durability: { ackTimeoutMs: 60_000 } }).then((r) => (dResult = r)));
  await h.idle();
  t.is(h.raft.status().lastIndex, base + 3, 'd reuses the index of c');

  // c's timer fires: it settles c, not d.
  t.is(await within(c, 10_000, 'c'), 'WRITE_OUTCOME_UNKNOWN', 'c may still commit elsewhere: unknown');
  t.is(await stateOf(h, d), 'pending', "c's timer did not settle d");

  // n2 acknowledges n1's t3 entries: base+2 (n1's first entry) and d at base+3 commit.
  h.ack('n2', base + 3);
  t.is(await stateOf(h, b), 'WRITE_REPLACED', 'b: n1\'s own t3 entry committed at its index');
  t.is(await within(d, 10_000, 'd'), 'ok');
  t.deepEqual(dResult!.token.index, base + 3);
  t.deepEqual(dResult!.token.term, t3);
  t.is(await h.node.get('d', { consistency: 'none' }), 2);
  t.is(await h.node.get('c', { consistency: 'none' }), undefined);
});

test("replicaAck 'all': a compare-and-set resolves only once every electable member has it (item 9)", async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  h.deliver(h.message('heartbeatResp', 'n3')); // n3 counts as connected, so 'all' may start
  await h.idle();
  const cas = outcome(h.node.compareAndSet('k', undefined, 'v', { durability: { replicaAck: 'all', ackTimeoutMs: 1500 } }));
  await h.idle();
  const index = h.raft.status().lastIndex;
  h.ack('n2', index); // a majority: committed and applied, but n3 never acknowledges
  await h.idle();
  t.is(h.node.status().appliedIndex, index);
  t.is(await within(cas, 10_000, 'the compare-and-set'), 'INSUFFICIENT_ACKS');

  // With n3's ack as well it resolves, with the compare's outcome.
  h.deliver(h.message('heartbeatResp', 'n3'));
  const cas2 = h.node.compareAndSet('k', 'v', 'w', { durability: { replicaAck: 'all', ackTimeoutMs: 60_000 } });
  await h.idle();
  const index2 = h.raft.status().lastIndex;
  h.ack('n2', index2);
  await h.idle();
  t.is(await stateOf(h, outcome(cas2)), 'pending', 'applied on a majority is not enough');
  h.ack('n3', index2);
  const r = await within(cas2, 10_000, 'the second compare-and-set');
  t.true(r.succeeded);
  t.is(r.current, 'v');
});

test("replicaAck 'all': a write still waiting when the leader steps down fails with InsufficientAcksError, even if it then commits (item 9)", async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  h.deliver(h.message('heartbeatResp', 'n3'));
  await h.idle();
  const t1 = h.raft.currentTerm;
  const w = outcome(h.node.put('x', 1, { durability: { replicaAck: 'all', ackTimeoutMs: 60_000 } }));
  await h.idle();
  const index = h.raft.status().lastIndex;
  // n2 leads in t1+1 with n1's entry, and commits it: applied on n1 as a follower.
  h.deliver(h.message('app', 'n2', { term: t1 + 1, index, logTerm: t1, commit: index }));
  t.is(await stateOf(h, w), 'INSUFFICIENT_ACKS');
  t.false(h.node.isLeader);
  t.is(h.node.status().appliedIndex, index);
});

test('a write in flight when the node closes may have happened: WRITE_OUTCOME_UNKNOWN; a write after close: NODE_CLOSED (item 15)', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  const w = outcome(h.node.put('x', 1, { durability: { ackTimeoutMs: 60_000 } }));
  await h.idle();
  await h.node.close();
  t.is(await within(w, 5000, 'the write'), 'WRITE_OUTCOME_UNKNOWN');
  t.is(await outcome(h.node.put('y', 1)), 'NODE_CLOSED', 'refused before anything was proposed: did not happen');
});

test('a write in flight when the node fails may have happened: WRITE_OUTCOME_UNKNOWN, with the failure as its cause (item 15)', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  h.node.on('error', () => {});
  await h.electSelf();
  const w = h.node.put('x', 1, { durability: { ackTimeoutMs: 60_000 } });
  w.catch(() => {});
  await h.idle();
  // The leader's appends went out before its own write; then its disk fails.
  const original = h.storage.writeReady.bind(h.storage);
  h.storage.writeReady = async (rd) => {
    if (rd.entries && rd.entries.length > 0) throw new StorageIoError(h.options.dataDir, 'write failed (injected)');
    return original(rd);
  };
  const w2 = h.node.put('y', 1, { durability: { ackTimeoutMs: 60_000 } });
  const err = await within(w2.then(() => null, (e: Error & { code?: string }) => e), 10_000, 'the second write');
  t.is(err?.code, 'WRITE_OUTCOME_UNKNOWN');
  t.is((err?.cause as { code?: string } | undefined)?.code, 'STORAGE_IO');
  t.is(await outcome(w), 'WRITE_OUTCOME_UNKNOWN');
  t.is(await outcome(h.node.put('z', 1)), 'STORAGE_IO', 'after the failure, nothing is proposed');
});

test('a write that outlives its deadline while there is no leader answers WRITE_OUTCOME_UNKNOWN, not NOT_LEADER (item 15)', async (t) => {
  const h = await DriverHarness.open('n3');
  t.teardown(() => h.close());
  t.is(h.raft.leaderId, null);
  const err = h.node.deadlineError('write', 1000);
  t.is((err as { code?: string }).code, 'WRITE_OUTCOME_UNKNOWN');
  t.regex(err.message, /no leader|leader/);
  // A read has no effect: it may say there is no leader.
  t.is((h.node.deadlineError('read', 1000) as { code?: string }).code, 'NOT_LEADER');
});
