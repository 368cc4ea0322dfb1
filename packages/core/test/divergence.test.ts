// Override divergence (JE HA hard recovery) in the core: the exact point where two committed
// histories part, and no snapshot that silently discards diverged committed entries.
import test from 'ava';
import { appendContext, checkCommitted, noopData, parseOverrideContext, parsePrevLeader, overrideContext, sameEntry, spanOverlaps, type Entry, type NodeId } from '../src/index.js';
import { RaftLog } from '../src/log.js';
import { Net } from './net.js';

const ids5 = ['n1', 'n2', 'n3', 'n4', 'n5'];

/**
 * Split brain: n1 and n2 run with override 2 and commit `minorityWrites`; n3-n5 move to a
 * higher term and commit `majorityWrites`. Returns before healing.
 */
function splitBrain(minorityWrites: number, majorityWrites: number, overrideOn: readonly NodeId[] = ['n1', 'n2']): { net: Net; minorityLeader: NodeId; majorityLeader: NodeId; common: number } {
  const net = new Net({ ids: ids5, seed: 2 });
  if (!net.elect('n3')) throw new Error('n3 did not win');
  net.propose('n3', 'common');
  const common = net.node('n1').commitIndex;
  for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) net.cutLink(a, b);
  for (const id of overrideOn) net.node(id).setElectableGroupSizeOverride(2);
  for (let i = 0; i < 60 && net.node('n1').currentRole !== 'leader' && net.node('n2').currentRole !== 'leader'; i++) net.tickAll();
  const minorityLeader = ['n1', 'n2'].find((id) => net.node(id).currentRole === 'leader');
  if (!minorityLeader) throw new Error('the override side elected no leader');
  for (let i = 0; i < minorityWrites; i++) net.propose(minorityLeader, `lost-${i}`);
  const majorityLeaderNow = () => ['n3', 'n4', 'n5'].find((id) => net.node(id).currentRole === 'leader');
  for (let round = 0; round < 20 && !(majorityLeaderNow() && net.node(majorityLeaderNow()!).currentTerm > net.node(minorityLeader).currentTerm); round++) {
    const l = majorityLeaderNow();
    if (l) net.node(l).leaveElection();
    for (let i = 0; i < 60 && !majorityLeaderNow(); i++) net.tickAll();
  }
  const majorityLeader = majorityLeaderNow();
  if (!majorityLeader || net.node(majorityLeader).currentTerm <= net.node(minorityLeader).currentTerm) throw new Error('the majority side did not reach a higher term');
  for (let i = 0; i < majorityWrites; i++) net.propose(majorityLeader, `kept-${i}`);
  return { net, minorityLeader, majorityLeader, common };
}

/**
 * The first index at which two nodes' logs hold different entries: another term, or the same
 * term written by another leader (the override lets two leaders share a term: sameEntry).
 */
function firstDifference(net: Net, a: NodeId, b: NodeId): number {
  const applied = (id: NodeId) => new Map(net.applied.get(id)!.map((e) => [e.index, e] as const));
  const [ea, eb] = [applied(a), applied(b)];
  const [na, nb] = [net.node(a), net.node(b)];
  for (let i = 1; i <= Math.max(na.status().lastIndex, nb.status().lastIndex); i++) {
    const [x, y] = [ea.get(i), eb.get(i)];
    if (x && y ? !sameEntry(x, y) : na.termAt(i) !== nb.termAt(i)) return i;
  }
  return 0;
}

