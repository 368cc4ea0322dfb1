import test from 'ava';
import {
  ConfChangeError,
  ConfChangePendingError,
  emptyMessage,
  initialGroup,
  InvalidArgumentError,
  InvariantError,
  NotLeaderError,
  ProposalDroppedError,
  RaftNode,
  seededRandom,
  type Entry,
  type Message,
} from '../src/index.js';
import { bytes, Net } from './net.js';

const ids3 = ['n1', 'n2', 'n3'];
const ids5 = ['n1', 'n2', 'n3', 'n4', 'n5'];
const hist = (n: RaftNode) => n.status().history.map((h) => `${h.from}:${h.event}:${h.to}`);

// ------------------------------------------------------------------ elections

test('bootstrap: every member writes the same committed membership entries', (t) => {
  const net = new Net({ ids: ['n2', 'n1', 'n3'] });
  for (const id of ['n1', 'n2', 'n3']) {
    const st = net.node(id).status();
    t.is(st.commitIndex, 3);
    t.is(st.electableGroupSize, 3);
    t.deepEqual(
      net.applied.get(id)!.map((e) => e.change?.op === 'addElectable' && e.change.id),
      ['n1', 'n2', 'n3'],
      'sorted by id, so identical on every node',
    );
  }
  t.throws(() => RaftNode.bootstrap({ id: 'n9', random: seededRandom(1) }, initialGroup('g', { n1: '127.0.0.1:1' })), {
    instanceOf: InvalidArgumentError,
    message: /'n9' is not among the bootstrap members/,
  });
});

test('a sole voter elects itself at once, without an election timeout, and commits alone', (t) => {
  const net = new Net({ ids: ['n1'] });
  // No tick: the bootstrap membership is applied, and the only voter campaigns and wins.
  t.is(net.node('n1').currentRole, 'leader');
  net.propose('n1', 'a');
  t.deepEqual(net.appliedValues('n1'), ['a']);
  t.deepEqual(hist(net.node('n1')).slice(0, 3), [
    'CANDIDATE:VOTE_QUORUM:LEADER',
    'PRE_CANDIDATE:PREVOTE_GRANTED:CANDIDATE',
    'FOLLOWER:SOLE_VOTER:PRE_CANDIDATE',
  ]);
});

test('a restarted sole voter leads at once; a member of a larger group, or one whose override needs more votes, waits', (t) => {
  const restore = (members: string[], override = 0) =>
    RaftNode.restore(
      { id: 'n1', random: seededRandom(1), electableGroupSizeOverride: override },
      {
        hardState: { term: 3, vote: 'n1', commit: members.length },
        group: initialGroup('g', Object.fromEntries(members.map((id, i) => [id, `127.0.0.1:${7001 + i}`]))),
        compactedIndex: members.length,
        compactedTerm: 1,
        entries: [],
        applied: members.length,
      },
    );
  const alone = restore(['n1']);
  t.is(alone.currentRole, 'leader');
  t.is(alone.status().term, 4);
  t.is(restore(['n1', 'n2', 'n3']).currentRole, 'follower');
  // An override of 3 on a group of one: a quorum of 2 that one vote cannot reach.
  t.is(restore(['n1'], 3).currentRole, 'follower');
});

test('a follower left as the only voter by a removal campaigns at once', (t) => {
  const net = new Net({ ids: ['n1', 'n2'], seed: 5 });
  for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAll();
  const leader = net.leaders()[0]!;
  const other = leader === 'n1' ? 'n2' : 'n1';
  net.node(leader).proposeConfChange({ op: 'remove', id: leader });
  net.settle();
  t.is(net.node(other).currentRole, 'leader', 'no tick was needed');
  t.true(hist(net.node(other)).includes('FOLLOWER:SOLE_VOTER:PRE_CANDIDATE'));
});

test('three nodes elect exactly one leader by timeout, and replicate', (t) => {
  const net = new Net({ ids: ids3, seed: 3 });
  for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAll();
  t.is(net.leaders().length, 1);
  const l = net.leaders()[0]!;
  net.propose(l, 'x');
  for (const id of ids3) t.deepEqual(net.appliedValues(id), ['x']);
});

test('vote rules: up-to-date check, one vote per term, re-grant to the same candidate', (t) => {
  // n1 has entries up to index 3 term 1 (the bootstrap). Ask it for votes with various logs.
  const cases: { name: string; term: number; index: number; logTerm: number; from: string; grant: boolean }[] = [
    { name: 'longer log, same last term', term: 2, index: 4, logTerm: 1, from: 'n2', grant: true },
    { name: 'same log', term: 2, index: 3, logTerm: 1, from: 'n2', grant: true },
    { name: 'shorter log, same last term', term: 2, index: 2, logTerm: 1, from: 'n2', grant: false },
    { name: 'higher last term, shorter log', term: 2, index: 1, logTerm: 2, from: 'n2', grant: true },
    { name: 'lower last term, longer log', term: 2, index: 9, logTerm: 0, from: 'n2', grant: false },
  ];
  for (const c of cases) {
    const net = new Net({ ids: ids3 });
    const n1 = net.node('n1');
    const m = emptyMessage('vote', c.from, 'n1', c.term);
    m.index = c.index;
    m.logTerm = c.logTerm;
    n1.step(m);
    const rd = n1.ready();
    const resp = rd.messagesAfterPersist.find((x) => x.type === 'voteResp');
    t.truthy(resp, c.name);
    t.is(resp!.reject, !c.grant, c.name);
    t.is(rd.messages.filter((x) => x.type === 'voteResp').length, 0, 'a vote answer waits for the vote to be durable');
    if (c.grant) t.deepEqual(rd.hardState, { term: c.term, vote: c.from, commit: 3 });
    n1.advance(rd);
  }
  // One vote per term: after voting for n2 in term 2, n3 is refused and n2 is granted again.
  const net = new Net({ ids: ids3 });
  const n1 = net.node('n1');
  const ask = (from: string) => {
    const m = emptyMessage('vote', from, 'n1', 2);
    m.index = 3;
    m.logTerm = 1;
    n1.step(m);
    const rd = n1.ready();
    n1.advance(rd);
    return rd.messagesAfterPersist.find((x) => x.type === 'voteResp')!.reject;
  };
  t.false(ask('n2'));
  t.true(ask('n3'), 'second candidate in the same term is refused');
  t.false(ask('n2'), 'the same candidate asking again is granted');
});

