// The watch history: the changes applied at each revision, kept in LevelDB (key space 0x04)
// and written in the same batch as the apply, so a watcher can replay them after a restart.
// Retained by revisions and by bytes; `start` is the first revision whose changes are all
// still held (a member installed from a snapshot at S starts at S + 1: it never saw what
// came before). Record: msgpack [[type (1 put, 2 delete), key, value | nil, prev], ...].
//
// `prev` is the value before the change: nil (the key was absent), its bytes, or the revision
// of an older history record whose put of the same key wrote it. Storing each value once is
// what this is for: an overwrite of a large value wrote it twice into the history, as the new
// value and again as the next change's previous value (bench/README.md, issue 15), as etcd
// keeps each revision's value once and reads a watcher's prevKV from the revision before.
// A reference is written only to a record the history holds; the referred record then stays
// on disk (it "lingers", below `start`, counted in the byte budget) until the last record
// referring to it leaves the history, so a retained change always has its previous value.
// The references are in the key (keys.ts), so that opening a node learns them without
// reading the records. Records of older builds hold every previous value inline.
import { assert, InvalidArgumentError } from '@conclave/core';
import { encode, isIndex, packr, strictDecode } from './codec.js';
import { historyKey, META_HISTORY_START } from './keys.js';
import type { BatchOp } from './raw-db.js';
import type { AppliedChange, KvChange } from './storage-types.js';

const TYPE_PUT = 1;
const TYPE_DELETE = 2;
/** Most distinct records one record refers to (they make its key); past it, previous values go inline. */
export const MAX_HISTORY_REFS = 64;

/** The changes of one revision, as read back. */
export interface HistoryRecord {
  readonly revision: number;
  readonly changes: readonly KvChange[];
}

/** A change as stored: `prev` is the previous value, or the revision of the record holding it. */
export interface StoredChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: Buffer | null;
  readonly prev: Buffer | null | number;
}

/** Encodes a record; `prevAt(change)` is the revision to refer to for its previous value, or 0 to keep it inline. */
export function encodeHistoryRecord(changes: readonly KvChange[], prevAt: (c: KvChange) => number = () => 0): Buffer {
  return packr.pack(
    changes.map((c) => {
      const at = c.prevValue === null ? 0 : prevAt(c);
      return [c.type === 'put' ? TYPE_PUT : TYPE_DELETE, c.key, c.value, at > 0 ? at : c.prevValue];
    }),
  );
}