test('the divergence starts at the first index where the logs really differ, not at the leader\'s probe', (t) => {
  // The minority wrote more than the majority: the leader's first probe lands inside n1's
  // committed diverged entries, several indexes after the point where the logs part.
  const { net, majorityLeader, common } = splitBrain(8, 1);
  const n1 = net.node('n1');
  const leader = net.node(majorityLeader);
  const parts = firstDifference(net, 'n1', majorityLeader);
  t.true(parts > common, 'the logs share the common prefix');
  t.true(leader.status().lastIndex < n1.commitIndex, 'the leader\'s probe is inside n1\'s committed entries');
  net.healAll();
  net.tickAll(4);
  const d = n1.status().divergence;
  t.truthy(d, 'n1 reports the divergence');
  t.is(d!.index, parts, 'counted from the first differing index');
  t.true(d!.exact);
  t.is(d!.committed, n1.commitIndex);
  t.deepEqual(d!.leaderOverride, null, 'the majority leader never ran with an override');
  t.is(n1.termAt(parts - 1), leader.termAt(parts - 1), 'the entry before it is the same on both');
  t.deepEqual(net.appliedValues('n1').filter((v) => v.startsWith('lost-')).length, 8, 'nothing was discarded');
  t.is(n1.status().history.find((h) => h.event === 'DIVERGED')?.from, 'FOLLOWER', 'the history records the divergence');
});

test('a diverged node refuses a snapshot that would discard its committed entries', (t) => {
  const { net, majorityLeader } = splitBrain(3, 3);
  const n1 = net.node('n1');
  net.healAll();
  net.tickAll(4);
  const d = n1.status().divergence;
  t.truthy(d);
  const committed = n1.commitIndex;
  const leader = net.node(majorityLeader);
  // The leader snapshots and compacts (snapshot interval, entries kept 0), then offers its snapshot.
  const meta = { index: leader.appliedIndex, term: leader.termAt(leader.appliedIndex)!, group: leader.groupMetadata };
  t.true(meta.index > committed || !n1.termAt(meta.index) || n1.termAt(meta.index) !== meta.term);
  const snap = { type: 'snap' as const, from: majorityLeader, to: 'n1', term: leader.currentTerm, logTerm: 0, index: meta.index, entries: [], commit: leader.commitIndex, reject: false, rejectHint: 0, context: '', snapshot: meta };
  n1.step(snap);
  const rd = n1.ready();
  t.is(rd.snapshot, null, 'the snapshot is not installed');
  t.is(n1.commitIndex, committed);
  t.deepEqual(n1.status().divergence, d, 'the divergence stands');
  const resp = [...rd.messages, ...rd.messagesAfterPersist].find((m) => m.type === 'appResp' && m.to === majorityLeader);
  t.true(resp?.reject, 'the leader does not count it as caught up');
  t.is(resp?.context, 'diverged');
  n1.advance(rd);
  t.deepEqual(net.appliedValues('n1').filter((v) => v.startsWith('lost-')).length, 3);
  // The leader sends no more snapshots to it until it asks for one.
  leader.compact(leader.appliedIndex);
  net.inflight.push(resp!);
  const before = net.sent.filter((m) => m.type === 'snap' && m.to === 'n1').length;
  net.tickAll(5);
  t.is(net.sent.filter((m) => m.type === 'snap' && m.to === 'n1').length, before, 'no snapshot streamed to a node that refuses it');
  t.truthy(n1.status().divergence);
  // Once the driver accepts the rollback, it asks, gets the snapshot, and rolls back.
  n1.requestRollback();
  net.tickAll(3);
  t.true(net.sent.filter((m) => m.type === 'snap' && m.to === 'n1').length > before, 'the rollback asks for the snapshot');
});

test('a leader that compacted past the parting point: the follower still refuses, with a bounded, inexact count', (t) => {
  const { net, majorityLeader, common } = splitBrain(3, 4);
  const leader = net.node(majorityLeader);
  const n1 = net.node('n1');
  const parts = firstDifference(net, 'n1', majorityLeader);
  // The majority leader snapshots with entries kept 0 before the partition heals.
  leader.compact(leader.appliedIndex);
  const committed = n1.commitIndex;
  const lostBefore = net.appliedValues('n1').filter((v) => v.startsWith('lost-')).length;
  net.healAll();
  // Play the driver: the leader's snapshot data is staged before the message is stepped.
  const stage = (m: { type: string; snapshot: unknown }) => {
    if (m.type === 'snap' && m.snapshot === null) m.snapshot = { index: leader.appliedIndex, term: leader.termAt(leader.appliedIndex)!, group: leader.groupMetadata };
    return true;
  };
  for (let i = 0; i < 6; i++) {
    for (const n of net.nodes.values()) n.tick();
    net.settle(stage);
  }
  t.true(net.sent.some((m) => m.type === 'snap' && m.to === 'n1'), 'the leader offered its snapshot');
  t.is(n1.commitIndex, committed, 'n1 kept its committed entries');
  t.is(net.appliedValues('n1').filter((v) => v.startsWith('lost-')).length, lostBefore);
  t.deepEqual(n1.status().history.filter((h) => h.event === 'SNAPSHOT_INSTALLED'), []);
  const d = n1.status().divergence;
  t.truthy(d, 'n1 reports the divergence');
  t.false(d!.exact, 'the leader can no longer show where the logs part');
  // Entries committed before n1 set its override were committed by a true majority.
  t.is(d!.index, n1.overrideSpan!.from);
  t.true(d!.index > common && d!.index <= parts, 'a lower bound of the true parting point: the count is never too small');
  t.is(d!.committed, committed);
});