test('pre-vote: a partitioned node does not inflate its term and does not disrupt on return', (t) => {
  const net = new Net({ ids: ids3, seed: 5 });
  t.true(net.elect('n1'));
  const term = net.node('n1').currentTerm;
  net.isolate('n3');
  for (let i = 0; i < 100; i++) net.tickAll();
  t.is(net.node('n3').currentTerm, term, 'pre-votes never reach a quorum, so the term stays');
  t.true(net.node('n3').status().counters.preVotesStarted > 0);
  net.healAll();
  net.tickAll(5);
  t.is(net.node('n1').currentRole, 'leader', 'the leader is not disturbed');
  t.is(net.node('n1').currentTerm, term);
});

test('without pre-vote, the same partitioned node inflates its term and deposes the leader', (t) => {
  const net = new Net({ ids: ids3, seed: 5, config: { preVote: false, checkQuorum: false } });
  t.true(net.elect('n1'));
  const term = net.node('n1').currentTerm;
  net.isolate('n3');
  for (let i = 0; i < 100; i++) net.tickAll();
  t.true(net.node('n3').currentTerm > term + 2);
  net.healAll();
  for (let i = 0; i < 40 && net.node('n1').currentTerm === term; i++) net.tickAll();
  t.true(net.node('n1').currentTerm > term, 'the contrast that shows pre-vote is doing its job');
});

test('pre-vote is refused by nodes that heard from a leader within the election timeout', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  const m = emptyMessage('preVote', 'n3', 'n2', net.node('n2').currentTerm + 1);
  m.index = 100;
  m.logTerm = 100;
  net.node('n2').step(m);
  t.false(net.node('n2').hasReady(), 'ignored: no answer at all while in the leader lease');
});

test('check-quorum: a leader cut off from its quorum steps down within an election timeout', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.isolate('n1');
  for (let i = 0; i < 25 && net.node('n1').currentRole === 'leader'; i++) net.tickAll();
  t.is(net.node('n1').currentRole, 'follower');
  t.is(hist(net.node('n1'))[0], 'LEADER:CHECK_QUORUM_LOST:FOLLOWER');
});

test('randomized election timeouts come from the injected generator, in [E, 2E)', (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const n = RaftNode.bootstrap({ id: 'a', random: seededRandom(seed), electionTicks: 10 }, initialGroup('g', { a: '127.0.0.1:1', b: '127.0.0.1:2' }));
    n.advance(n.ready());
    let ticks = 0;
    while (n.currentRole === 'follower' && ticks < 100) {
      n.tick();
      ticks++;
    }
    t.true(ticks >= 10 && ticks < 20, `seed ${seed}: campaigned after ${ticks} ticks`);
  }
  // Same seed, same schedule: determinism.
  const run = () => {
    const n = RaftNode.bootstrap({ id: 'a', random: seededRandom(42) }, initialGroup('g', { a: '127.0.0.1:1', b: '127.0.0.1:2' }));
    n.advance(n.ready());
    let k = 0;
    while (n.currentRole === 'follower') (n.tick(), k++);
    return k;
  };
  t.is(run(), run());
});

// ------------------------------------------------------------------ replication

test('log conflict back-off: a follower\'s divergent uncommitted tail is overwritten', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  // n1 appends entries that reach nobody, then loses leadership to n2.
  net.isolate('n1');
  for (const v of ['lost1', 'lost2', 'lost3']) net.node('n1').propose(bytes(v));
  net.settle();
  // n2 and n3 elect a new leader once n1's lease on them has run out.
  for (let i = 0; i < 60 && !['n2', 'n3'].some((id) => net.node(id).currentRole === 'leader'); i++) net.tickAll();
  const l = ['n2', 'n3'].find((id) => net.node(id).currentRole === 'leader')!;
  t.truthy(l);
  net.propose(l, 'kept');
  net.healAll();
  for (let i = 0; i < 10 && !net.appliedValues('n1').includes('kept'); i++) net.tickAll();
  t.deepEqual(net.appliedValues('n1'), ['kept'], 'lost1..3 were never committed and are gone');
  t.is(net.node('n1').status().lastIndex, net.node(l).status().lastIndex);
  t.is(net.node('n1').termAt(5), net.node(l).termAt(5));
});

