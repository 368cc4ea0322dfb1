// In-memory index of the log's terms as runs [startIndex, term], so that term(i),
// firstIndex and lastIndex never touch the disk. Terms change rarely, so the number
// of runs stays small (one per leader change still in the log).
import { assert } from '@conclave/core';
import type { LogPosition } from './codec.js';

interface Run {
  start: number;
  term: number;
}

export class TermIndex {
  /** The last compacted entry (0, 0 for a log that never compacted). */
  private compactedPos: LogPosition;
  private last: number;
  /** Sorted by start, strictly increasing starts and terms; covers (compacted.index, last]. */
  private runs: Run[] = [];

  constructor(compacted: LogPosition) {
    this.compactedPos = compacted;
    this.last = compacted.index;
  }

  get compacted(): LogPosition {
    return this.compactedPos;
  }

  get firstIndex(): number {
    return this.compactedPos.index + 1;
  }

  get lastIndex(): number {
    return this.last;
  }

  get lastTerm(): number {
    const run = this.runs[this.runs.length - 1];
    return run ? run.term : this.compactedPos.term;
  }

  /** Term of entry i; the compaction point's term for i == compacted.index; null when unknown. */
  term(i: number): number | null {
    if (i === this.compactedPos.index) return this.compactedPos.term;
    if (i < this.compactedPos.index || i > this.last) return null;
    // Binary search for the last run starting at or before i.
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runs[mid]!.start <= i) lo = mid;
      else hi = mid - 1;
    }
    const run = this.runs[lo];
    assert(run !== undefined && run.start <= i, () => `term index has no run for ${i}`);
    return run.term;
  }

  /** Records entry (index, term) at the end; index must be lastIndex + 1. */
  push(index: number, term: number): void {
    assert(index === this.last + 1, () => `term index push of ${index} after ${this.last}`);
    assert(term >= this.lastTerm, () => `term index: term ${term} at ${index} is below ${this.lastTerm}`);
    const tail = this.runs[this.runs.length - 1];
    if (!tail || tail.term !== term) this.runs.push({ start: index, term });
    this.last = index;
  }

  /** Forgets entries from `index` on (a conflicting suffix). */
  truncateFrom(index: number): void {
    assert(index > this.compactedPos.index, () => `cannot truncate compacted entry ${index}`);
    if (index > this.last) return;
    while (this.runs.length > 0 && this.runs[this.runs.length - 1]!.start >= index) this.runs.pop();
    this.last = index - 1;
  }

  /** Moves the compaction point forward to `pos` (which must be in the log). */
  compactTo(pos: LogPosition): void {
    assert(pos.index >= this.compactedPos.index && pos.index <= this.last, () => `compaction to ${pos.index} outside (${this.compactedPos.index}, ${this.last}]`);
    this.compactedPos = pos;
    // Drop runs that end at or before the compaction point; the next run (if any) starts later.
    while (this.runs.length > 0) {
      const next = this.runs[1];
      if (next && next.start <= pos.index + 1) this.runs.shift();
      else break;
    }
    const head = this.runs[0];
    if (head) {
      if (pos.index === this.last) this.runs = [];
      else if (head.start <= pos.index) head.start = pos.index + 1;
    }
  }

  clone(): TermIndex {
    const copy = new TermIndex(this.compactedPos);
    copy.last = this.last;
    copy.runs = this.runs.map((r) => ({ start: r.start, term: r.term }));
    return copy;
  }

  /** Replaces everything by an empty log after `pos` (snapshot install). */
  reset(pos: LogPosition): void {
    this.compactedPos = pos;
    this.last = pos.index;
    this.runs = [];
  }
}