test('committed-entry checks and the override context', (t) => {
  const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(0) });
  const noop = (index: number, term: number, leader: string): Entry => ({ index, term, type: 'noop', data: noopData(leader) });
  // Terms 1 (1-3) and 2 (4-10, led by n3: its noop at 4); committed up to 5.
  const log = new RaftLog({ snapshotIndex: 0, snapshotTerm: 0, entries: [e(1, 1), e(2, 1), e(3, 1), noop(4, 2, 'n3'), ...[5, 6, 7, 8, 9, 10].map((i) => e(i, 2))], committed: 5, applied: 0 });
  t.deepEqual(checkCommitted(log, 6, 3, []), { kind: 'ok' }, 'above our commit: the usual conflict rules');
  t.deepEqual(checkCommitted(log, 5, 3, []), { kind: 'mismatch', index: 5, below: 4 });
  t.deepEqual(checkCommitted(log, 3, 1, [noop(4, 2, 'n3'), e(5, 3), e(6, 3)]), { kind: 'diverged', index: 5 });
  t.deepEqual(checkCommitted(log, 3, 1, [noop(4, 2, 'n3'), e(5, 2), e(6, 3)]), { kind: 'ok' });
  // Another leader of term 2 (the override's split brain): same terms, another leader.
  t.deepEqual(checkCommitted(log, 5, 2, [], 'n1'), { kind: 'mismatch', index: 5, below: 3 }, 'a probe in term 2 from n1 backs off before our term 2');
  t.deepEqual(checkCommitted(log, 5, 2, [], 'n3'), { kind: 'ok' });
  t.deepEqual(checkCommitted(log, 5, 2, []), { kind: 'ok' }, 'the leader cannot name the term\'s leader: the term decides');
  t.deepEqual(checkCommitted(log, 3, 1, [noop(4, 2, 'n1'), e(5, 2)]), { kind: 'diverged', index: 4 }, 'noops naming two leaders differ');
  t.deepEqual(checkCommitted(log, 2, 1, [e(3, 1), e(4, 2), e(5, 2)]), { kind: 'diverged', index: 4 }, 'term 2 started elsewhere on the leader');
  t.is(overrideContext(null), '');
  t.deepEqual(parseOverrideContext(overrideContext({ from: 35, to: 0 })), { from: 35, to: 0 });
  t.deepEqual(parseOverrideContext('override:7:20'), { from: 7, to: 20 });
  t.is(parseOverrideContext('override:x:1'), null);
  t.is(parseOverrideContext('transfer'), null);
  t.is(appendContext(null, undefined), '');
  t.deepEqual(parseOverrideContext(appendContext({ from: 7, to: 0 }, 'n1')), { from: 7, to: 0 });
  t.is(parsePrevLeader(appendContext({ from: 7, to: 0 }, 'n1')), 'n1');
  t.is(parsePrevLeader(appendContext(null, 'n2')), 'n2');
  t.is(parsePrevLeader(overrideContext({ from: 7, to: 0 })), undefined);
  t.is(parsePrevLeader(appendContext(null, 'bad;id')), undefined, 'an id that is not a member id is left out');
});

