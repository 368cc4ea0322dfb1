// Two leaders in ONE term after the override (a partition, not a loss): the override side
// {n1, n2} and the true majority {n3, n4, n5} each elect a leader at the same term T and each
// commit a different write at the same index, with term T. (index, term) then no longer
// identifies an entry, and Raft's term comparison alone would let a member keep its own entry
// where the winner holds another: a silent divergence of state machines. What must hold
// instead (docs/reliability.md, "Rollback after a split brain"): no two members ever apply
// different entries at one index unless the member that differs from the winner reports it.
import test, { type ExecutionContext } from 'ava';
import type { Entry, NodeId } from '../src/index.js';
import { Net } from './net.js';

const ids5 = ['n1', 'n2', 'n3', 'n4', 'n5'];
const minority = ['n1', 'n2'];
const majority = ['n3', 'n4', 'n5'];
const text = (e: Entry) => `${e.type}:${new TextDecoder().decode(e.data)}`;

interface SplitTerm {
  net: Net;
  /** The shared term, and the index at which the two sides committed different writes. */
  term: number;
  index: number;
}

function leaderOf(net: Net, side: readonly NodeId[]): NodeId | undefined {
  return side.find((id) => net.node(id).currentRole === 'leader');
}

/** Ticks until `side` has a leader (bounded). */
function electOn(net: Net, side: readonly NodeId[]): NodeId {
  for (let i = 0; i < 100 && !leaderOf(net, side); i++) net.tickAll();
  const l = leaderOf(net, side);
  if (!l) throw new Error(`no leader on ${side.join(',')}`);
  return l;
}

/** Both sides start from the same term, each campaigns once: two leaders of term T. */
function splitTerm(t: ExecutionContext): SplitTerm {
  const net = new Net({ ids: ids5, seed: 2 });
  t.true(net.elect('n3'));
  net.propose('n3', 'common');
  const t0 = net.node('n3').currentTerm;
  for (const a of minority) for (const b of majority) net.cutLink(a, b);
  net.node('n1').setElectableGroupSizeOverride(2);
  net.node('n3').leaveElection();
  electOn(net, minority);
  electOn(net, majority);
  const left = leaderOf(net, minority)!;
  const right = leaderOf(net, majority)!;
  const term = net.node(left).currentTerm;
  t.is(term, t0 + 1, 'the override side campaigned once');
  t.is(net.node(right).currentTerm, term, 'the majority campaigned once: two leaders of one term');
  const index = net.propose(left, 'left');
  t.is(net.propose(right, 'right'), index, 'both sides write at the same index');
  for (const id of ids5) {
    t.is(net.node(id).termAt(index), term, `${id} holds (index ${index}, term ${term})`);
    t.true(net.node(id).commitIndex >= index, `${id} committed it`);
  }
  t.deepEqual(net.appliedValues('n2'), ['common', 'left']);
  t.deepEqual(net.appliedValues('n4'), ['common', 'right']);
  return { net, term, index };
}

/** The side's leader leaves and the side elects again, inside the partition: a higher term. */
function reelect(net: Net, side: readonly NodeId[]): NodeId {
  const before = net.node(leaderOf(net, side)!).currentTerm;
  net.node(leaderOf(net, side)!).leaveElection();
  const l = electOn(net, side);
  if (net.node(l).currentTerm <= before) throw new Error('no higher term');
  return l;
}

/**
 * The guarantee: a member whose applied entries differ from the leader's at some index
 * reports a divergence (it will roll back, or refuse to); nobody differs silently.
 * Returns the members that report one.
 */
