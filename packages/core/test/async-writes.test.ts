// asyncStorageWrites (etcd raft's AsyncStorageWrites, issue 15): advance() no longer means
// durable; persisted() does. Nothing a crash could take back is counted or acknowledged early.
// And ReadIndex batching: one heartbeat round confirms every read waiting at that moment.
import test from 'ava';
import { emptyMessage, type Message } from '../src/index.js';
import { bytes, Net } from './net.js';

const ids3 = ['n1', 'n2', 'n3'];
const deliverTo = (net: Net, msgs: readonly Message[], to: string): void => {
  for (const m of msgs) if (m.to === to) net.node(to).step(m);
};

test("the leader's own entry counts toward commit only once persisted() says it is durable", (t) => {
  const net = new Net({ ids: ids3, config: { asyncStorageWrites: true } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  const n2 = net.node('n2');
  const before = n1.commitIndex;
  const index = n1.propose(bytes('x')).index;
  const rd = n1.ready();
  t.deepEqual(rd.entries.map((e) => e.index), [index]);
  n1.advance(rd); // handed to storage, not yet durable
  deliverTo(net, rd.messages, 'n2'); // n3 hears nothing: commit needs n1's own copy
  const rd2 = n2.ready();
  t.false(rd2.messages.some((m) => m.type === 'appResp'), "a follower's ack waits for its write");
  const ack = rd2.messagesAfterPersist.find((m) => m.type === 'appResp')!;
  n2.advance(rd2);
  n2.persisted(rd2);
  n1.step(ack);
  t.is(n1.commitIndex, before, 'n2 durable, n1 not: no quorum of durable copies yet');
  t.true(n1.ackIndex('none') < index, "'none' waits for the leader's durable copy too");
  n1.persisted(rd);
  t.is(n1.commitIndex, index);
});

test('committed entries are handed out to apply only up to what is durable here', (t) => {
  const net = new Net({ ids: ids3, config: { asyncStorageWrites: true } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  const n2 = net.node('n2');
  const index = n1.propose(bytes('x')).index;
  const rd = n1.ready();
  n1.advance(rd);
  n1.persisted(rd);
  // n3 acks durably: committed. n2 got the entry but its write is still in flight.
  deliverTo(net, rd.messages, 'n3');
  const rd3 = net.node('n3').ready();
  net.node('n3').advance(rd3);
  net.node('n3').persisted(rd3);
  for (const m of rd3.messagesAfterPersist) n1.step(m);
  t.is(n1.commitIndex, index);
  deliverTo(net, rd.messages, 'n2');
  const rdA = n2.ready();
  n2.advance(rdA);
  const commit: Message = { ...emptyMessage('heartbeat', 'n1', 'n2', n1.currentTerm), commit: index };
  n2.step(commit);
  const rdB = n2.ready();
  t.false(rdB.committedEntries.some((e) => e.index === index), 'not durable on n2: not applied');
  n2.advance(rdB);
  n2.persisted(rdA);
  n2.persisted(rdB);
  t.true(n2.hasReady());
  const rdC = n2.ready();
  t.true(rdC.committedEntries.some((e) => e.index === index), 'durable now: applied');
});

test('a new term not yet durable holds even the messages that may otherwise go at once, in later Readies too', (t) => {
  const net = new Net({ ids: ids3, config: { asyncStorageWrites: true, preVote: false } });
  const n1 = net.node('n1');
  n1.campaign();
  const rd1 = n1.ready();
  t.truthy(rd1.hardState);
  n1.advance(rd1); // the vote for itself is on its way to disk
  // A pre-vote request: its answer is a stateless reply (SEND_BEFORE_PERSIST), but under a term not yet durable.
  n1.step({ ...emptyMessage('preVote', 'n3', 'n1', n1.currentTerm + 1), logTerm: 1, index: 3 });
  const rd2 = n1.ready();
  t.deepEqual(rd2.messages, []);
  t.true(rd2.messagesAfterPersist.some((m) => m.type === 'preVoteResp'));
  n1.advance(rd2);
  n1.persisted(rd1);
  n1.persisted(rd2);
  n1.step({ ...emptyMessage('preVote', 'n3', 'n1', n1.currentTerm + 1), logTerm: 1, index: 3 });
  const rd3 = n1.ready();
  t.true(rd3.messages.some((m) => m.type === 'preVoteResp'), 'durable now: it goes at once');
});

test('ReadIndex batching: one read round at a time; the reads that came meanwhile share the next one', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.settle();
  const n1 = net.node('n1');
  const ack = (hb: Message): Message => ({ ...emptyMessage('heartbeatResp', hb.to, 'n1', n1.currentTerm), context: hb.context, index: hb.index });
  for (const c of ['a', 'b', 'c']) n1.readIndex(c);
  const rd = n1.ready();
  const hbs = rd.messages.filter((m) => m.type === 'heartbeat');
  t.deepEqual(hbs.map((m) => m.context), ['a', 'a'], 'one round, for the first read: one heartbeat per follower');
  n1.advance(rd);
  n1.readIndex('d');
  t.false(n1.hasReady(), 'no second round while the first is out');
  n1.step(ack(hbs[0]!));
  const rd2 = n1.ready();
  t.deepEqual(rd2.readStates.map((r) => r.context), ['a']);
  const hbs2 = rd2.messages.filter((m) => m.type === 'heartbeat');
  t.deepEqual(hbs2.map((m) => m.context), ['d', 'd'], 'the next round carries the newest read');
  n1.advance(rd2);
  n1.step(ack(hbs2[1]!));
  t.deepEqual(n1.ready().readStates.map((r) => r.context), ['b', 'c', 'd'], 'one quorum of acks releases all three');
});

test('ReadIndex batching: reads released by a periodic heartbeat leave no empty round behind to block the next read', (t) => {
  const net = new Net({ ids: ids3 });
  t.true(net.elect('n1'));
  net.settle();
  const n1 = net.node('n1');
  n1.readIndex('a');
  n1.readIndex('b'); // waits for a's round
  const rd = n1.ready();
  n1.advance(rd);
  // The periodic heartbeat carries 'b' and its acks release both, before a's round is answered.
  n1.tick();
  const rd2 = n1.ready();
  const hb = rd2.messages.find((m) => m.type === 'heartbeat' && m.context === 'b')!;
  n1.advance(rd2);
  n1.step({ ...emptyMessage('heartbeatResp', hb.to, 'n1', n1.currentTerm), context: 'b', index: hb.index });
  const rd3 = n1.ready();
  t.deepEqual(rd3.readStates.map((r) => r.context), ['a', 'b']);
  t.false(rd3.messages.some((m) => m.type === 'heartbeat'), 'no round for reads already answered');
  n1.advance(rd3);
  n1.readIndex('c');
  const rd4 = n1.ready();
  t.true(rd4.messages.some((m) => m.type === 'heartbeat' && m.context === 'c'), "the next read's round goes at once");
});
