// The KV command encoding: round trips, and every malformed command is refused with an
// InvalidArgumentError that names what is wrong.
import test from 'ava';
import { initialGroup, InvalidArgumentError, RequestTooLargeError } from '@conclave/core';
import { Packr } from 'msgpackr';
import { decodeCommand, encodeCommand, MAX_BATCH_OPS, MAX_COMMAND_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, NodeStorage, type KvCommand } from '@conclave/storage';

const raw = new Packr({ useRecords: false });

test('commands round-trip through encodeCommand/decodeCommand', (t) => {
  const cmds: KvCommand[] = [
    { op: 'put', key: 'a', value: Buffer.from([1, 2, 3]) },
    { op: 'put', key: 'ключ', value: { nested: [1, 'two', null, true, 2.5] } },
    { op: 'put', key: 'n', value: null },
    { op: 'del', key: 'a' },
    { op: 'batch', ops: [{ op: 'put', key: 'x', value: 1 }, { op: 'del', key: 'y' }] },
    { op: 'batch', ops: [] },
    { op: 'cas', key: 'c', expected: 1, value: 2 },
    { op: 'cas', key: 'c', value: 2 },
    { op: 'cas', key: 'c', expected: 'old' },
  ];
  for (const cmd of cmds) t.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
});

const bad: [string, unknown, string][] = [
  ['null command', null, 'command must be an object'],
  ['string command', 'put', 'command must be an object'],
  ['array command', ['put'], 'command must be an object'],
  ['missing op', { key: 'a' }, 'command.op must be one of'],
  ['unknown op', { op: 'get', key: 'a' }, 'command.op must be one of put, del, batch, cas, clear, txn, leaseGrant, leaseRevoke (got "get")'],
  ['put without key', { op: 'put', value: 1 }, 'command.key must be a non-empty string (got undefined)'],
  ['put with number key', { op: 'put', key: 7, value: 1 }, 'command.key must be a non-empty string (got number)'],
  ['put with empty key', { op: 'put', key: '', value: 1 }, 'command.key must be a non-empty string'],
  ['put with lone surrogate', { op: 'put', key: 'a\uD800b', value: 1 }, 'command.key contains a lone UTF-16 surrogate'],
  ['put with long key', { op: 'put', key: 'k'.repeat(MAX_KEY_BYTES + 1), value: 1 }, `command.key is ${MAX_KEY_BYTES + 1} bytes of UTF-8; at most ${MAX_KEY_BYTES}`],
  ['put without value', { op: 'put', key: 'a' }, 'command.value must not be undefined'],
  ['put with function value', { op: 'put', key: 'a', value: () => 1 }, 'command.value must be a msgpack value (got function)'],
  ['put with symbol value', { op: 'put', key: 'a', value: Symbol('s') }, 'command.value must be a msgpack value (got symbol)'],
  ['put with huge bigint', { op: 'put', key: 'a', value: 10n ** 30n }, 'command.value cannot be encoded as msgpack'],
  ['put with oversized value', { op: 'put', key: 'a', value: Buffer.alloc(MAX_VALUE_BYTES) }, `at most ${MAX_VALUE_BYTES} allowed`],
  ['del without key', { op: 'del' }, 'command.key must be a non-empty string'],
  ['batch without ops', { op: 'batch' }, 'command.ops must be an array (got undefined)'],
  ['batch with non-object op', { op: 'batch', ops: [{ op: 'put', key: 'a', value: 1 }, 5] }, 'command.ops[1] must be an object'],
  ['batch with cas', { op: 'batch', ops: [{ op: 'cas', key: 'a', value: 1 }] }, "command.ops[0].op must be 'put' or 'del' (got \"cas\")"],
  ['nested batch', { op: 'batch', ops: [{ op: 'batch', ops: [] }] }, "command.ops[0].op must be 'put' or 'del'"],
  ['batch with bad key', { op: 'batch', ops: [{ op: 'del', key: 'a' }, { op: 'del', key: 'b' }, { op: 'put', key: 3, value: 1 }] }, 'command.ops[2].key must be a non-empty string (got number)'],
  ['batch with undefined value', { op: 'batch', ops: [{ op: 'put', key: 'a' }] }, 'command.ops[0].value must not be undefined'],
  ['oversized batch', { op: 'batch', ops: Array.from({ length: MAX_BATCH_OPS + 1 }, () => ({ op: 'del', key: 'a' })) }, `has ${MAX_BATCH_OPS + 1} operations`],
  ['cas without key', { op: 'cas', expected: 1, value: 2 }, 'command.key must be a non-empty string'],
  ['cas with oversized expected', { op: 'cas', key: 'a', expected: Buffer.alloc(MAX_VALUE_BYTES), value: 1 }, 'command.expected is'],
];