test('a leader commits only entries of its own term, through its no-op (Raft figure 8)', (t) => {
  // Pre-vote and check-quorum off, so that elections can be driven by hand without leases.
  const net = new Net({ ids: ids5, config: { preVote: false, checkQuorum: false } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  // Term 2: X reaches n2 and n3, but their acknowledgements are lost, so n1 never commits it.
  net.cutLink('n1', 'n4');
  net.cutLink('n1', 'n5');
  n1.propose(bytes('X'));
  net.settle((m) => m.type !== 'appResp');
  const xIndex = n1.status().lastIndex;
  const xTerm = n1.currentTerm;
  for (const id of ['n1', 'n2', 'n3']) t.is(net.node(id).termAt(xIndex), xTerm, `${id} holds X`);
  t.true(n1.commitIndex < xIndex);
  // n1 wins the next term. X (of an earlier term) is on 3 of 5: a majority.
  net.healAll();
  n1.leaveElection();
  n1.campaign();
  for (let i = 0; i < 10 && n1.currentRole !== 'leader'; i++) {
    for (const id of ids5) net.processReady(id);
    net.deliver((m) => m.type === 'vote' || m.type === 'voteResp');
  }
  t.is(n1.currentRole, 'leader');
  t.true(n1.currentTerm > xTerm);
  n1.advance(n1.ready()); // the no-op is durable on n1
  const noopIndex = n1.status().lastIndex;
  t.is(noopIndex, xIndex + 1);
  const ack = (from: string, index: number) => {
    const m = emptyMessage('appResp', from, 'n1', n1.currentTerm);
    m.index = index;
    n1.step(m);
  };
  ack('n2', xIndex);
  ack('n3', xIndex);
  t.true(n1.commitIndex < xIndex, 'X is on a majority but is not committed by counting replicas');
  ack('n2', noopIndex);
  t.true(n1.commitIndex < xIndex, 'the no-op on 2 of 5 is not enough');
  ack('n3', noopIndex);
  t.is(n1.commitIndex, noopIndex, 'X commits together with the first entry of the current term');
});

test("the leader's own write counts towards the commit quorum only once it is durable", (t) => {
  const net = new Net({ ids: ids5 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  const { index } = n1.propose(bytes('v'));
  const rd = net.hold('n1'); // appends go out now (thesis 10.2.1); n1's own write is in progress
  t.true(rd.messages.some((m) => m.type === 'app' && m.entries.some((e) => e.index === index)));
  // Two followers acknowledge: with n1's write that would be 3 of 5, but n1's is not durable.
  net.deliver((m) => m.to === 'n2' || m.to === 'n3');
  for (const id of ['n2', 'n3']) net.processReady(id);
  net.deliver((m) => m.to === 'n1');
  t.true(n1.commitIndex < index, 'not committed while the leader write is pending');
  net.release('n1');
  t.is(n1.commitIndex, index, 'committed the moment the leader write is durable');
});

test('pipelining: several appends in flight per follower, batched by size, bounded by the window', (t) => {
  const net = new Net({ ids: ids3, config: { maxMsgBytes: 100, maxInflightMsgs: 4 } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (let i = 0; i < 40; i++) n1.propose(bytes('x'.repeat(40)));
  const rd = net.take('n1');
  const toN2 = rd.messages.filter((m) => m.type === 'app' && m.to === 'n2');
  t.is(toN2.length, 4, 'exactly the window of 4 appends in flight');
  for (const m of toN2) {
    t.true(m.entries.length >= 1);
    t.true(m.entries.reduce((s, e) => s + e.data.byteLength + 24, 0) <= 100 || m.entries.length === 1, 'batched by size');
  }
  t.deepEqual(
    toN2.map((m) => m.index),
    [toN2[0]!.index, toN2[0]!.index + toN2[0]!.entries.length, toN2[1]!.index + toN2[1]!.entries.length, toN2[2]!.index + toN2[2]!.entries.length],
    'each append follows the previous one without waiting for its answer',
  );
  net.settle();
  for (const id of ids3) t.is(net.appliedValues(id).length, 40);
});

test('many proposals in one turn travel in one append per follower (group commit)', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (let i = 0; i < 50; i++) n1.propose(bytes(`v${i}`));
  const rd = net.take('n1');
  t.is(rd.entries.length, 50, 'one persist batch');
  t.is(rd.messages.filter((m) => m.type === 'app').length, 2, 'one append to each follower');
  net.settle();
  t.is(net.appliedValues('n3').length, 50);
});

test('a follower behind the compacted log is signalled for a snapshot, and installs it', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.isolate('n3');
  for (let i = 0; i < 10; i++) net.propose('n1', `v${i}`);
  const n1 = net.node('n1');
  n1.compact(n1.appliedIndex - 2);
  net.healAll();
  net.tickAll(2);
  const snap = net.sent.find((m) => m.type === 'snap' && m.to === 'n3');
  t.truthy(snap, 'the leader asks its driver to send a snapshot');
  t.is(snap!.snapshot, null, 'the driver fills in its latest snapshot');
  t.is(snap!.index, n1.status().firstIndex - 1, 'at least this index');
  t.is(n1.status().peers.find((p) => p.id === 'n3')!.state, 'snapshot');
  // The driver streams its snapshot and the follower steps the message with the metadata.
  const meta = { index: n1.appliedIndex, term: n1.termAt(n1.appliedIndex)!, group: n1.groupMetadata };
  const m: Message = { ...snap!, snapshot: meta };
  const n3 = net.node('n3');
  n3.step(m);
  const rd = n3.ready();
  t.deepEqual(rd.snapshot, meta);
  t.true(rd.mustSync);
  n3.advance(rd);
  n1.reportSnapshot('n3', true, meta.index);
  net.settle();
  net.tickAll(2);
  t.is(n3.appliedIndex, n1.appliedIndex);
  t.is(hist(n3)[0], 'FOLLOWER:SNAPSHOT_INSTALLED:FOLLOWER');
  net.propose('n1', 'after');
  t.deepEqual(net.appliedValues('n3'), ['after'], 'log replication resumes after the snapshot');
});

// ------------------------------------------------------------------ reads

test('ReadIndex on the leader is answered only after a quorum confirms leadership', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  net.propose('n1', 'a');
  net.isolate('n1');
  n1.readIndex('r1');
  const heardAnswer = (ctx: string) => {
    if (!n1.hasReady()) return null;
    return net.take('n1').readStates.find((r) => r.context === ctx) ?? null;
  };
  t.is(heardAnswer('r1'), null, 'an isolated leader cannot confirm a read');
  net.healAll();
  n1.readIndex('r2');
  let got = null;
  for (let i = 0; i < 10 && !got; i++) {
    // r1's round was lost: r2 waits for the next round, which the periodic heartbeat starts.
    net.tick('n1');
    net.deliver();
    for (const id of ['n2', 'n3']) net.processReady(id);
    net.deliver();
    got = heardAnswer('r2');
  }
  t.deepEqual(got, { index: n1.commitIndex, context: 'r2' });
});

test('ReadIndex from a follower is forwarded to the leader and answered with the read index', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.propose('n1', 'a');
  const n2 = net.node('n2');
  n2.readIndex('f1');
  const states = [];
  for (let i = 0; i < 20; i++) {
    for (const id of ids3) {
      if (!net.node(id).hasReady()) continue;
      const rd = net.take(id);
      if (id === 'n2') states.push(...rd.readStates);
    }
    net.deliver();
  }
  t.deepEqual(states, [{ index: net.node('n1').commitIndex, context: 'f1' }]);
  t.throws(() => new Net({ ids: ids3 }).node('n1').readIndex('x'), { instanceOf: NotLeaderError }, 'no leader known yet');
  t.throws(() => n2.readIndex(''), { instanceOf: InvalidArgumentError });
});

test('a new leader answers reads only after committing an entry of its term', (t) => {
  const net = new Net({ ids: ids3 });
  const n1 = net.node('n1');
  n1.campaign();
  for (let i = 0; i < 20 && n1.currentRole !== 'leader'; i++) {
    for (const id of ids3) net.processReady(id);
    net.deliver((m) => m.type !== 'app');
  }
  t.is(n1.currentRole, 'leader');
  n1.readIndex('early');
  const rd = n1.ready();
  t.deepEqual(rd.readStates, []);
  n1.advance(rd);
  net.settle();
  net.tickAll(1);
  const answered = net.sent.length; // reads complete after the no-op commits
  t.true(answered > 0);
  t.is(n1.status().commitIndex, n1.status().lastIndex);
});

// ------------------------------------------------------------------ transfer, priority, leave

test('leadership transfer: the target catches up, campaigns at once and wins; proposals are refused meanwhile', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.isolate('n3');
  for (let i = 0; i < 5; i++) net.propose('n1', `v${i}`);
  net.healAll();
  net.node('n1').transferLeadership('n3');
  t.throws(() => net.node('n1').propose(bytes('during')), { instanceOf: ProposalDroppedError, message: /being transferred to n3/ });
  net.settle();
  t.is(net.node('n3').currentRole, 'leader');
  t.is(hist(net.node('n3'))[1], 'FOLLOWER:TIMEOUT_NOW:CANDIDATE');
  t.deepEqual(net.appliedValues('n3').slice(0, 5), ['v0', 'v1', 'v2', 'v3', 'v4']);
  t.throws(() => net.node('n3').transferLeadership('zz'), { instanceOf: InvalidArgumentError, message: /not an electable member/ });
  t.throws(() => net.node('n1').transferLeadership('n2'), { instanceOf: NotLeaderError });
});

test('leadership transfer to an unreachable target is aborted after an election timeout', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.isolate('n3');
  net.node('n1').transferLeadership('n3');
  net.cutLink('n1', 'n3');
  net.healAll();
  net.isolate('n3');
  net.tickAll(12);
  t.is(net.node('n1').currentRole, 'leader');
  t.is(net.node('n1').status().leadTransferee, null);
  t.true(hist(net.node('n1')).includes('LEADER:TRANSFER_ABORTED:LEADER'));
  net.propose('n1', 'ok');
  t.true(net.appliedValues('n2').includes('ok'));
});

