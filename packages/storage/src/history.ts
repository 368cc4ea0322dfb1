// The watch history: the changes applied at each revision, kept in LevelDB (key space 0x04)
// and written in the same batch as the apply, so a watcher can replay them after a restart.
// Retained by revisions and by bytes; `start` is the first revision whose changes are all
// still held (a member installed from a snapshot at S starts at S + 1: it never saw what
// came before). Record: msgpack [[type (1 put, 2 delete), key, value | nil, prevValue | nil], ...].
import { assert, InvalidArgumentError } from '@conclave/core';
import { encode, packr, strictDecode } from './codec.js';
import { historyKey, META_HISTORY_START } from './keys.js';
import type { BatchOp } from './raw-db.js';
import type { KvChange } from './storage-types.js';

const TYPE_PUT = 1;
const TYPE_DELETE = 2;

/** The changes of one revision, as read back. */
export interface HistoryRecord {
  readonly revision: number;
  readonly changes: readonly KvChange[];
}

export function encodeHistoryRecord(changes: readonly KvChange[]): Buffer {
  return packr.pack(changes.map((c) => [c.type === 'put' ? TYPE_PUT : TYPE_DELETE, c.key, c.value, c.prevValue]));
}

function bytesOrNull(v: unknown): Buffer | null {
  if (v === null || v === undefined) return null;
  if (!(v instanceof Uint8Array)) throw new InvalidArgumentError('history value is not bytes');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function decodeHistoryRecord(bytes: Uint8Array): KvChange[] {
  const raw: unknown = strictDecode(bytes);
  if (!Array.isArray(raw)) throw new InvalidArgumentError('history record is not an array');
  return raw.map((c: unknown) => {
    if (!Array.isArray(c) || c.length !== 4 || typeof c[1] !== 'string') throw new InvalidArgumentError('history change is not [type, key, value, prevValue]');
    return { type: c[0] === TYPE_PUT ? 'put' : 'delete', key: c[1], value: bytesOrNull(c[2]), prevValue: bytesOrNull(c[3]) };
  });
}

/** What a batch will change, applied to memory once the batch is written. */
export interface HistoryPlan {
  readonly added: { revision: number; sizeBytes: number }[];
  readonly dropped: number;
  readonly start: number;
  readonly reset: boolean;
}

export class WatchHistory {
  /** The retained records, oldest first, with their sizes. */
  private records: { revision: number; sizeBytes: number }[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(
    public start: number,
    readonly retainRevisions: number,
    readonly retainBytes: number,
  ) {}

  get sizeBytes(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.records.length - this.head;
  }

  /** At boot: a record found on disk (in revision order). */
  load(revision: number, sizeBytes: number): void {
    this.records.push({ revision, sizeBytes });
    this.totalBytes += sizeBytes;
  }

  /** Adds the records of applied revisions and the trimming they make due to `ops`. */
  planApply(byRevision: readonly { revision: number; changes: readonly KvChange[] }[], applied: number, ops: BatchOp[]): HistoryPlan {
    const added: { revision: number; sizeBytes: number }[] = [];
    let bytes = this.totalBytes;
    for (const r of byRevision) {
      if (r.changes.length === 0) continue;
      const value = encodeHistoryRecord(r.changes);
      ops.push({ type: 'put', key: historyKey(r.revision, value.length), value });
      added.push({ revision: r.revision, sizeBytes: value.length });
      bytes += value.length;
    }
    // Oldest first: past the revision window, or while over the byte budget (the newest
    // record always stays, so a watcher can at least follow live).
    const all = (i: number): { revision: number; sizeBytes: number } => (i < this.count ? this.records[this.head + i]! : added[i - this.count]!);
    const total = this.count + added.length;
    let dropped = 0;
    let start = this.start;
    while (dropped < total - 1) {
      const r = all(dropped);
      if (r.revision > applied - this.retainRevisions && bytes <= this.retainBytes) break;
      ops.push({ type: 'del', key: historyKey(r.revision, r.sizeBytes) });
      bytes -= r.sizeBytes;
      start = r.revision + 1;
      dropped++;
    }
    if (start !== this.start) ops.push({ type: 'put', key: META_HISTORY_START, value: encode(start) });
    return { added, dropped, start, reset: false };
  }

  /** A snapshot installed at `index` replaces the state: the history restarts after it. */
  planReset(index: number, ops: BatchOp[]): HistoryPlan {
    for (let i = this.head; i < this.records.length; i++) ops.push({ type: 'del', key: historyKey(this.records[i]!.revision, this.records[i]!.sizeBytes) });
    ops.push({ type: 'put', key: META_HISTORY_START, value: encode(index + 1) });
    return { added: [], dropped: 0, start: index + 1, reset: true };
  }

  commit(plan: HistoryPlan): void {
    if (plan.reset) {
      this.records = [];
      this.head = 0;
      this.totalBytes = 0;
    }
    for (const a of plan.added) {
      this.records.push(a);
      this.totalBytes += a.sizeBytes;
    }
    for (let i = 0; i < plan.dropped; i++) {
      const r = this.records[this.head++];
      assert(r !== undefined, () => 'history: dropped more records than held');
      this.totalBytes -= r.sizeBytes;
    }
    // Reclaim the dropped head now and then, not on every apply.
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
    this.start = plan.start;
  }
}