function bytesOrNull(v: unknown): Buffer | null {
  if (v === null || v === undefined) return null;
  if (!(v instanceof Uint8Array)) throw new InvalidArgumentError('history value is not bytes');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function decodeStoredChanges(bytes: Uint8Array): StoredChange[] {
  const raw: unknown = strictDecode(bytes);
  if (!Array.isArray(raw)) throw new InvalidArgumentError('history record is not an array');
  return raw.map((c: unknown) => {
    if (!Array.isArray(c) || c.length !== 4 || typeof c[1] !== 'string') throw new InvalidArgumentError('history change is not [type, key, value, prevValue]');
    const prev = typeof c[3] === 'number' ? c[3] : bytesOrNull(c[3]);
    if (typeof prev === 'number' && !(isIndex(prev) && prev > 0)) throw new InvalidArgumentError(`history change refers to revision ${prev}`);
    return { type: c[0] === TYPE_PUT ? 'put' : 'delete', key: c[1], value: bytesOrNull(c[2]), prev };
  });
}

/** The value the last put of `key` in a record wrote, or undefined when the record has none. */
export function valueWritten(changes: readonly StoredChange[], key: string): Buffer | undefined {
  for (let i = changes.length - 1; i >= 0; i--) {
    const c = changes[i]!;
    if (c.key === key) return c.type === 'put' && c.value !== null ? c.value : undefined;
  }
  return undefined;
}

/** A record on disk: its revision, size, and the records it refers to (its key is made of them). */
interface Held {
  readonly revision: number;
  readonly sizeBytes: number;
  readonly refs: readonly number[] | null;
}

function keyOf(h: Held): Buffer {
  return historyKey(h.revision, h.sizeBytes, h.refs);
}

/** What a batch will change, applied to memory once the batch is written. */
export interface HistoryPlan {
  readonly added: Held[];
  /** Records referred to by added ones: revision -> the newest referrer. */
  readonly pins: Map<number, number>;
  /** How many window records left the window (oldest first). */
  readonly dropped: number;
  /** Of those, the ones still referred to, and the revision whose leaving frees them. */
  readonly lingered: { held: Held; until: number }[];
  /** Records deleted: dropped ones no one refers to, and lingering ones freed. */
  readonly freed: Held[];
  /** Revisions that left the window (their lingering records are in `freed`). */
  readonly left: number[];
  readonly start: number;
  readonly reset: boolean;
}

export class WatchHistory {
  /** The retained records, oldest first. */
  private records: Held[] = [];
  private head = 0;
  /** Bytes of every record on disk: the window's and the lingering ones'. */
  private totalBytes = 0;
  /** Record revision -> the newest record referring to it. */
  private pinnedUntil = new Map<number, number>();
  /** Records below `start` kept for a referrer, by the referrer whose leaving frees them. */
  private lingering = new Map<number, Held[]>();
  private lingeringCount = 0;

  constructor(
    public start: number,
    readonly retainRevisions: number,
    readonly retainBytes: number,
  ) {}

  get sizeBytes(): number {
    return this.totalBytes;
  }

  /** Records in the window (those at `start` or later). */
  get count(): number {
    return this.records.length - this.head;
  }

  /** Records kept below `start` because a retained record refers to them. */
  get lingeringRecords(): number {
    return this.lingeringCount;
  }

  /** At boot: the records found on disk by their keys (in revision order), then `applied`. */
  loadAll(found: readonly { revision: number; sizeBytes: number; refs: number[] | null }[], applied: number): void {
    const below: Held[] = [];
    for (const h of found) {
      if (h.revision > applied) continue;
      if (h.revision < this.start) {
        below.push(h);
        continue;
      }
      this.records.push(h);
      this.totalBytes += h.sizeBytes;
      if (h.refs !== null) for (const p of h.refs) this.pinnedUntil.set(p, Math.max(this.pinnedUntil.get(p) ?? 0, h.revision));
    }
    // Below the start, only records a retained one refers to are held; the batch that
    // moved the start deleted the rest (a leftover would be ignored, as before).
    for (const h of below) {
      const until = this.pinnedUntil.get(h.revision);
      if (until !== undefined && until >= this.start) this.linger(h, until);
    }
  }

  private linger(h: Held, until: number): void {
    const list = this.lingering.get(until);
    if (list) list.push(h);
    else this.lingering.set(until, [h]);
    this.lingeringCount++;
    this.totalBytes += h.sizeBytes;
  }

  /** The window record at `revision` (binary search), or undefined. */
  private windowRecord(revision: number): Held | undefined {
    let lo = this.head;
    let hi = this.records.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.records[mid]!.revision;
      if (r === revision) return this.records[mid];
      if (r < revision) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Adds the records of applied revisions and the trimming they make due to `ops`. */
  planApply(byRevision: readonly { revision: number; changes: readonly AppliedChange[] }[], applied: number, ops: BatchOp[]): HistoryPlan {
    const added: Held[] = [];
    const addedAt = new Set<number>();
    const pins = new Map<number, number>();
    let bytes = this.totalBytes;
    for (const r of byRevision) {
      if (r.changes.length === 0) continue;
      const refs: number[] = [];
      // A previous value written by a record the history holds is referred to, not copied.
      // Not to this same record: a key written twice in one revision refers to itself.
      const prevAt = (c: KvChange): number => {
        const p = (c as AppliedChange).prevRevision;
        if (!(p > 0 && p < r.revision && (addedAt.has(p) || (p >= this.start && this.windowRecord(p) !== undefined)))) return 0;
        if (!refs.includes(p)) {
          if (refs.length >= MAX_HISTORY_REFS) return 0;
          refs.push(p);
        }
        return p;
      };
      const value = encodeHistoryRecord(r.changes, prevAt);
      const held: Held = { revision: r.revision, sizeBytes: value.length, refs: refs.length > 0 ? refs : null };
      ops.push({ type: 'put', key: keyOf(held), value });
      added.push(held);
      addedAt.add(r.revision);
      for (const p of refs) pins.set(p, r.revision);
      bytes += value.length;
    }
    const until = (revision: number): number | undefined => pins.get(revision) ?? this.pinnedUntil.get(revision);
    // Oldest first: past the revision window, or while over the byte budget (the newest
    // record always stays, so a watcher can at least follow live). A record that leaves the
    // window while a retained one refers to it lingers until that one leaves too.
    const all = (i: number): Held => (i < this.count ? this.records[this.head + i]! : added[i - this.count]!);
    const total = this.count + added.length;
    const lingered: { held: Held; until: number }[] = [];
    const lingeredBy = new Map<number, Held[]>();
    const freed: Held[] = [];
    const left: number[] = [];
    const free = (h: Held): void => {
      ops.push({ type: 'del', key: keyOf(h) });
      freed.push(h);
      bytes -= h.sizeBytes;
    };
    let dropped = 0;
    let start = this.start;
    while (dropped < total - 1) {
      const r = all(dropped);
      if (r.revision > applied - this.retainRevisions && bytes <= this.retainBytes) break;
      const u = until(r.revision);
      if (u === undefined) free(r);
      else {
        const list = lingeredBy.get(u);
        if (list) list.push(r);
        else lingeredBy.set(u, [r]);
      }
      for (const h of this.lingering.get(r.revision) ?? []) free(h);
      for (const h of lingeredBy.get(r.revision) ?? []) free(h);
      lingeredBy.delete(r.revision);
      left.push(r.revision);
      start = r.revision + 1;
      dropped++;
    }
    for (const [u, hs] of lingeredBy) for (const held of hs) lingered.push({ held, until: u });
    if (start !== this.start) ops.push({ type: 'put', key: META_HISTORY_START, value: encode(start) });
    return { added, pins, dropped, lingered, freed, left, start, reset: false };
  }

  /** A snapshot installed at `index` replaces the state: the history restarts after it. */
  planReset(index: number, ops: BatchOp[]): HistoryPlan {
    for (let i = this.head; i < this.records.length; i++) ops.push({ type: 'del', key: keyOf(this.records[i]!) });
    for (const hs of this.lingering.values()) for (const h of hs) ops.push({ type: 'del', key: keyOf(h) });
    ops.push({ type: 'put', key: META_HISTORY_START, value: encode(index + 1) });
    return { added: [], pins: new Map(), dropped: 0, lingered: [], freed: [], left: [], start: index + 1, reset: true };
  }

  commit(plan: HistoryPlan): void {
    if (plan.reset) {
      this.records = [];
      this.head = 0;
      this.totalBytes = 0;
      this.pinnedUntil.clear();
      this.lingering.clear();
      this.lingeringCount = 0;
    }
    for (const a of plan.added) {
      this.records.push(a);
      this.totalBytes += a.sizeBytes;
    }
    for (const [p, r] of plan.pins) this.pinnedUntil.set(p, r);
    const wasLingering = new Set<Held>();
    for (const r of plan.left) {
      for (const h of this.lingering.get(r) ?? []) wasLingering.add(h);
      this.lingering.delete(r);
    }
    for (let i = 0; i < plan.dropped; i++) {
      const r = this.records[this.head++];
      assert(r !== undefined, () => 'history: dropped more records than held');
    }
    for (const h of plan.freed) {
      this.totalBytes -= h.sizeBytes;
      this.pinnedUntil.delete(h.revision);
      if (wasLingering.has(h)) this.lingeringCount--;
    }
    // Lingering records keep their bytes in the total: they are still on disk.
    for (const { held, until } of plan.lingered) {
      const list = this.lingering.get(until);
      if (list) list.push(held);
      else this.lingering.set(until, [held]);
      this.lingeringCount++;
    }
    assert(this.totalBytes >= 0 && this.lingeringCount >= 0, () => `history: accounting went negative (${this.totalBytes} bytes, ${this.lingeringCount} lingering)`);
    // Reclaim the dropped head now and then, not on every apply.
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
    this.start = plan.start;
  }
}