for (const [name, cmd, message] of bad) {
  test(`encodeCommand refuses: ${name}`, (t) => {
    const err = t.throws(() => encodeCommand(cmd as KvCommand), { instanceOf: InvalidArgumentError });
    t.is(err?.code, 'INVALID_ARGUMENT');
    t.true(err!.message.includes(message), `message was: ${err?.message}`);
  });
}

const badBytes: [string, Uint8Array, string][] = [
  ['garbage', Buffer.from([0xc1, 0xff]), 'command is not valid msgpack'],
  ['trailing bytes', Buffer.concat([raw.pack([2, 'a']), Buffer.from([1])]), 'command is not valid msgpack'],
  ['not a tuple', raw.pack({ op: 'put' }), 'command is not a command tuple'],
  ['unknown op code', raw.pack([9, 'a']), 'command: unknown op code 9'],
  ['put with 2 elements', raw.pack([1, 'a']), 'put must have 3 or 4 elements (got 2)'],
  ['put with string value', raw.pack([1, 'a', 'v']), 'command.value must be msgpack binary (got string)'],
  ['put with non-msgpack value', raw.pack([1, 'a', Buffer.from([0xc1])]), 'command.value is not a valid msgpack value'],
  ['put with undefined value', raw.pack([1, 'a', Buffer.from([0xd4, 0, 0])]), 'command.value must not be undefined'],
  ['del with number key', raw.pack([2, 5]), 'command.key must be a non-empty string (got number)'],
  ['batch of non-array', raw.pack([3, 'x']), 'batch must be [3, ops[]]'],
  ['batch with cas', raw.pack([3, [[4, 'a', null, null]]]), 'command.ops[0]: cas is not allowed inside a batch'],
  ['cas with 3 elements', raw.pack([4, 'a', null]), 'cas must have 4 elements (got 3)'],
];

for (const [name, bytes, message] of badBytes) {
  test(`decodeCommand refuses: ${name}`, (t) => {
    const err = t.throws(() => decodeCommand(bytes), { instanceOf: InvalidArgumentError });
    t.true(err!.message.includes(message), `message was: ${err?.message}`);
  });
}

test('a committed entry with a bad command applies as a no-op with an error, losing nothing', async (t) => {
  const s = await NodeStorage.open({ path: 'bad-apply', backend: 'memory' });
  await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001' }));
  const entries = [
    { index: 1, term: 1, type: 'normal' as const, data: encodeCommand({ op: 'put', key: 'keep', value: 'me' }) },
    ...badBytes.map(([, data], k) => ({ index: 2 + k, term: 1, type: 'normal' as const, data })),
    { index: 2 + badBytes.length, term: 1, type: 'normal' as const, data: encodeCommand({ op: 'put', key: 'after', value: 1 }) },
  ];
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: entries.length }, entries });
  const results = await s.applyEntries(entries);
  t.is(results.length, entries.length);
  t.like(results[0], { index: 1, outcome: { op: 'put' }, error: null });
  for (const r of results.slice(1, -1)) {
    t.true(r.error instanceof InvalidArgumentError, `entry ${r.index}`);
    t.is(r.outcome, null);
  }
  t.is(s.applied, entries.length);
  t.is(await s.get('keep'), 'me');
  t.is(await s.get('after'), 1);
  const keys: string[] = [];
  for await (const [k] of s.scan()) keys.push(k);
  t.deepEqual(keys, ['after', 'keep']);
  await s.close();
});

test('a command over MAX_COMMAND_BYTES is refused with REQUEST_TOO_LARGE naming the limit and the size', (t) => {
  const value = Buffer.alloc(1000 * 1024);
  const ops = Array.from({ length: 20 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value }));
  const err = t.throws(() => encodeCommand({ op: 'batch', ops }), { instanceOf: RequestTooLargeError });
  t.is(err?.code, 'REQUEST_TOO_LARGE');
  t.is(err?.limitBytes, MAX_COMMAND_BYTES);
  t.true(err!.sizeBytes >= 20 * (1000 * 1024 + 3) && err!.sizeBytes <= 20 * (1000 * 1024 + 64), `size ${err?.sizeBytes} is about the batch's`);
  t.regex(err?.message ?? '', /a batch of 20 operations\) is \d+ bytes; at most 4194304 bytes/);
  // Just under the limit is fine, and its real encoding is within the limit too.
  const fits = Array.from({ length: 4 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value }));
  t.true(encodeCommand({ op: 'batch', ops: fits }).length <= MAX_COMMAND_BYTES);
});
