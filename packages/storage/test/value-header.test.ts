// A command's string or byte-array value is checked from its msgpack header instead of being
// decoded (command-values.ts isWholeStrOrBin): it must accept only what decodes, and leave
// everything else to the full decode, which refuses it as before.
import test from 'ava';
import { InvalidArgumentError } from '@conclave/core';
import { strictDecode } from '../src/codec.js';
import { encodeValue, isWholeStrOrBin, rawBytes } from '../src/command-values.js';

const strings = [0, 1, 31, 32, 255, 256, 65_535, 65_536].map((n) => 'é'.repeat(n >> 1) + 'x'.repeat(n & 1));
const buffers = [0, 1, 255, 256, 65_535, 65_536].map((n) => Buffer.alloc(n, 7));
const others: unknown[] = [null, true, 0, -1, 2 ** 40, 1.5, [], ['a'], { a: 'b' }, new Date(0)];

test('strings and byte arrays are whole from their header; other values are left to the decode', (t) => {
  for (const v of [...strings, ...buffers]) {
    const bytes = encodeValue(v, 'value');
    t.true(isWholeStrOrBin(bytes), `${typeof v} of ${bytes.length} bytes`);
    t.is(rawBytes(bytes, 'value', false), bytes);
  }
  for (const v of others) t.false(isWholeStrOrBin(encodeValue(v, 'value')), JSON.stringify(v));
});

test('a string or byte array cut short or with bytes after it is refused, as the decode refuses it', (t) => {
  for (const v of [...strings, ...buffers]) {
    const bytes = encodeValue(v, 'value');
    const variants: Buffer[] = [Buffer.concat([bytes, Buffer.from([0])])];
    if (bytes.length > 1) variants.push(bytes.subarray(0, bytes.length - 1));
    for (const bad of variants) {
      t.false(isWholeStrOrBin(bad));
      t.throws(() => rawBytes(bad, 'value', false), { instanceOf: InvalidArgumentError, message: /value is not a valid msgpack value/ });
    }
  }
  for (const head of [[0xd9], [0xc4], [0xda, 0], [0xc5, 0], [0xdb, 0, 0, 0], [0xc6, 0, 0, 0]]) t.false(isWholeStrOrBin(Buffer.from(head)), `header ${head.join(',')} alone`);
});

test('every value whole by its header decodes (random bytes, invalid UTF-8 included)', (t) => {
  // A fixed pseudo-random sequence, so a failure repeats.
  let seed = 12345;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const heads = [0xa0, 0xa5, 0xbf, 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6];
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    const head = heads[next(heads.length)]!;
    const n = next(300);
    const body = Buffer.alloc(n);
    for (let j = 0; j < n; j++) body[j] = next(256);
    const len = head >= 0xa0 && head <= 0xbf ? [] : head === 0xd9 || head === 0xc4 ? [n] : head === 0xda || head === 0xc5 ? [n >> 8, n & 0xff] : [0, 0, n >> 8, n & 0xff];
    const bytes = Buffer.concat([Buffer.from([head === 0xa0 ? 0xa0 | (n & 0x1f) : head, ...len]), body]);
    if (!isWholeStrOrBin(bytes)) continue;
    accepted++;
    t.notThrows(() => strictDecode(bytes));
  }
  t.true(accepted > 3000, `${accepted} accepted`);
});
