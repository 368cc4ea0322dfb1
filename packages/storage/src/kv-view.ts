// A consistent, read-only view of the KV state machine: LevelDB (through a snapshot, or
// live inside the write queue) under the writes still queued in memory (deferred applies).
// Views serve snapshot-consistent iterators, and find the keys a clear entry deletes.
import { kvKey, kvPrefix, KV_PREFIX_BYTES, userKeyOf, type KvSpace } from './keys.js';
import { kvUserEnd } from './leases.js';
import type { RawClear } from './command.js';
import { recordValue } from './kv-record.js';
import type { RangeOptions, RawDb, RawIterator, RawSnapshot } from './raw-db.js';

/** LevelDB entries read per step: bounds an iterator's memory (values are at most 1 MiB). */
const VIEW_READ_ENTRIES = 64;

export interface KvRange {
  readonly gt?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly lte?: string;
  readonly reverse?: boolean;
}

interface OverlayEntry {
  readonly key: string;
  /** The key's UTF-8 bytes: keys order by them. */
  readonly bytes: Buffer;
  /** The queued value, or null for a queued delete. */
  readonly value: Buffer | null;
}

/** Queued KV writes sorted by key bytes, as one layer over LevelDB. */
export class Overlay {
  private readonly sorted: OverlayEntry[];
  private readonly byKey: Map<string, Buffer | null>;

  /** Later layers win over earlier ones. */
  constructor(layers: readonly (ReadonlyMap<string, Buffer | null> | null)[]) {
    this.byKey = new Map();
    for (const layer of layers) if (layer) for (const [k, v] of layer) this.byKey.set(k, v);
    this.sorted = [...this.byKey].map(([key, value]) => ({ key, bytes: Buffer.from(key, 'utf8'), value }));
    this.sorted.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  }

  get size(): number {
    return this.sorted.length;
  }

  /** The queued writes by key, as one layer (for an overlay stacked on this one). */
  get layer(): ReadonlyMap<string, Buffer | null> {
    return this.byKey;
  }

  lookup(key: string): Buffer | null | undefined {
    return this.byKey.get(key);
  }

  at(i: number): OverlayEntry {
    return this.sorted[i]!;
  }

  /** The index of the first entry whose key is >= `b` (or > `b` when `after`). */
  bound(b: Buffer, after: boolean): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(this.sorted[mid]!.bytes, b);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export const EMPTY_OVERLAY = new Overlay([]);

/**
 * The KV state as applied at `appliedIndex`. With a LevelDB snapshot it stays that state
 * whatever is applied later; close() releases the snapshot. Without one (`snapshot` null)
 * it reads LevelDB live, which only the write queue may do (nothing writes meanwhile).
 */
export class KvView {
  private closed = false;

  constructor(
    private readonly db: RawDb,
    readonly space: KvSpace,
    readonly appliedIndex: number,
    private readonly snapshot: RawSnapshot | null,
    private readonly overlay: Overlay,
    /** False for a view borrowing another's snapshot: closing it leaves the snapshot open. */
    private readonly ownsSnapshot = true,
  ) {}

  /** The value bytes (msgpack) of `key`, or null. */
  async get(key: string): Promise<Buffer | null> {
    const r = await this.getRecord(key);
    return r === null ? null : recordValue(r);
  }

  /** The stored record of `key` (value and revisions: kv-record.ts), or null. */
  async getRecord(key: string): Promise<Buffer | null> {
    const queued = this.overlay.lookup(key);
    if (queued !== undefined) return queued;
    const opts = this.snapshot ? { snapshot: this.snapshot } : undefined;
    return (await this.db.get(kvKey(this.space, key), opts)) ?? null;
  }

  /** Entries of a key range, in key byte order (or reverse). */
  iterator(range: KvRange = {}): KvViewIterator {
    return new KvViewIterator(this.db, this.space, this.snapshot, this.overlay, range);
  }

  /**
   * This view with `changes` (the writes of the entries after it, up to `appliedIndex`)
   * over it, in memory. It shares this view's LevelDB snapshot: close only one of them.
   */
  over(appliedIndex: number, changes: ReadonlyMap<string, Buffer | null>): KvView {
    return new KvView(this.db, this.space, appliedIndex, this.snapshot, new Overlay([this.overlay.layer, changes]));
  }

  /** As over(), for a short read while this view stays open: closing it closes nothing. */
  borrow(appliedIndex: number, changes: ReadonlyMap<string, Buffer | null>): KvView {
    return new KvView(this.db, this.space, appliedIndex, this.snapshot, new Overlay([this.overlay.layer, changes]), false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsSnapshot) await this.snapshot?.close();
  }
}

export class KvViewIterator {
  private readonly reverse: boolean;
  private readonly low: { bytes: Buffer; inclusive: boolean } | null;
  private readonly high: { bytes: Buffer; inclusive: boolean } | null;
  private readonly dbIt: RawIterator;
  private dbBuf: [Buffer, Buffer][] = [];
  private dbPos = 0;
  private dbDone = false;
  /** The next overlay entry, moving up (or down in reverse); the range's overlay slice is [ovLow, ovHigh). */
  private ovPos: number;
  private readonly ovLow: number;
  private readonly ovHigh: number;

