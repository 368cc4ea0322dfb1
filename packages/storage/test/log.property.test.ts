// Property tests of the log against a model array: append (with truncation), commit and
// apply, compact, entries (with maxBytes), term, and close/reopen; on memory-level and LevelDB.
import test from 'ava';
import fc from 'fast-check';
import type { Entry } from '@conclave/core';
import { initialGroup } from '@conclave/core';
import { encodeCommand, encodeEntry, LogCompactedError, MemoryBackend, NodeStorage } from '@conclave/storage';
import { removeDir, tempDir } from './helpers.js';

type Op =
  | { kind: 'append'; startPick: number; count: number; termBump: boolean; sizes: number[] }
  | { kind: 'commitApply'; steps: number }
  | { kind: 'compact'; pick: number }
  | { kind: 'snapshot' }
  | { kind: 'entries'; loPick: number; span: number; maxBytes: number }
  | { kind: 'term'; pick: number }
  | { kind: 'reopen' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), startPick: fc.nat(1000), count: fc.integer({ min: 1, max: 12 }), termBump: fc.boolean(), sizes: fc.array(fc.integer({ min: -1, max: 300 }), { minLength: 12, maxLength: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commitApply' as const), steps: fc.integer({ min: 0, max: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('entries' as const), loPick: fc.nat(1000), span: fc.integer({ min: 0, max: 30 }), maxBytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2000 }), fc.constant(Number.POSITIVE_INFINITY)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('term' as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

/** The model: the log as an array after the compaction point, plus commit/applied. */
class Model {
  compacted = { index: 0, term: 0 };
  log: Entry[] = [];
  term = 1;
  commit = 0;
  applied = 0;
  get last(): number {
    return this.compacted.index + this.log.length;
  }
  termAt(i: number): number | null {
    if (i === this.compacted.index) return this.compacted.term;
    if (i < this.compacted.index || i > this.last) return null;
    return this.log[i - this.compacted.index - 1]!.term;
  }
}

function makeEntry(index: number, term: number, size: number): Entry {
  if (size < 0) return { index, term, type: 'noop', data: new Uint8Array(0) };
  return { index, term, type: 'normal', data: encodeCommand({ op: 'put', key: `k${index % 7}`, value: Buffer.alloc(size, index % 251) }) };
}

/** How often the interesting paths ran, so that a test can show it exercised them. */
const coverage = { truncations: 0, compactions: 0, maxBytesCuts: 0, reopens: 0 };

async function runOps(ops: Op[], open: () => Promise<NodeStorage>): Promise<void> {
  let s = await open();
  const m = new Model();
  try {
    await s.initializeGroup(initialGroup('prop', { n1: '127.0.0.1:7001' }));
    for (const op of ops) {
      switch (op.kind) {
        case 'append': {
          // Truncation may only start after the commit point (Raft never rewrites committed entries).
          const lo = Math.max(m.commit, m.compacted.index) + 1;
          const start = lo + (op.startPick % (m.last - lo + 2));
          if (op.termBump) m.term++;
          const entries: Entry[] = [];
          for (let k = 0; k < op.count; k++) entries.push(makeEntry(start + k, m.term, op.sizes[k]!));
          await s.writeReady({ hardState: { term: m.term, vote: 'n1', commit: m.commit }, entries });
          if (start <= m.last) coverage.truncations++;
          m.log = [...m.log.slice(0, start - m.compacted.index - 1), ...entries];
          break;
        }
        case 'commitApply': {
          m.commit = Math.min(m.last, m.commit + op.steps);
          await s.setHardState({ term: m.term, vote: 'n1', commit: m.commit });
          if (m.applied < m.commit) {
            await s.applyEntries(m.log.slice(m.applied - m.compacted.index, m.commit - m.compacted.index));
            m.applied = m.commit;
          }
          break;
        }
        case 'compact': {
          const index = m.compacted.index + (op.pick % (m.applied - m.compacted.index + 1));
          await s.compact(index);
          if (index > m.compacted.index) {
            coverage.compactions++;
            const term = m.termAt(index)!;
            m.log = m.log.slice(index - m.compacted.index);
            m.compacted = { index, term };
          }
          break;
        }
        case 'snapshot': {
          const meta = await s.recordSnapshot();
          if (meta.index !== m.applied || meta.term !== m.termAt(m.applied)) throw new Error(`snapshot meta ${meta.index}/${meta.term}`);
          const to = m.applied - s.entriesKeptAfterSnapshot;
          if (to > m.compacted.index) {
            const term = m.termAt(to)!;
            m.log = m.log.slice(to - m.compacted.index);
            m.compacted = { index: to, term };
          }
          break;
        }
        case 'entries': {
          const lo = m.compacted.index + (op.loPick % (m.log.length + 2));
          const hi = Math.min(lo + op.span, m.last + 1);
          if (lo <= m.compacted.index) {
            const err = await s.entries(lo, Math.max(lo, hi), op.maxBytes).then(() => null, (e: unknown) => e);
            if (!(err instanceof LogCompactedError)) throw new Error(`entries(${lo}, ${hi}) below the compaction point gave ${String(err)}`);
            break;
          }
          if (lo > hi) break;
          const got = await s.entries(lo, hi, op.maxBytes);
          const want: Entry[] = [];
          let bytes = 0;
          for (let i = lo; i < hi; i++) {
            const e = m.log[i - m.compacted.index - 1]!;
            bytes += encodeEntry(e).length;
            if (want.length > 0 && bytes > op.maxBytes) break;
            want.push(e);
          }
          if (want.length < hi - lo) coverage.maxBytesCuts++;
          if (got.length !== want.length) throw new Error(`entries(${lo}, ${hi}, ${op.maxBytes}) returned ${got.length}, model ${want.length}`);
          for (let k = 0; k < want.length; k++) {
            const a = got[k]!;
            const b = want[k]!;
            if (a.index !== b.index || a.term !== b.term || a.type !== b.type || Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) !== 0) {
              throw new Error(`entries(${lo}, ${hi}): entry ${b.index} differs`);
            }
          }
          break;
        }
        case 'term': {
          const i = op.pick % (m.last + 3);
          const got = s.term(i);
          if (got !== m.termAt(i)) throw new Error(`term(${i}) = ${got}, model ${m.termAt(i)}`);
          break;
        }
        case 'reopen': {
          await s.close();
          s = await open();
          coverage.reopens++;
          const st = await s.load();
          if (st.entries.length !== m.log.length) throw new Error(`reopen: ${st.entries.length} entries, model ${m.log.length}`);
          if (st.applied !== m.applied || st.hardState.commit !== m.commit) throw new Error('reopen: applied/commit differ');
          break;
        }
      }
      if (s.firstIndex !== m.compacted.index + 1 || s.lastIndex !== m.last) {
        throw new Error(`after ${op.kind}: storage [${s.firstIndex}, ${s.lastIndex}], model [${m.compacted.index + 1}, ${m.last}]`);
      }
      if (s.compacted.index !== m.compacted.index || s.compacted.term !== m.compacted.term) {
        throw new Error(`after ${op.kind}: compaction point ${JSON.stringify(s.compacted)}, model ${JSON.stringify(m.compacted)}`);
      }
    }
    // Every term, one past each end included.
    for (let i = Math.max(0, m.compacted.index - 1); i <= m.last + 1; i++) {
      if (s.term(i) !== m.termAt(i)) throw new Error(`final term(${i}) = ${s.term(i)}, model ${m.termAt(i)}`);
    }
  } finally {
    await s.close();
  }
}

test('log matches the model (memory-level, with reopen)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), async (ops) => {
      const backend = new MemoryBackend();
      await runOps(ops, () => NodeStorage.open({ path: 'prop', backend, entriesKeptAfterSnapshot: 5 }));
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('log matches the model (LevelDB, with close and reopen)', async (t) => {
  t.timeout(60_000);
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }), async (ops) => {
      const dir = tempDir('prop');
      try {
        await runOps(ops, () => NodeStorage.open({ path: dir, groupId: 'prop', entriesKeptAfterSnapshot: 5, syncPolicy: 'writeNoSync' }));
      } finally {
        removeDir(dir);
      }
    }),
    { numRuns: 25 },
  );
  t.log(coverage);
  t.true(coverage.truncations > 0 && coverage.compactions > 0 && coverage.maxBytesCuts > 0 && coverage.reopens > 0);
});
