// LogSizes (the log's bytes per entry) against a Map of index -> size, the structure it
// replaced: random appends, truncations, compactions, resets and gaps give the same answers.
import test from 'ava';
import fc from 'fast-check';
import { logKey } from '../src/keys.js';
import { LogSizes } from '../src/log-sizes.js';
import type { BatchOp } from '../src/raw-db.js';

type Step = { kind: 'append'; count: number; size: number } | { kind: 'truncate'; back: number; count: number } | { kind: 'compact'; upTo: number } | { kind: 'jump'; by: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 40 }), size: fc.integer({ min: 1, max: 1000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 30 }), count: fc.integer({ min: 0, max: 10 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), upTo: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('jump' as const), by: fc.oneof(fc.integer({ min: 2, max: 50 }), fc.integer({ min: 70_000, max: 200_000 })) }) },
);

test('LogSizes answers as a Map of index -> size does, over random log histories', (t) => {
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 60 }), fc.integer({ min: 1, max: 5000 }), (steps, firstIndex) => {
      const sizes = new LogSizes();
      const model = new Map<number, number>();
      let first = firstIndex;
      let last = firstIndex - 1;
      const apply = (ops: BatchOp[]): void => {
        sizes.track(ops);
        for (const op of ops) {
          const i = op.key.readUInt32BE(5);
          if (op.type === 'put') model.set(i, op.value.length);
          else model.delete(i);
        }
      };
      for (const s of steps) {
        const ops: BatchOp[] = [];
        if (s.kind === 'append') {
          for (let i = 0; i < s.count; i++) ops.push({ type: 'put', key: logKey(++last), value: Buffer.alloc(s.size + i) });
        } else if (s.kind === 'truncate') {
          // The log becomes log[..from-1] + count new entries: the tail beyond is deleted.
          const from = Math.max(first, last - s.back + 1);
          const newLast = from + s.count - 1;
          for (let i = newLast + 1; i <= last; i++) ops.push({ type: 'del', key: logKey(i) });
          for (let i = from; i <= newLast; i++) ops.push({ type: 'put', key: logKey(i), value: Buffer.alloc(7 + i % 13) });
          last = Math.max(newLast, from - 1);
        } else if (s.kind === 'compact') {
          const to = Math.min(last, first - 1 + (s.upTo % (last - first + 2)));
          for (let i = first; i <= to; i++) ops.push({ type: 'del', key: logKey(i) });
          first = to + 1;
        } else {
          // A snapshot install past the log's end: everything goes, the log restarts further on.
          for (let i = first; i <= last; i++) ops.push({ type: 'del', key: logKey(i) });
          first = last + s.by;
          last = first - 1;
        }
        ops.push({ type: 'put', key: Buffer.from('not a log key'), value: Buffer.alloc(3) });
        apply(ops);
        const hi = last + 3;
        for (let lo = Math.max(0, first - 3); lo <= hi; lo += 1 + Math.floor((hi - lo) / 7)) {
          let want = 0;
          for (let i = lo + 1; i <= hi; i++) want += model.get(i) ?? 0;
          if (sizes.bytesBetween(lo, hi) !== want) return false;
        }
        for (const maxBytes of [0, 100, 5000, 1e9]) {
          let want = first - 1;
          let total = 0;
          for (let i = last; i > first - 1; i--) {
            total += model.get(i) ?? 0;
            if (total > maxBytes) {
              want = i;
              break;
            }
          }
          if (sizes.keepWithin(last, maxBytes, first - 1) !== want) return false;
        }
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('LogSizes: sizes set at open in index order, and a malformed key (-1) is left out', (t) => {
  const sizes = new LogSizes();
  sizes.set(-1, 10);
  for (let i = 5; i <= 9; i++) sizes.set(i, i * 10);
  t.is(sizes.bytesBetween(4, 9), 50 + 60 + 70 + 80 + 90);
  t.is(sizes.bytesBetween(6, 8), 70 + 80);
  t.is(sizes.keepWithin(9, 170, 4), 7);
});
