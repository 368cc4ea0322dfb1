// Unit tests: codec round trips, message validation field by field, the bounded queue,
// close reason truncation.
import test from 'ava';
import fc from 'fast-check';
import type { ConfChange, Entry, Message, MessageType } from '@conclave/core';
import { emptyMessage } from '@conclave/core';
import { MessageDecoder, MessageEncoder } from '../src/codec.js';
import { OutboundQueue } from '../src/queue.js';
import { truncateReason } from '../src/sockets.js';
import { messageProblem } from '../src/validate.js';

const TYPES: MessageType[] = ['app', 'appResp', 'heartbeat', 'heartbeatResp', 'preVote', 'preVoteResp', 'vote', 'voteResp', 'snap', 'timeoutNow', 'readIndex', 'readIndexResp'];
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const id = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const confChange: fc.Arbitrary<ConfChange> = fc.oneof(
  fc.record({ op: fc.constant('addElectable' as const), id, address: fc.constant('127.0.0.1:7001') }),
  fc.record({ op: fc.constant('addSecondary' as const), id, address: fc.constant('h:1'), priority: fc.nat({ max: 10 }) }),
  fc.record({ op: fc.constantFrom('promote' as const, 'remove' as const), id }),
);
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ index: count, term: count, type: fc.constantFrom('normal' as const, 'noop' as const), data: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ index: count, term: count, type: fc.constant('conf' as const), data: fc.uint8Array({ maxLength: 8 }), change: confChange }),
);
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...TYPES),
  from: fc.constant('a'),
  to: fc.constant('b'),
  term: count,
  logTerm: count,
  index: count,
  entries: fc.array(entry, { maxLength: 5 }),
  commit: count,
  reject: fc.boolean(),
  rejectHint: count,
  context: fc.string({ maxLength: 20 }),
  snapshot: fc.option(
    fc.record({
      index: count,
      term: count,
      group: fc.record({ groupId: fc.constant('g'), members: fc.constant([{ id: 'a', address: 'h:1', type: 'electable' as const, removed: false, priority: 1 }]) }),
    }),
    { nil: null },
  ),
});

const plain = (m: Message): unknown => ({ ...m, entries: m.entries.map((e) => ({ ...e, data: [...e.data] })) });

test('any valid message survives encode -> decode and validates', (t) => {
  const enc = new MessageEncoder();
  const dec = new MessageDecoder();
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), (msgs) => {
      // Encode one at a time, decode the concatenation: how a batched frame travels.
      const frame = Buffer.concat(msgs.map((m) => Buffer.from(enc.encode(m))));
      const out = dec.decode(frame) as Message[];
      t.is(out.length, msgs.length);
      for (let i = 0; i < msgs.length; i++) {
        t.is(messageProblem(out[i], 'a', 'b', true), null);
        t.deepEqual(plain(out[i]!), plain(msgs[i]!));
      }
    }),
    { seed: 1, numRuns: 300 },
  );
});

test('one encoder, large and small messages in turn: each copied out before the next is what a fresh encoder gives', (t) => {
  const enc = new MessageEncoder();
  const dec = new MessageDecoder();
  const sizes = [16_384, 10, 200_000, 0, 70_000, 16_384, 3];
  const msgs: Message[] = sizes.map((n, i) => ({ ...emptyMessage('app', 'a', 'b', 2), index: i, entries: [{ index: i + 1, term: 2, type: 'normal', data: new Uint8Array(n).fill(i + 1) }] }));
  const copies = msgs.map((m) => Buffer.from(enc.encode(m)));
  for (let i = 0; i < msgs.length; i++) {
    t.deepEqual(copies[i], Buffer.from(new MessageEncoder().encode(msgs[i]!)), `message ${i}`);
    t.deepEqual(plain(dec.decode(copies[i]!)[0] as Message), plain(msgs[i]!));
  }
});

test('the common shapes use the shared structures: a heartbeat is small', (t) => {
  const enc = new MessageEncoder();
  const bytes = enc.encode({ ...emptyMessage('heartbeat', 'n1', 'n2', 5), commit: 1000 });
  t.true(bytes.length < 40, `${bytes.length} bytes`);
  const app = enc.encode({ ...emptyMessage('app', 'n1', 'n2', 5), entries: [{ index: 1, term: 5, type: 'normal', data: new Uint8Array(100) }] });
  t.true(app.length < 150, `${app.length} bytes for 100 bytes of data`);
});

const base = (): Record<string, unknown> => ({ ...emptyMessage('app', 'a', 'b', 1), entries: [{ index: 1, term: 1, type: 'normal', data: new Uint8Array(1) }] });
const badFields: [string, unknown][] = [
  ['type', 'gossip'], ['type', 1], ['from', 'c'], ['from', 7], ['to', 'c'], ['term', -1], ['term', 1.5], ['term', 2 ** 53],
  ['term', '1'], ['logTerm', NaN], ['index', -0.5], ['commit', Infinity], ['rejectHint', null], ['reject', 0], ['context', 5],
  ['entries', {}], ['entries', [null]], ['snapshot', {}], ['snapshot', 5], ['extra', 1],
];
for (const [field, value] of badFields) {
  test(`validation refuses ${field} = ${String(value)}`, (t) => {
    const m = base();
    m[field] = value;
    t.not(messageProblem(m, 'a', 'b', true), null);
  });
}

const badEntries: [string, Record<string, unknown>][] = [
  ['negative index', { index: -1, term: 1, type: 'normal', data: new Uint8Array() }],
  ['unknown type', { index: 1, term: 1, type: 'weird', data: new Uint8Array() }],
  ['string data', { index: 1, term: 1, type: 'normal', data: 'abc' }],
  ['conf without change', { index: 1, term: 1, type: 'conf', data: new Uint8Array() }],
  ['change on a normal entry', { index: 1, term: 1, type: 'normal', data: new Uint8Array(), change: { op: 'remove', id: 'x' } }],
  ['unknown op', { index: 1, term: 1, type: 'conf', data: new Uint8Array(), change: { op: 'explode', id: 'x' } }],
  ['add without address', { index: 1, term: 1, type: 'conf', data: new Uint8Array(), change: { op: 'addElectable', id: 'x' } }],
  ['extra field', { index: 1, term: 1, type: 'normal', data: new Uint8Array(), more: 1 }],
];
for (const [name, e] of badEntries) {
  test(`validation refuses an entry with ${name}`, (t) => {
    t.not(messageProblem({ ...base(), entries: [e] }, 'a', 'b', true), null);
  });
}

test('the queue enforces its message and byte bounds and batches into frames', (t) => {
  const q = new OutboundQueue(1000, 5, 4096);
  const msg = Buffer.alloc(150, 1);
  for (let i = 0; i < 5; i++) {
    t.true(q.fits(msg.length));
    q.push(msg);
  }
  t.false(q.fits(1), 'message bound');
  t.is(q.queuedBytes, 750);
  const f = q.shift()!;
  t.is(f.messages, 5);
  t.is(f.data.length, 1 + 750);
  t.is(f.data[0], 0x02);
  t.true(q.empty);
  t.true(q.fits(1000));
  t.false(q.fits(1001), 'byte bound');
  t.false(q.fits(500, 600), 'reserved bytes count');
  q.push(Buffer.alloc(1000));
  t.is(q.clear(), 1);
  t.is(q.queuedBytes, 0);
});

test('close reasons are cut to 123 bytes without splitting characters', (t) => {
  t.is(truncateReason('short'), 'short');
  const cut = truncateReason('é'.repeat(100));
  t.true(Buffer.byteLength(cut) <= 123);
  t.false(cut.includes('\ufffd'));
});
