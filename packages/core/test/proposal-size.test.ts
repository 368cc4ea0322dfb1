// Oversized proposals (issue 11, item 1): refused before anything is appended, so that no
// append can carry an entry larger than the driver's transport frame.
import test from 'ava';
import { RequestTooLargeError, RaftNode, seededRandom, InvalidArgumentError } from '../src/index.js';
import { Net } from './net.js';

test('a proposal over maxProposalBytes is refused with REQUEST_TOO_LARGE naming the limit and the size; nothing is appended', (t) => {
  const net = new Net({ ids: ['n1', 'n2', 'n3'], config: { maxProposalBytes: 1000, maxMsgBytes: 4000 } });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  const last = n1.status().lastIndex;
  const err = t.throws(() => n1.propose(new Uint8Array(1001)), { instanceOf: RequestTooLargeError });
  t.is(err?.code, 'REQUEST_TOO_LARGE');
  t.is(err?.sizeBytes, 1001);
  t.is(err?.limitBytes, 1000);
  t.regex(err?.message ?? '', /1001 bytes.*at most 1000/);
  t.is(n1.status().lastIndex, last, 'nothing appended');
  n1.propose(new Uint8Array(1000));
  net.settle();
  t.is(net.node('n2').commitIndex, last + 1);
});

test('every append fits max(maxMsgBytes, the largest allowed entry): the transport frame can be sized from the config', (t) => {
  const maxMsgBytes = 3000;
  const maxProposalBytes = 2000;
  const net = new Net({ ids: ['n1', 'n2', 'n3'], config: { maxProposalBytes, maxMsgBytes } });
  t.true(net.elect('n1'));
  net.isolate('n2');
  for (let i = 0; i < 40; i++) net.node('n1').propose(new Uint8Array(1 + ((i * 397) % maxProposalBytes)));
  net.settle();
  net.healAll();
  for (let i = 0; i < 30; i++) net.tickAll();
  t.is(net.node('n2').commitIndex, net.node('n1').commitIndex, 'n2 caught up');
  const apps = net.sent.filter((m) => m.type === 'app' && m.entries.length > 0);
  t.true(apps.length > 10);
  for (const m of apps) {
    const bytes = m.entries.reduce((s, e) => s + e.data.byteLength + 24, 0);
    t.true(bytes <= Math.max(maxMsgBytes, maxProposalBytes + 24), `an append of ${bytes} bytes`);
  }
});

test('maxProposalBytes is validated against maxUncommittedBytes', (t) => {
  t.throws(() => RaftNode.join({ id: 'a', random: seededRandom(1), maxProposalBytes: 2000, maxUncommittedBytes: 1000 }, 'g'), {
    instanceOf: InvalidArgumentError,
    message: /maxProposalBytes \(2000\) must not exceed maxUncommittedBytes \(1000\)/,
  });
});
