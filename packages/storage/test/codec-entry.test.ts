// encodeEntry writes log entries without msgpackr's general path: its bytes must be exactly
// what packr.pack gives (the stored format), at every boundary of msgpack's integer and bin
// headers, and decode back to the same entry.
import test from 'ava';
import type { Entry, EntryType } from '@conclave/core';
import { decodeEntry, encodeEntry, packr } from '../src/codec.js';

const TYPE_CODES: Record<EntryType, number> = { normal: 0, noop: 1, conf: 2 };
const NUMBERS = [0, 1, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffff_ffff, 0x1_0000_0000, 2 ** 53 - 1];
const LENGTHS = [0, 1, 0xff, 0x100, 0xffff, 0x10000, 70_000];

test('encodeEntry gives the bytes of packr.pack([index, term, code, data]) and decodes back', (t) => {
  let checked = 0;
  for (const index of NUMBERS) {
    for (const term of NUMBERS) {
      for (const type of ['normal', 'noop'] as const) {
        for (const len of LENGTHS) {
          const data = Buffer.alloc(len, (index + len) & 0xff);
          // A view into a larger buffer, as the transport hands the core's entries over.
          const view = new Uint8Array(Buffer.concat([Buffer.from([9, 9]), data]).buffer).subarray(2, 2 + len);
          for (const d of [data, view]) {
            const e: Entry = { index, term, type, data: d };
            const got = encodeEntry(e);
            const want = packr.pack([index, term, TYPE_CODES[type], d]);
            if (!got.equals(want)) t.fail(`index ${index} term ${term} ${type} ${len} B: ${got.subarray(0, 16).toString('hex')} vs ${want.subarray(0, 16).toString('hex')}`);
            const back = decodeEntry(got);
            if (back.index !== index || back.term !== term || back.type !== type || !Buffer.from(back.data).equals(Buffer.from(d))) t.fail(`round trip of index ${index} term ${term} ${len} B`);
            checked++;
          }
        }
      }
    }
  }
  t.is(checked, NUMBERS.length * NUMBERS.length * 2 * LENGTHS.length * 2);
});

test('a conf entry still carries its change', (t) => {
  const e: Entry = { index: 5, term: 2, type: 'conf', data: new Uint8Array(0), change: { op: 'remove', id: 'n3' } };
  t.deepEqual(encodeEntry(e), packr.pack([5, 2, 2, new Uint8Array(0), { op: 'remove', id: 'n3' }]));
  t.deepEqual(decodeEntry(encodeEntry(e)).change, { op: 'remove', id: 'n3' });
});
