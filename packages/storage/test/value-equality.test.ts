// compareAndSet compares values, not encodings (issue 22, item 4): the order of an object's
// keys does not matter; arrays, types and bytes do.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, NodeStorage, type KvCommand } from '@conclave/storage';
import { packr } from '../src/codec.js';
import { storedValuesEqual } from '../src/value-equality.js';

const eq = (a: unknown, b: unknown) => storedValuesEqual(packr.pack(a), packr.pack(b));

test('objects are equal whatever the order of their keys, at any depth', (t) => {
  t.true(eq({ a: 1, b: 2 }, { b: 2, a: 1 }));
  t.true(eq({ o: { x: [1, { p: 'q', r: 's' }], y: null } }, { o: { y: null, x: [1, { r: 's', p: 'q' }] } }));
  t.false(eq({ a: 1, b: 2 }, { a: 1, b: 3 }));
  t.false(eq({ a: 1, b: 2 }, { a: 1 }));
  t.false(eq({ a: 1 }, { a: 1, b: undefined }), 'a key with no value is still a key');
});

test('arrays by position, bytes by bytes, numbers by value, and no coercion between types', (t) => {
  t.false(eq([1, 2], [2, 1]));
  t.true(eq(Buffer.from('ab'), new Uint8Array([0x61, 0x62])));
  t.false(eq(Buffer.from('ab'), 'ab'));
  t.true(eq(0, -0));
  t.true(eq(Number.NaN, Number.NaN));
  t.true(eq(1.5, 1.5));
  t.false(eq(1, '1'));
  t.false(eq(null, 0));
  t.false(eq([], {}));
  t.true(eq(new Date(5), new Date(5)));
  t.false(eq(new Date(5), 5));
});

test('a CAS with the keys in another order succeeds, the same on every member (applied from the log)', async (t) => {
  const results: unknown[][] = [];
  for (const member of ['n1', 'n2']) {
    const s = await NodeStorage.open({ path: `eq-${member}`, backend: 'memory' });
    await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' }));
    const cmds: KvCommand[] = [
      { op: 'put', key: 'obj', value: { a: 1, b: { c: [1, 2], d: 'x' } } },
      { op: 'cas', key: 'obj', expected: { b: { d: 'x', c: [1, 2] }, a: 1 }, value: 'swapped' },
      { op: 'cas', key: 'obj', expected: 'swapped', value: [1, 2] },
      { op: 'cas', key: 'obj', expected: [2, 1], value: 'never' },
    ];
    const start = s.lastIndex + 1;
    const entries: Entry[] = cmds.map((c, k) => ({ index: start + k, term: 1, type: 'normal', data: encodeCommand(c) }));
    await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: start + entries.length - 1 }, entries });
    const applied = await s.applyEntries(entries);
    results.push(applied.map((r) => (r.outcome as { succeeded?: boolean } | null)?.succeeded ?? 'put'));
    t.deepEqual(await s.get('obj'), [1, 2]);
    await s.close();
  }
  t.deepEqual(results[0], ['put', true, true, false]);
  t.deepEqual(results[1], results[0]);
});
