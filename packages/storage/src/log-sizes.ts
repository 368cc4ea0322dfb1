// The stored size of each log entry still in the log, so that the snapshot trigger and
// the log kept behind a snapshot can be bounded in bytes as well as in entries: with
// values near 1 MiB, 18,432 entries would be 18 GiB in memory at every restart.
import type { BatchOp } from './raw-db.js';
import { logIndexOf } from './keys.js';

export class LogSizes {
  /** index -> encoded bytes; insertion order is index order (appends come in order). */
  private readonly sizes = new Map<number, number>();

  set(index: number, bytes: number): void {
    this.sizes.set(index, bytes);
  }

  /** Follows a batch that was written: log puts add (or replace) sizes, log deletes drop them. */
  track(ops: readonly BatchOp[]): void {
    for (const op of ops) {
      const index = logIndexOf(op.key);
      if (index < 0) continue;
      if (op.type === 'put') {
        // A rewrite of an index must come after the ones before it: re-insert to keep the order.
        this.sizes.delete(index);
        this.sizes.set(index, op.value.length);
      } else {
        this.sizes.delete(index);
      }
    }
  }

  /** Bytes of entries (lo, hi]; entries not known (compacted) count 0. */
  bytesBetween(lo: number, hi: number): number {
    let total = 0;
    for (let i = lo + 1; i <= hi; i++) total += this.sizes.get(i) ?? 0;
    return total;
  }

  /**
   * The lowest index i <= `upTo` such that entries (i, upTo] hold at most `maxBytes`: the
   * compaction point that keeps no more than `maxBytes` of log behind `upTo`.
   */
  keepWithin(upTo: number, maxBytes: number, floor: number): number {
    let total = 0;
    for (let i = upTo; i > floor; i--) {
      total += this.sizes.get(i) ?? 0;
      if (total > maxBytes) return i;
    }
    return floor;
  }
}
