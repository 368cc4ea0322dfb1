// The log's batch planning: what an append, a compaction or a hard state write puts in a
// batch, checked against a copy of the term index so that memory changes only after the
// batch is written.
import { assert, InvalidArgumentError } from '@conclave/core';
import type { Entry, HardState } from '@conclave/core';
import { encodeEntry, encodePosition, isIndex } from './codec.js';
import { logKey, META_COMPACTED } from './keys.js';
import type { BatchOp } from './raw-db.js';
import type { TermIndex } from './term-index.js';

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

/** Validates a hard state from the driver against the current one. */
export function checkHardState(next: HardState, prev: HardState): HardState {
  if (typeof next !== 'object' || next === null || !isIndex(next.term) || typeof next.vote !== 'string' || !isIndex(next.commit)) {
    throw new InvalidArgumentError('hardState must be {term, vote, commit} with integer term and commit and a string vote');
  }
  assert(next.term >= prev.term, () => `hard state term went back from ${prev.term} to ${next.term}`);
  assert(
    next.term > prev.term || prev.vote === '' || next.vote === prev.vote,
    () => `hard state vote changed within term ${next.term}: ${prev.vote} then ${next.vote}`,
  );
  return { term: next.term, vote: next.vote, commit: next.commit };
}

/** What load() checks on the way back in, asserted before a batch goes out. */
export function checkLogInvariants(hs: HardState, applied: number, log: TermIndex): void {
  assert(hs.commit <= log.lastIndex, () => `hard state commit ${hs.commit} is beyond the last log index ${log.lastIndex}`);
  assert(applied <= log.lastIndex, () => `the log would end at ${log.lastIndex}, below the applied index ${applied}`);
  assert(hs.term >= log.lastTerm, () => `hard state term ${hs.term} is below the last log term ${log.lastTerm}`);
}

/**
 * Adds to `ops` the writes that make the log log[..entries[0].index-1] + entries, and
 * applies the same change to `log` (a copy, swapped in once the batch is written).
 * `commit` is the persisted commit index: committed entries are never rewritten.
 */
export function planAppend(entries: readonly Entry[], ops: BatchOp[], log: TermIndex, commit: number): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (!isIndex(e?.index) || e.index === 0 || !isIndex(e.term)) throw new InvalidArgumentError(`entries[${i}] has a bad index or term`);
    if (e.type !== 'normal' && e.type !== 'noop' && e.type !== 'conf') throw new InvalidArgumentError(`entries[${i}] has unknown type ${String(e.type)}`);
    if (!(e.data instanceof Uint8Array)) throw new InvalidArgumentError(`entries[${i}].data must be a Uint8Array`);
    if ((e.type === 'conf') !== (e.change !== undefined)) throw new InvalidArgumentError(`entries[${i}]: exactly the conf entries carry a change`);
    if (i > 0) {
      const prev = entries[i - 1]!;
      if (e.index !== prev.index + 1) throw new InvalidArgumentError(`entries are not contiguous: ${prev.index} then ${e.index}`);
      if (e.term < prev.term) throw new InvalidArgumentError(`entry terms decrease: ${prev.term} at ${prev.index}, ${e.term} at ${e.index}`);
    }
  }
  const compacted = log.compacted;
  // Entries at or below the compaction point are already in the snapshot: skip them (etcd does the same).
  let start = 0;
  while (start < entries.length && entries[start]!.index <= compacted.index) start++;
  if (start > 0) {
    const atPoint = entries[start - 1]!;
    assert(atPoint.index !== compacted.index || atPoint.term === compacted.term, () => `entry ${atPoint.index} (term ${atPoint.term}) conflicts with the compaction point (term ${compacted.term})`);
  }
  if (start === entries.length) return;
  const first = entries[start]!;
  const lastNew = entries[entries.length - 1]!.index;
  if (first.index > log.lastIndex + 1) throw new InvalidArgumentError(`entries start at ${first.index}, leaving a gap after the last index ${log.lastIndex}`);
  const prevTerm = log.term(first.index - 1)!;
  if (first.term < prevTerm) throw new InvalidArgumentError(`entry ${first.index} has term ${first.term}, below the previous entry's term ${prevTerm}`);
  // Raft never rewrites a committed entry: an overlap with the committed prefix must be the same entries.
  const overlapEnd = Math.min(log.lastIndex, commit, lastNew);
  for (let i = first.index; i <= overlapEnd; i++) {
    const e = entries[start + i - first.index]!;
    assert(e.term === log.term(i), () => `entry ${i} (term ${e.term}) would rewrite committed entry ${i} (term ${log.term(i)})`);
  }
  if (first.index <= log.lastIndex) {
    // The log becomes log[..first-1] + entries: keys beyond the new end are deleted, the rest overwritten.
    for (let i = lastNew + 1; i <= log.lastIndex; i++) ops.push({ type: 'del', key: logKey(i) });
    log.truncateFrom(first.index);
  }
  for (let i = start; i < entries.length; i++) {
    const e = entries[i]!;
    ops.push({ type: 'put', key: logKey(e.index), value: encodeEntry(e) });
    log.push(e.index, e.term);
  }
}

/** Adds the writes that drop entries up to `index` and record it as the compaction point. */
export function planCompaction(index: number, ops: BatchOp[], log: TermIndex): void {
  const term = log.term(index);
  assert(term !== null, () => `no term for compaction index ${index}`);
  for (let i = log.firstIndex; i <= index; i++) ops.push({ type: 'del', key: logKey(i) });
  const pos = { index, term };
  ops.push({ type: 'put', key: META_COMPACTED, value: encodePosition(pos) });
  log.compactTo(pos);
}