test('priority 0: the member votes and acks but never campaigns, and is never a transfer target', (t) => {
  const group = initialGroup('g', { n1: '127.0.0.1:1', n2: '127.0.0.1:2', n3: '127.0.0.1:3' });
  const g0 = { ...group, members: group.members.map((m) => (m.id === 'n3' ? { ...m, priority: 0 } : m)) };
  const n3 = RaftNode.bootstrap({ id: 'n3', random: seededRandom(1) }, g0);
  n3.advance(n3.ready());
  for (let i = 0; i < 200; i++) n3.tick();
  t.is(n3.currentRole, 'follower');
  t.false(n3.status().promotable);
  t.is(n3.status().counters.preVotesStarted, 0);
  t.throws(() => n3.campaign(), { instanceOf: InvalidArgumentError, message: /may not campaign/ });
  const n1 = RaftNode.bootstrap({ id: 'n1', random: seededRandom(1) }, g0);
  n1.advance(n1.ready());
  t.is(n1.status().group.members.find((m) => m.id === 'n3')!.priority, 0);
});

test('election leave: a leader steps down and the group elects again', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.node('n1').leaveElection();
  net.settle();
  t.is(hist(net.node('n1'))[0], 'LEADER:LEAVE_REQUESTED:FOLLOWER');
  for (let i = 0; i < 60 && net.leaders().length === 0; i++) net.tickAll();
  t.is(net.leaders().length, 1);
});