  constructor(
    db: RawDb,
    private readonly space: KvSpace,
    snapshot: RawSnapshot | null,
    private readonly overlay: Overlay,
    range: KvRange,
  ) {
    this.reverse = range.reverse === true;
    const lowKey = range.gte ?? range.gt;
    const highKey = range.lte ?? range.lt;
    this.low = lowKey === undefined ? null : { bytes: Buffer.from(lowKey, 'utf8'), inclusive: range.gte !== undefined };
    this.high = highKey === undefined ? null : { bytes: Buffer.from(highKey, 'utf8'), inclusive: range.lte !== undefined };
    const r: RangeOptions = { reverse: this.reverse };
    if (range.gte !== undefined) r.gte = kvKey(space, range.gte);
    else if (range.gt !== undefined) r.gt = kvKey(space, range.gt);
    else r.gte = kvPrefix(space);
    if (range.lte !== undefined) r.lte = kvKey(space, range.lte);
    else if (range.lt !== undefined) r.lt = kvKey(space, range.lt);
    else r.lt = kvUserEnd(space);
    if (snapshot) r.snapshot = snapshot;
    this.dbIt = db.iterator(r);
    this.ovLow = this.low ? overlay.bound(this.low.bytes, !this.low.inclusive) : 0;
    this.ovHigh = Math.max(this.ovLow, this.high ? overlay.bound(this.high.bytes, this.high.inclusive) : overlay.size);
    this.ovPos = this.reverse ? this.ovHigh - 1 : this.ovLow;
  }

  /** The next [key, value bytes], or null at the end. */
  async next(): Promise<[string, Buffer] | null> {
    const e = await this.nextRecord();
    return e === null ? null : [e[0], recordValue(e[1])];
  }

  /** The next [key, stored record] (kv-record.ts), or null at the end. */
  async nextRecord(): Promise<[string, Buffer] | null> {
    // Each turn consumes at least one entry, so this ends with the data.
    for (;;) {
      const db = await this.peekDb();
      const ov = this.ovPos >= this.ovLow && this.ovPos < this.ovHigh ? this.overlay.at(this.ovPos) : null;
      if (db === null && ov === null) return null;
      // c < 0: the stored entry comes first (in iteration order); 0: same key; > 0: the queued one.
      let c: number;
      if (db === null) c = 1;
      else if (ov === null) c = -1;
      else c = this.reverse ? Buffer.compare(ov.bytes, db[0].subarray(KV_PREFIX_BYTES)) : Buffer.compare(db[0].subarray(KV_PREFIX_BYTES), ov.bytes);
      if (c <= 0) this.dbPos++; // equal: the queued write shadows the stored one
      if (c < 0) return [userKeyOf(db![0]), db![1]];
      this.ovPos += this.reverse ? -1 : 1;
      if (ov!.value !== null) return [ov!.key, ov!.value];
    }
  }

  async nextv(size: number): Promise<[string, Buffer][]> {
    const out: [string, Buffer][] = [];
    while (out.length < size) {
      const e = await this.next();
      if (e === null) break;
      out.push(e);
    }
    return out;
  }

  /**
   * Moves to the first key >= `target` (<= `target` in reverse). A target outside the
   * range ends the iteration, as abstract-level specifies.
   */
  seek(target: string): void {
    const t = Buffer.from(target, 'utf8');
    this.dbBuf = [];
    this.dbPos = 0;
    if (!this.inRange(t)) {
      this.dbDone = true;
      this.ovPos = -1;
      return;
    }
    this.dbDone = false;
    this.dbIt.seek(kvKey(this.space, target));
    if (this.reverse) this.ovPos = Math.min(this.ovHigh, this.overlay.bound(t, true)) - 1;
    else this.ovPos = Math.max(this.ovLow, this.overlay.bound(t, false));
  }

  private inRange(t: Buffer): boolean {
    if (this.low) {
      const c = Buffer.compare(t, this.low.bytes);
      if (c < 0 || (c === 0 && !this.low.inclusive)) return false;
    }
    if (this.high) {
      const c = Buffer.compare(t, this.high.bytes);
      if (c > 0 || (c === 0 && !this.high.inclusive)) return false;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.dbIt.close();
  }

  private async peekDb(): Promise<[Buffer, Buffer] | null> {
    if (this.dbPos < this.dbBuf.length) return this.dbBuf[this.dbPos]!;
    if (this.dbDone) return null;
    this.dbBuf = await this.dbIt.nextv(VIEW_READ_ENTRIES);
    this.dbPos = 0;
    if (this.dbBuf.length === 0) {
      this.dbDone = true;
      return null;
    }
    return this.dbBuf[0]!;
  }
}

/** The keys a clear deletes in `view`: the first `limit` of its range (the last ones in reverse). */
export async function keysToClear(view: KvView, c: Pick<RawClear, 'gt' | 'gte' | 'lt' | 'lte' | 'reverse' | 'limit'>): Promise<string[]> {
  const range: KvRange = {
    ...(c.gt !== null ? { gt: c.gt } : {}),
    ...(c.gte !== null ? { gte: c.gte } : {}),
    ...(c.lt !== null ? { lt: c.lt } : {}),
    ...(c.lte !== null ? { lte: c.lte } : {}),
    reverse: c.reverse,
  };
  const it = view.iterator(range);
  try {
    return (await it.nextv(c.limit)).map(([k]) => k);
  } finally {
    await it.close();
  }
}
