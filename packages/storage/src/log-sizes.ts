// The stored size of each log entry still in the log, so that the snapshot trigger and
// the log kept behind a snapshot can be bounded in bytes as well as in entries: with
// values near 1 MiB, 18,432 entries would be 18 GiB in memory at every restart.
import type { BatchOp } from './raw-db.js';
import { logIndexOf } from './keys.js';

/**
 * Farthest past the end a size may land before the sizes behind it are dropped: the log is
 * contiguous, so a gap means those entries are gone (bounds the zeros filled in between).
 */
const MAX_GAP_ENTRIES = 1 << 16;

/**
 * A dense array by index: the log is contiguous (appends at the end, compaction from the
 * front, truncation from the back), and every write of a batch updates it, so an array
 * costs a fraction of a Map's hashing, deleting and re-inserting per entry.
 */
export class LogSizes {
  /** sizes[k] is the encoded bytes of entry base + k; 0 when not known. */
  private sizes: number[] = [];
  private base = 0;
  /** Leading slots of `sizes` already dropped (compacted): cut off in bulk, not one by one. */
  private dead = 0;

  set(index: number, bytes: number): void {
    if (index < 0) return; // not a log key: open() refuses it right after
    if (this.dead === this.sizes.length) this.reset(index);
    let k = index - this.base;
    if (k < this.dead) {
      // Before everything known (not seen in a contiguous log): make room in front.
      this.sizes = new Array<number>(this.dead - k).fill(0).concat(this.sizes.slice(this.dead));
      this.base = index;
      this.dead = 0;
      k = 0;
    } else if (k > this.sizes.length + MAX_GAP_ENTRIES) {
      this.reset(index);
      k = 0;
    }
    while (this.sizes.length < k) this.sizes.push(0);
    if (k === this.sizes.length) this.sizes.push(bytes);
    else this.sizes[k] = bytes;
  }

  private delete(index: number): void {
    const k = index - this.base;
    if (k < this.dead || k >= this.sizes.length) return;
    if (k === this.sizes.length - 1) {
      this.sizes.pop();
      return;
    }
    this.sizes[k] = 0;
    if (k !== this.dead) return;
    while (this.dead < this.sizes.length && this.sizes[this.dead] === 0) this.dead++;
    if (this.dead >= 1024 && this.dead * 2 >= this.sizes.length) {
      this.sizes = this.sizes.slice(this.dead);
      this.base += this.dead;
      this.dead = 0;
    }
  }

  private reset(index: number): void {
    this.sizes = [];
    this.base = index;
    this.dead = 0;
  }

  private get(index: number): number {
    const k = index - this.base;
    return k >= this.dead && k < this.sizes.length ? this.sizes[k]! : 0;
  }

  /** Follows a batch that was written: log puts add (or replace) sizes, log deletes drop them. */
  track(ops: readonly BatchOp[]): void {
    for (const op of ops) {
      const index = logIndexOf(op.key);
      if (index < 0) continue;
      if (op.type === 'put') this.set(index, op.value.length);
      else this.delete(index);
    }
  }

  /** Bytes of entries (lo, hi]; entries not known (compacted) count 0. */
  bytesBetween(lo: number, hi: number): number {
    let total = 0;
    for (let i = lo + 1; i <= hi; i++) total += this.get(i);
    return total;
  }

  /**
   * The lowest index i <= `upTo` such that entries (i, upTo] hold at most `maxBytes`: the
   * compaction point that keeps no more than `maxBytes` of log behind `upTo`.
   */
  keepWithin(upTo: number, maxBytes: number, floor: number): number {
    let total = 0;
    for (let i = upTo; i > floor; i--) {
      total += this.get(i);
      if (total > maxBytes) return i;
    }
    return floor;
  }
}
