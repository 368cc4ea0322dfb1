// One command's apply: its reads of the state being applied, and its writes, staged apart
// from the apply batch until the command succeeds.
import { LeaseNotFoundError } from '@conclave/core';
import { kvKey, type KvSpace } from './keys.js';
import { putRecord, recordMeta, recordValue, type KeyMeta } from './kv-record.js';
import type { KvView } from './kv-view.js';
import { LeaseChanges, type LeaseTable } from './leases.js';
import type { BatchOp } from './raw-db.js';
import type { AppliedChange } from './storage-types.js';

/** What applying needs from the storage. */
export interface ApplyReads {
  /** The stored record of a key in LevelDB under the buffered writes (not this apply's own). */
  readStored(key: string, space: KvSpace): Promise<Buffer | null>;
  decodeStored(key: string, bytes: Uint8Array): unknown;
  /** A live view of the state being applied: LevelDB, the buffered writes, then `layers` (later win). */
  viewOver(layers: readonly ReadonlyMap<string, Buffer | null>[]): KvView;
  /** The lease table as the entries applied before this one left it. */
  readonly leases: LeaseTable;
}

/**
 * One command's writes, staged apart from the batch's until it succeeds, so that a command
 * that fails at apply (a transaction past a limit) leaves nothing behind.
 */
export class CommandApply {
  readonly ops: BatchOp[] = [];
  readonly local = new Map<string, Buffer | null>();
  readonly changes: AppliedChange[] = [];
  /** This command's lease changes (leases.ts), committed with its writes. */
  readonly leases: LeaseChanges;

  constructor(
    readonly space: KvSpace,
    readonly revision: number,
    /** The writes of earlier entries of the same apply batch. */
    readonly batch: ReadonlyMap<string, Buffer | null>,
    readonly reads: ApplyReads,
  ) {
    this.leases = new LeaseChanges(reads.leases, space, this.ops);
  }

  /** The record of `key` as this command sees it (its own writes, then the batch's, then storage). */
  async current(key: string): Promise<Buffer | null> {
    if (this.local.has(key)) return this.local.get(key)!;
    if (this.batch.has(key)) return this.batch.get(key)!;
    return this.reads.readStored(key, this.space);
  }

  view(): KvView {
    return this.reads.viewOver([this.batch, this.local]);
  }

  /** Writes `key`, attached to lease `lease` (0: none; a put without a lease detaches it, as in etcd). */
  async put(key: string, value: Uint8Array, lease = 0): Promise<void> {
    if (lease !== 0 && !this.leases.exists(lease)) throw new LeaseNotFoundError(lease, `lease ${lease} not found (never granted, revoked, or expired): the put of key ${JSON.stringify(key)} did not happen`);
    this.leases.setKeyLease(key, lease);
    const prev = await this.current(key);
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const record = putRecord(bytes, prev, this.revision);
    this.ops.push({ type: 'put', key: kvKey(this.space, key), value: record });
    this.local.set(key, record);
    this.changes.push({ type: 'put', key, value: bytes, prevValue: prev === null ? null : recordValue(prev), prevRevision: prev === null ? 0 : recordMeta(prev).modRevision });
  }

  /** Deletes `key`; true if it existed (only then is there a change to watch, as in etcd). */
  async del(key: string, known?: Buffer | null): Promise<boolean> {
    const prev = known !== undefined ? known : await this.current(key);
    this.leases.setKeyLease(key, 0);
    this.ops.push({ type: 'del', key: kvKey(this.space, key) });
    this.local.set(key, null);
    if (prev === null) return false;
    this.changes.push({ type: 'delete', key, value: null, prevValue: recordValue(prev), prevRevision: recordMeta(prev).modRevision });
    return true;
  }

  decode(key: string, record: Buffer): unknown {
    return this.reads.decodeStored(key, recordValue(record));
  }

  meta(record: Buffer): KeyMeta {
    return recordMeta(record);
  }
}