test('the override span follows set and clear, and the leader tells followers about it', (t) => {
  const net = new Net({ ids: ['n1', 'n2', 'n3'] });
  t.true(net.elect('n1'));
  net.propose('n1', 'a');
  const n1 = net.node('n1');
  t.is(n1.overrideSpan, null);
  const c = n1.commitIndex;
  n1.setElectableGroupSizeOverride(1);
  t.deepEqual(n1.overrideSpan, { from: c + 1, to: 0 });
  net.propose('n1', 'b');
  const app = net.sent.filter((m) => m.type === 'app' && m.from === 'n1').pop();
  t.deepEqual(parseOverrideContext(app!.context), { from: c + 1, to: 0 });
  t.is(parsePrevLeader(app!.context), 'n1', 'and the leader of the probe\'s term');
  n1.setElectableGroupSizeOverride(0);
  t.deepEqual(n1.overrideSpan, { from: c + 1, to: n1.status().lastIndex });
});

test('a follower that committed under its leader\'s override knows it, and the divergence is one an override explains', (t) => {
  // Only n1 runs with the override; n2 only follows it and commits what n1 commits.
  const { net, minorityLeader, majorityLeader, common } = splitBrain(3, 2, ['n1']);
  t.is(minorityLeader, 'n1');
  const n2 = net.node('n2');
  t.is(n2.electableGroupSizeOverride, 0);
  const committed = n2.commitIndex;
  t.true(committed > common, 'n2 committed the minority\'s writes');
  t.deepEqual(n2.overrideSpan, { from: common + 1, to: committed }, 'n2 records them as committed under an override, closed at its commit');
  net.healAll();
  net.tickAll(4);
  const d = n2.status().divergence;
  t.truthy(d, 'n2 reports the divergence');
  t.is(d!.leader, majorityLeader);
  t.is(d!.leaderOverride, null, 'the majority leader never ran with an override');
  // The driver's rule (decideRollback): an override span must explain the diverged entries.
  t.true(spanOverlaps(n2.overrideSpan, d!.index, d!.committed), 'n2\'s own span covers what it would lose: a rollback, not damaged data');
});

test('a follower of a leader without an override records no span', (t) => {
  const net = new Net({ ids: ['n1', 'n2', 'n3'] });
  t.true(net.elect('n1'));
  net.propose('n1', 'a');
  for (const id of ['n1', 'n2', 'n3']) t.is(net.node(id).overrideSpan, null);
  // Once the leader sets one, followers record what they commit under it, closed at their commit.
  const c = net.node('n1').commitIndex;
  net.node('n1').setElectableGroupSizeOverride(1);
  net.propose('n1', 'b');
  net.tickAll(2);
  t.deepEqual(net.node('n2').overrideSpan, { from: c + 1, to: net.node('n2').commitIndex });
});

test('a write made durable counts only for the entries it wrote, not for same-term entries of another leader that replaced them', (t) => {
  const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(0) });
  const noop = (index: number, term: number, leader: string): Entry => ({ index, term, type: 'noop', data: noopData(leader) });
  // Durable up to 3; n1's term-2 entries 4-6 are handed to storage.
  const log = new RaftLog({ snapshotIndex: 0, snapshotTerm: 0, entries: [e(1, 1), e(2, 1), e(3, 1)], committed: 3, applied: 3 });
  log.appendFromLeader(3, [noop(4, 2, 'n1'), e(5, 2), e(6, 2)]);
  const handed = log.unstableEntries();
  log.markHandedForPersist();
  // Before that write is durable, n2, the other leader of term 2 under the override, replaces them.
  log.appendFromLeader(3, [noop(4, 2, 'n2'), e(5, 2), e(6, 2)]);
  t.is(log.termLeaderAt(6), 'n2');
  log.stableTo(handed);
  t.is(log.stableIndex, 3, "n1's write made n1's entries durable, not n2's: (index, term) alike is not the same entry");
  const replaced = log.unstableEntries();
  log.markHandedForPersist();
  log.stableTo(replaced);
  t.is(log.stableIndex, 6);
});