// ------------------------------------------------------------------ membership

test('membership: add a secondary, which replicates but neither votes nor counts for commit', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.node('n1').proposeConfChange({ op: 'addSecondary', id: 's1', address: '127.0.0.1:9' });
  net.add('s1', RaftNode.join({ id: 's1', random: seededRandom(9) }, 'g'));
  net.settle();
  net.tickAll(2);
  net.propose('n1', 'a');
  t.deepEqual(net.appliedValues('s1'), ['a'], 'the secondary replicates from index 1, bootstrap entries included');
  t.is(net.node('s1').status().electableGroupSize, 3);
  t.is(net.node('n1').status().electableGroupSize, 3, 'E counts electable members only');
  // With n2 and n3 gone, n1 + s1 is not a commit quorum.
  net.isolate('n2');
  net.isolate('n3');
  net.cutLink('n1', 'n2');
  const v = net.node('n1').propose(bytes('b'));
  net.settle();
  t.true(net.node('n1').commitIndex < v.index);
  // A secondary never campaigns.
  for (let i = 0; i < 60; i++) net.node('s1').tick();
  t.is(net.node('s1').status().counters.preVotesStarted, 0);
});

test('membership: promote a secondary, then remove a member; E follows the metadata', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  n1.proposeConfChange({ op: 'addSecondary', id: 'n4', address: '127.0.0.1:9' });
  t.throws(() => n1.proposeConfChange({ op: 'promote', id: 'n4' }), { instanceOf: ConfChangePendingError, code: 'CONF_CHANGE_PENDING', message: /still being applied/ }, 'one at a time');
  net.add('n4', RaftNode.join({ id: 'n4', random: seededRandom(9) }, 'g'));
  net.settle();
  n1.proposeConfChange({ op: 'promote', id: 'n4' });
  net.settle();
  t.is(n1.status().electableGroupSize, 4);
  t.is(n1.status().commitQuorum, 3);
  n1.proposeConfChange({ op: 'remove', id: 'n2' });
  net.settle();
  t.is(n1.status().electableGroupSize, 3);
  t.is(net.node('n4').status().electableGroupSize, 3);
  t.true(n1.groupMetadata.members.find((m) => m.id === 'n2')!.removed);
  t.throws(() => n1.proposeConfChange({ op: 'addElectable', id: 'n2', address: '127.0.0.1:2' }), {
    instanceOf: ConfChangeError,
    message: /removed; a removed id can never rejoin/,
  });
  t.throws(() => n1.proposeConfChange({ op: 'remove', id: 'nope' }), { instanceOf: ConfChangeError, message: /unknown member nope/ });
  t.throws(() => n1.proposeConfChange({ op: 'promote', id: 'n3' }), { instanceOf: ConfChangeError, message: /already electable/ });
  t.throws(() => net.node('n3').proposeConfChange({ op: 'remove', id: 'n4' }), { instanceOf: NotLeaderError });
  net.propose('n1', 'after');
  t.true(net.appliedValues('n4').includes('after'));
});

test('membership: a leader that removes itself steps down once the removal applies', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.node('n1').proposeConfChange({ op: 'remove', id: 'n1' });
  net.settle();
  t.is(net.node('n1').currentRole, 'follower');
  t.is(hist(net.node('n1'))[0], 'LEADER:REMOVED:FOLLOWER');
  t.false(net.node('n1').status().promotable);
  for (let i = 0; i < 60 && net.leaders().length === 0; i++) net.tickAll();
  t.deepEqual(net.leaders().length, 1);
  t.not(net.leaders()[0], 'n1');
});

test('a malformed membership change is refused before it reaches the log', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  const last = n1.status().lastIndex;
  const bad: [unknown, RegExp][] = [
    [{ op: 'addSecondary', id: 'x' }, /addSecondary x has no address/],
    [{ op: 'addElectable', id: 'x', address: 'nowhere' }, /address 'nowhere' is not HOST:PORT/],
    [{ op: 'promote', id: 'x', address: '127.0.0.1:1' }, /unknown field 'address'/],
    [{ op: 'remove', id: '' }, /member id '' must be/],
    [{ op: 'merge', id: 'x' }, /unknown membership change op/],
    ['remove n2', /must be an object/],
  ];
  for (const [change, message] of bad) t.throws(() => n1.proposeConfChange(change as never), { instanceOf: InvalidArgumentError, message });
  t.is(n1.status().lastIndex, last, 'nothing was appended');
});

test('the last electable member cannot be removed', (t) => {
  const net = new Net({ ids: ['n1'] });
  net.tickAll(20);
  t.throws(() => net.node('n1').proposeConfChange({ op: 'remove', id: 'n1' }), { instanceOf: ConfChangeError, message: /last electable/ });
});

// ------------------------------------------------------------------ override