function checkNoSilentDivergence(t: ExecutionContext, net: Net): NodeId[] {
  const leaders = net.leaders();
  t.is(leaders.length, 1, `one leader in the end (${leaders.join(',')})`);
  const leader = leaders[0]!;
  const byIndex = (id: NodeId) => new Map(net.applied.get(id)!.map((e) => [e.index, e] as const));
  const ours = byIndex(leader);
  const reporting: NodeId[] = [];
  for (const id of ids5) {
    if (id === leader) continue;
    const differs = [...byIndex(id)].filter(([i, e]) => ours.has(i) && text(ours.get(i)!) !== text(e)).map(([i]) => i);
    const reported = net.node(id).status().divergence !== null;
    if (reported) reporting.push(id);
    t.true(differs.length === 0 || reported, `${id} applied other entries than the leader ${leader} at [${differs.join(',')}] without reporting a divergence`);
  }
  return reporting;
}

test('two leaders of one term after an override heal: no silent divergence while both lead', (t) => {
  const { net, term } = splitTerm(t);
  net.healAll();
  for (let i = 0; i < 200 && net.leaders().length !== 1; i++) net.tickAll();
  net.tickAll(30);
  const reporting = checkNoSilentDivergence(t, net);
  const winners = net.leaders()[0]!;
  const losers = minority.includes(winners) ? majority : minority;
  t.deepEqual(reporting.sort(), [...losers].sort(), 'the losing side reports its divergence');
  const steppedDown = ids5.filter((id) => net.node(id).status().history.some((h) => h.event === 'TWO_LEADERS'));
  t.true(steppedDown.length > 0, 'a leader refused by a member of the other side stepped down');
  t.true(net.node(winners).currentTerm > term, 'and a new election gave the group one leader');
});

test('two leaders of one term, the majority wins on heal (higher term): the override side reports, never matches on (index, term)', (t) => {
  const { net, index } = splitTerm(t);
  const winner = reelect(net, majority);
  net.healAll();
  net.tickAll(30);
  t.deepEqual(net.leaders(), [winner]);
  t.deepEqual(checkNoSilentDivergence(t, net).sort(), [...minority]);
  for (const id of minority) t.true(net.node(id).status().divergence!.index <= index, `${id} counts the write at ${index} as diverged`);
});

test('two leaders of one term, the override side wins on heal (higher term): the majority reports, never matches on (index, term)', (t) => {
  const { net, index } = splitTerm(t);
  const winner = reelect(net, minority);
  net.healAll();
  net.tickAll(30);
  t.deepEqual(net.leaders(), [winner]);
  t.deepEqual(checkNoSilentDivergence(t, net).sort(), [...majority]);
  for (const id of majority) t.true(net.node(id).status().divergence!.index <= index, `${id} counts the write at ${index} as diverged`);
});

test('two leaders of one term, the winner compacted past the parting point: its snapshot is not taken for ours', (t) => {
  const { net, term, index } = splitTerm(t);
  // Every majority member snapshots at the diverged write (index, term T), then the majority
  // elects again: the winner can only offer that snapshot, at an (index, term) n1 holds too.
  for (const id of majority) net.node(id).compact(index);
  const winner = reelect(net, majority);
  const leader = net.node(winner);
  t.is(leader.termAt(index), term);
  const n1 = net.node('n1');
  const committed = n1.commitIndex;
  net.healAll();
  // Play the driver: the leader's snapshot data is staged before the message is stepped.
  const stage = (m: { type: string; snapshot: unknown }) => {
    if (m.type === 'snap' && m.snapshot === null) m.snapshot = { index, term, group: leader.groupMetadata };
    return true;
  };
  for (let i = 0; i < 10; i++) {
    for (const n of net.nodes.values()) n.tick();
    net.settle(stage);
  }
  t.true(net.sent.some((m) => m.type === 'snap' && m.to === 'n1'), 'the leader offered its snapshot');
  t.is(n1.commitIndex, committed, 'n1 kept its committed entries');
  t.deepEqual(net.appliedValues('n1'), ['common', 'left'], 'and its state');
  t.truthy(n1.status().divergence, 'and reports the divergence instead of taking the snapshot for its own entries');
  t.deepEqual(checkNoSilentDivergence(t, net).sort(), [...minority]);
});
