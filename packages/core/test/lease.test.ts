// Lease reads (issue 11, items 2, 4, 5): a leader answers from its lease only when no other
// leader can have committed anything since the quorum it counts answered.
import test from 'ava';
import { initialGroup, RaftNode, seededRandom, emptyMessage, type Message } from '../src/index.js';
import { Net } from './net.js';

const ids3 = ['n1', 'n2', 'n3'];

test('lease: an ack counts from the send time of the heartbeat it answers, not from its arrival', (t) => {
  const net = new Net({ ids: ids3, config: { leaseMs: 500 } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (const n of net.nodes.values()) n.setNow(10_000);
  // One heartbeat round at t = 10 000; the answers sit in n1's socket buffer.
  n1.tick();
  net.processReady('n1');
  net.deliver();
  for (const id of ['n2', 'n3']) net.processReady(id);
  const stale: Message[] = net.inflight.filter((m) => m.to === 'n1');
  t.true(stale.some((m) => m.type === 'heartbeatResp'));
  net.inflight = [];
  // n1 is paused (SIGSTOP); n2 and n3 elect a new leader, which commits W.
  net.isolate('n1');
  let leader: string | undefined;
  for (let i = 0; i < 100 && !leader; i++) {
    net.tick('n2');
    net.tick('n3');
    net.settle();
    leader = net.leaders().find((id) => id !== 'n1');
  }
  t.truthy(leader, 'n2 and n3 elected a leader');
  const w = net.propose(leader!, 'W');
  t.true(net.node('n2').commitIndex >= w && net.node('n3').commitIndex >= w);
  // n1 resumes 5 s later and reads the old replies first.
  n1.setNow(15_000);
  for (const m of stale) n1.step(m);
  t.is(n1.currentRole, 'leader', 'n1 has not heard of the new term yet');
  n1.readIndex('stale?', { lease: true });
  const rd = net.take('n1');
  t.deepEqual(rd.readStates, [], 'no lease read from acks to a heartbeat sent 5 s ago');
  t.true(rd.messages.some((m) => m.type === 'heartbeat' && m.context === 'stale?'), 'it confirms with a ReadIndex round instead');
});

test('lease: a fresh ack renews the lease from its heartbeat\'s send time', (t) => {
  const net = new Net({ ids: ids3, config: { leaseMs: 500 } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (const n of net.nodes.values()) n.setNow(10_000);
  net.tickAll(1);
  n1.setNow(10_400);
  n1.readIndex('in-lease', { lease: true });
  t.deepEqual(net.take('n1').readStates.map((r) => r.context), ['in-lease']);
  // The heartbeat went out at 10 000: at 10 500 its lease is over, however late the ack came.
  n1.setNow(10_500);
  n1.readIndex('expired', { lease: true });
  t.deepEqual(net.take('n1').readStates, []);
});

function restartedVoter(): RaftNode {
  const group = initialGroup('g', { n1: '127.0.0.1:1', n2: '127.0.0.1:2', n3: '127.0.0.1:3' });
  // n2 acked n1 (leader of term 2) just before it restarted.
  return RaftNode.restore({ id: 'n2', random: seededRandom(2), electionTicks: 10 }, {
    hardState: { term: 2, vote: 'n1', commit: 3 },
    group,
    compactedIndex: 3,
    compactedTerm: 1,
    entries: [{ index: 4, term: 2, type: 'noop', data: new Uint8Array(0) }],
    applied: 3,
  });
}

function voteRequest(type: 'vote' | 'preVote', context = ''): Message {
  const m = emptyMessage(type, 'n3', 'n2', 3);
  m.index = 4;
  m.logTerm = 2;
  m.context = context;
  return m;
}

test('a restarted voter refuses votes for one election timeout (it may have acked a leader whose lease still runs)', (t) => {
  const n2 = restartedVoter();
  n2.step(voteRequest('preVote'));
  n2.step(voteRequest('vote'));
  const rd = n2.ready();
  t.false(rd.messages.concat(rd.messagesAfterPersist).some((m) => (m.type === 'voteResp' || m.type === 'preVoteResp') && !m.reject), 'no vote granted right after the start');
  t.is(n2.currentTerm, 2, 'the candidate did not move our term');
  n2.advance(rd);
  for (let i = 0; i < 9; i++) n2.tick();
  n2.step(voteRequest('vote'));
  t.is(n2.currentTerm, 2, 'still refused after 9 of 10 ticks');
  n2.tick();
  n2.step(voteRequest('vote'));
  const rd2 = n2.ready();
  t.true(rd2.messagesAfterPersist.some((m) => m.type === 'voteResp' && !m.reject && m.to === 'n3'), 'granted after one election timeout');
});

test('a restarted voter grants a leadership transfer\'s vote at once', (t) => {
  const n2 = restartedVoter();
  n2.step(voteRequest('vote', 'transfer'));
  const rd = n2.ready();
  t.true(rd.messagesAfterPersist.some((m) => m.type === 'voteResp' && !m.reject));
});

test('lease: no lease reads while a transfer is under way, nor for one election timeout after timeoutNow', (t) => {
  const net = new Net({ ids: ids3, config: { leaseMs: 500, electionTicks: 10 } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  for (const n of net.nodes.values()) n.setNow(10_000);
  net.tickAll(1);
  // n2 lags behind, so the transfer first waits for it to catch up.
  net.cutLink('n1', 'n2');
  net.propose('n1', 'x');
  n1.transferLeadership('n2');
  const lease = (ctx: string): boolean => {
    n1.readIndex(ctx, { lease: true });
    return net.take('n1').readStates.some((r) => r.context === ctx);
  };
  t.false(lease('during-catch-up'), 'no lease read while the transfer is under way');
  for (let i = 0; i < 3; i++) {
    n1.tick();
    net.settle();
  }
  // n2 catches up; n1 sends timeoutNow, which is lost.
  net.healAll();
  n1.tick();
  net.settle((m) => m.type !== 'timeoutNow');
  t.true(net.sent.some((m) => m.type === 'timeoutNow' && m.from === 'n1'));
  const sentAtTick = 4;
  let tick = sentAtTick;
  // The transfer is given up after an election timeout from its start.
  while (n1.status().leadTransferee !== null && tick < 30) {
    n1.tick();
    net.settle((m) => m.type !== 'timeoutNow');
    tick++;
  }
  t.is(n1.status().leadTransferee, null, 'the transfer was abandoned');
  t.is(n1.currentRole, 'leader');
  t.true(tick < sentAtTick + 10);
  t.false(lease('after-abort'), 'no lease read within an election timeout of timeoutNow');
  while (tick < sentAtTick + 10) {
    n1.tick();
    net.settle();
    tick++;
  }
  t.true(lease('later'), 'the lease serves again an election timeout after timeoutNow');
});