test('override: validated, per node, never replicated, and logged in the history', (t) => {
  const net = new Net({ ids: ids5 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  t.throws(() => n1.setElectableGroupSizeOverride(-1), { instanceOf: InvalidArgumentError, message: /got -1/ });
  t.throws(() => n1.setElectableGroupSizeOverride(2.5), { instanceOf: InvalidArgumentError, message: /got 2.5/ });
  t.throws(() => n1.setElectableGroupSizeOverride(6), { instanceOf: InvalidArgumentError, message: /larger than the electable group size 5/ });
  t.is(n1.electableGroupSizeOverride, 0, 'a refused value changes nothing');
  t.deepEqual(n1.setElectableGroupSizeOverride(6, { force: true }), { previous: 0, current: 6, electableGroupSize: 5 });
  t.deepEqual(n1.setElectableGroupSizeOverride(2), { previous: 6, current: 2, electableGroupSize: 5 });
  t.is(n1.status().electionQuorum, 2);
  t.is(n1.status().commitQuorum, 2);
  t.is(n1.status().electableGroupSize, 5);
  t.is(hist(n1)[0], 'LEADER:OVERRIDE_SET:LEADER');
  t.regex(n1.status().history[0]!.detail, /override 6 -> 2/);
  net.propose('n1', 'x');
  for (const id of ['n2', 'n3', 'n4', 'n5']) {
    t.is(net.node(id).electableGroupSizeOverride, 0, `${id} is unaffected`);
    t.is(net.node(id).status().commitQuorum, 3);
  }
  const logged = net.sent.flatMap((m) => m.entries);
  t.false(logged.some((e: Entry) => JSON.stringify(e.change ?? {}).includes('verride')), 'no entry carries the override');
});

test('override: commit quorum comes from the override on the leader', (t) => {
  const net = new Net({ ids: ids5 });
  t.true(net.elect('n1'));
  for (const id of ['n3', 'n4', 'n5']) net.isolate(id);
  const { index } = net.node('n1').propose(bytes('w'));
  net.settle();
  t.true(net.node('n1').commitIndex < index, '2 of 5 is not enough');
  net.node('n1').setElectableGroupSizeOverride(2);
  net.settle();
  t.is(net.node('n1').commitIndex, index, 'the override makes n1 + n2 a commit quorum');
  t.deepEqual(net.appliedValues('n2'), ['w']);
  // O = 1: the leader alone.
  net.isolate('n2');
  net.node('n1').setElectableGroupSizeOverride(1);
  net.propose('n1', 'alone');
  t.true(net.appliedValues('n1').includes('alone'));
});

test('override: election quorum comes from the candidate\'s own override only', (t) => {
  const net = new Net({ ids: ids5 });
  for (const id of ['n3', 'n4', 'n5']) net.isolate(id);
  t.false(net.elect('n1'), 'no quorum');
  net.node('n2').setElectableGroupSizeOverride(2);
  t.false(net.elect('n1'), 'n2\'s override does not help n1');
  net.node('n1').setElectableGroupSizeOverride(2);
  t.true(net.elect('n1'));
});

test('override set while a candidate re-counts the votes already received', (t) => {
  const net = new Net({ ids: ids5 });
  for (const id of ['n3', 'n4', 'n5']) net.isolate(id);
  const n1 = net.node('n1');
  n1.campaign();
  net.settle();
  t.not(n1.currentRole, 'leader');
  n1.campaign();
  for (let i = 0; i < 4; i++) {
    for (const id of ids5) net.processReady(id);
    net.deliver();
  }
  t.is(n1.currentRole, 'preCandidate', 'n2 granted, still short of 3');
  n1.setElectableGroupSizeOverride(2);
  t.is(n1.currentRole, 'candidate', 'the granted pre-votes now make a quorum');
});

// ------------------------------------------------------------------ acks

test('ack policies on a live leader: none = durable locally, simpleMajority = committed, all = every electable', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  net.isolate('n3');
  const { index } = n1.propose(bytes('a'));
  t.true(n1.ackIndex('none') < index, 'not yet durable');
  const rd = net.hold('n1');
  net.release('n1');
  void rd;
  t.true(n1.ackIndex('none') >= index);
  net.settle();
  t.true(n1.ackIndex('simpleMajority') >= index);
  t.true(n1.ackIndex('all') < index, 'n3 does not have it');
  net.healAll();
  net.tickAll(2);
  t.true(n1.ackIndex('all') >= index);
  t.is(net.node('n2').ackIndex('all'), 0, 'followers acknowledge nothing');
  t.is(n1.activeElectableCount(), 3);
});

// ------------------------------------------------------------------ history and contract

test('the election history is a bounded ring, newest first, with counters', (t) => {
  const net = new Net({ ids: ids3, config: { historySize: 64 } });
  for (let i = 0; i < 60; i++) {
    const id = ids3[i % 3]!;
    net.elect(id);
    net.node(id).leaveElection();
    net.settle();
  }
  const st = net.node('n1').status();
  t.is(st.history.length, 64);
  for (let i = 1; i < st.history.length; i++) t.true(st.history[i - 1]!.term >= st.history[i]!.term, 'newest first');
  t.true(st.counters.electionsWon >= 20);
  t.true(st.counters.electionsStarted >= st.counters.electionsWon);
  t.true(st.counters.leaderChanges > 0);
  t.throws(() => RaftNode.join({ id: 'x', random: seededRandom(1), historySize: 10 }, 'g'), { instanceOf: InvalidArgumentError, message: /historySize must be an integer >= 64/ });
});

test('history stamps come from the driver\'s clock', (t) => {
  const n = RaftNode.bootstrap({ id: 'a', random: seededRandom(1), nowMs: 1000 }, initialGroup('g', { a: '127.0.0.1:1' }));
  n.setNow(1234);
  // The sole voter campaigns as its bootstrap membership is handed over, at the driver's time.
  const rd = n.ready();
  t.is(n.currentRole, 'leader');
  t.is(n.status().history[0]!.at, 1234);
  t.is(rd.hardState?.term, 2, "its term and vote go in the bootstrap's Ready");
  t.is(rd.hardState?.vote, 'a');
  t.deepEqual(rd.entries.map((e) => [e.index, e.term, e.type]), [[1, 1, 'conf'], [2, 2, 'noop']], 'with its first entry');
  n.advance(rd);
});

test('the Ready contract is enforced: one outstanding Ready, advanced with itself', (t) => {
  const net = new Net({ ids: ['n1'] });
  net.tickAll(20);
  const n1 = net.node('n1');
  n1.propose(bytes('a'));
  const rd = n1.ready();
  t.false(n1.hasReady(), 'nothing new while a Ready is outstanding');
  t.throws(() => n1.ready(), { instanceOf: InvariantError });
  t.throws(() => n1.advance({ ...rd }), { instanceOf: InvariantError });
  n1.advance(rd);
  t.true(n1.hasReady(), 'the durable write made the entry committed');
});

test('a new term or vote holds every message until it is durable', (t) => {
  const net = new Net({ ids: ids3, config: { preVote: false } });
  const n1 = net.node('n1');
  n1.campaign();
  const rd = n1.ready();
  t.deepEqual(rd.messages, []);
  t.is(rd.messagesAfterPersist.filter((m) => m.type === 'vote').length, 2);
  t.true(rd.mustSync);
  t.deepEqual(rd.hardState, { term: 2, vote: 'n1', commit: 3 });
});

test('proposals on a follower throw NotLeaderError with the leader hint', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n2'));
  const err = t.throws(() => net.node('n1').propose(bytes('x')), { instanceOf: NotLeaderError });
  t.is(err!.leaderHint, 'n2');
  t.is(err!.code, 'NOT_LEADER');
});

test('the leader bounds its uncommitted tail', (t) => {
  const net = new Net({ ids: ids3, config: { maxUncommittedBytes: 1000 } });
  t.true(net.elect('n1'));
  net.isolate('n1');
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    try {
      net.node('n1').propose(bytes('x'.repeat(100)));
    } catch (e) {
      t.true(e instanceof ProposalDroppedError);
      refused++;
    }
  }
  t.true(refused > 80);
});

test('a follower never truncates committed entries; it reports the divergence instead', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.propose('n1', 'a');
  const n2 = net.node('n2');
  const c = n2.commitIndex;
  const term = n2.currentTerm + 1;
  const m = emptyMessage('app', 'n3', 'n2', term);
  m.index = c - 1;
  m.logTerm = n2.termAt(c - 1)!;
  m.entries = [{ index: c, term: n2.currentTerm + 1, type: 'normal', data: bytes('other') }];
  n2.step(m);
  t.is(n2.commitIndex, c);
  t.is(n2.termAt(c), net.node('n1').termAt(c), 'the committed entry is still there');
  t.deepEqual(n2.status().divergence, { index: c, leader: 'n3', term, committed: c, exact: true, leaderOverride: null });
  const rd = n2.ready();
  const resp = rd.messagesAfterPersist.find((x) => x.type === 'appResp')!;
  t.true(resp.reject, 'the leader never counts a diverged follower');
});

test('configuration errors name the bad value', (t) => {
  const g = initialGroup('g', { a: '127.0.0.1:1' });
  t.throws(() => RaftNode.bootstrap({ id: 'a', random: seededRandom(1), electionTicks: 1 }, g), { message: /electionTicks must be an integer >= 2, got 1/ });
  t.throws(() => RaftNode.bootstrap({ id: 'a', random: seededRandom(1), heartbeatTicks: 10, electionTicks: 10 }, g), { message: /heartbeatTicks \(10\) must be smaller/ });
  t.throws(() => RaftNode.bootstrap({ id: '', random: seededRandom(1) }, g), { message: /id must be a non-empty string/ });
  t.throws(() => RaftNode.bootstrap({ id: 'a', random: 5 as never }, g), { message: /random must be a function/ });
  t.throws(() => RaftNode.bootstrap({ id: 'a', random: seededRandom(1), electableGroupSizeOverride: -2 }, g), { message: /electableGroupSizeOverride must be an integer >= 0, got -2/ });
});

test('rollback (JE hard recovery): a diverged follower asks for the leader\'s snapshot and replaces its committed state', (t) => {
  const net = new Net({ ids: ids5, seed: 2 });
  t.true(net.elect('n3'));
  net.propose('n3', 'common');
  // Split brain: n1 and n2 (override 2) against n3-n5.
  for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) net.cutLink(a, b);
  net.node('n1').setElectableGroupSizeOverride(2);
  net.node('n2').setElectableGroupSizeOverride(2);
  for (let i = 0; i < 60 && net.node('n1').currentRole !== 'leader' && net.node('n2').currentRole !== 'leader'; i++) net.tickAll();
  const minorityLeader = ['n1', 'n2'].find((id) => net.node(id).currentRole === 'leader')!;
  t.truthy(minorityLeader, 'the override side elects its own leader');
  net.propose(minorityLeader, 'lost-1');
  net.propose(minorityLeader, 'lost-2');
  t.deepEqual(net.appliedValues('n2'), ['common', 'lost-1', 'lost-2']);
  // The majority side moves to a higher term and commits something else at the same indexes.
  const majorityLeaderNow = () => ['n3', 'n4', 'n5'].find((id) => net.node(id).currentRole === 'leader');
  for (let round = 0; round < 20 && !(net.node(majorityLeaderNow() ?? 'n3').currentTerm > net.node(minorityLeader).currentTerm && majorityLeaderNow()); round++) {
    const l = majorityLeaderNow();
    if (l) net.node(l).leaveElection();
    for (let i = 0; i < 60 && !majorityLeaderNow(); i++) net.tickAll();
  }
  const majorityLeader = ['n3', 'n4', 'n5'].find((id) => net.node(id).currentRole === 'leader')!;
  t.true(net.node(majorityLeader).currentTerm > net.node(minorityLeader).currentTerm);
  net.propose(majorityLeader, 'kept-1');
  net.propose(majorityLeader, 'kept-2');
  net.propose(majorityLeader, 'kept-3');
  // Heal: the minority sees the higher term, and its committed entries conflict.
  net.healAll();
  net.tickAll(3);
  const d = net.node('n1').status().divergence;
  t.truthy(d, 'n1 reports the divergence instead of truncating committed entries');
  t.is(d!.leader, majorityLeader);
  // At least the two lost writes (and the minority leader's no-op, which names it: override-same-term.test.ts).
  t.true(d!.committed - d!.index + 1 >= 2);
  t.is(d!.committed, net.node('n1').commitIndex);
  t.deepEqual(net.appliedValues('n1'), ['common', 'lost-1', 'lost-2'], 'nothing changed yet');
  // The driver accepts the rollback; the follower asks for a snapshot at the next append.
  net.node('n1').requestRollback();
  t.true(net.node('n1').status().rollbackRequested);
  net.tickAll(2);
  const snap = net.sent.filter((m) => m.type === 'snap' && m.to === 'n1').pop();
  t.truthy(snap, 'the leader answers the snapshot request');
  const leader = net.node(majorityLeader);
  const meta = { index: leader.appliedIndex, term: leader.termAt(leader.appliedIndex)!, group: leader.groupMetadata };
  const n1 = net.node('n1');
  const commitBefore = n1.commitIndex;
  n1.step({ ...snap!, snapshot: meta });
  const rd = n1.ready();
  t.deepEqual(rd.snapshot, meta, 'the leader\'s snapshot replaces the diverged state');
  t.is(n1.commitIndex, meta.index);
  t.true(commitBefore >= d!.index, 'entries n1 had committed were replaced');
  n1.advance(rd);
  // As a driver does: send the answer, and tell the leader its stream completed.
  net.inflight.push(...rd.messages, ...rd.messagesAfterPersist);
  leader.reportSnapshot('n1', true, meta.index);
  t.is(n1.status().divergence, null);
  t.false(n1.status().rollbackRequested);
  t.regex(n1.status().history[0]!.detail, /lost \[\d+, \d+\]/);
  t.is(`${n1.status().history[0]!.from}:${n1.status().history[0]!.event}:${n1.status().history[0]!.to}`, 'FOLLOWER:ROLLED_BACK:FOLLOWER');
  net.settle();
  net.propose(majorityLeader, 'after-rollback');
  net.tickAll(3);
  t.true(net.appliedValues('n1').includes('after-rollback'), 'n1 replicates from the leader again');
  t.is(n1.status().lastIndex, leader.status().lastIndex);
  t.is(n1.termAt(n1.status().lastIndex), leader.termAt(leader.status().lastIndex));
  t.throws(() => net.node('n4').requestRollback(), { instanceOf: InvalidArgumentError, message: /no diverged entries/ });
});

test('lease reads: answered at once while a quorum was heard recently by the driver\'s clock, never after a pause', (t) => {
  const net = new Net({ ids: ids3, config: { leaseMs: 500 } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (const n of net.nodes.values()) n.setNow(10_000);
  net.tickAll(2); // heartbeats answered at t = 10 000
  n1.setNow(10_200);
  n1.readIndex('fresh', { lease: true });
  const rd = net.take('n1');
  t.deepEqual(rd.readStates, [{ index: n1.commitIndex, context: 'fresh' }], 'answered without a heartbeat round');
  t.false(rd.messages.some((m) => m.type === 'heartbeat' && m.context === 'fresh'));
  // The leader's process was stopped for 10 s: what it heard before means nothing now.
  n1.setNow(20_200);
  n1.readIndex('after-pause', { lease: true });
  const rd2 = net.take('n1');
  t.deepEqual(rd2.readStates, [], 'not answered from the lease');
  t.true(rd2.messages.some((m) => m.type === 'heartbeat' && m.context === 'after-pause'), 'it confirms leadership with a ReadIndex round instead');
  let answered = null;
  for (let i = 0; i < 5 && !answered; i++) {
    net.deliver();
    for (const id of ['n2', 'n3']) net.processReady(id);
    net.deliver();
    if (n1.hasReady()) answered = net.take('n1').readStates.find((r) => r.context === 'after-pause') ?? null;
  }
  t.truthy(answered, 'answered once a quorum confirms');
  // Without a configured lease, lease reads always take the ReadIndex path.
  const plain = new Net({ ids: ids3 });
  t.true(plain.elect('n1'));
  plain.node('n1').readIndex('x', { lease: true });
  t.deepEqual(plain.take('n1').readStates, []);
  t.throws(() => RaftNode.join({ id: 'a', random: seededRandom(1), leaseMs: -1 }, 'g'), { message: /leaseMs must be an integer >= 0, got -1/ });
});

test('a leader that steps down last heard a leader (itself) when it stepped down, not before it was elected (issue 21 item 5)', (t) => {
  const net = new Net({ ids: ['n1', 'n2', 'n3'] });
  for (const n of net.nodes.values()) n.setNow(1_000);
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (const n of net.nodes.values()) n.setNow(78_000);
  n1.leaveElection();
  t.is(n1.status().counters.lastLeaderContactAt, 78_000);
});
