// The shapes NodeStorage takes and returns.
import type { ConclaveError, Entry, GroupMetadata, HardState, SnapshotMeta, OverrideSpan } from '@conclave/core';
import type { LogPosition } from './codec.js';
import type { StorageIoError } from './errors.js';
import type { MemoryBackend } from './raw-db.js';
import type { StorageDisk } from './disk.js';
import type { SyncPolicy } from './sync-policy.js';
import type { TxnOpResult } from './txn-command.js';

export interface NodeStorageOptions {
  /** The data directory (for a memory backend, a label used in messages). */
  readonly path: string;
  /** `level` (default): LevelDB in `path`. `memory`: a fresh memory-level. A MemoryBackend: reopen its data. */
  readonly backend?: 'level' | 'memory' | MemoryBackend;
  /**
   * @internal For the simulation: the 'level' backend's disk (database and side files),
   * instead of LevelDB and node:fs in `path`. See StorageDisk in disk.ts for its contract.
   */
  readonly disk?: StorageDisk;
  /** @internal For the simulation: the timer of the write-behind flush (default: the global setTimeout). */
  readonly timers?: StorageTimers;
  /**
   * Called once, at once, when the storage becomes fail-stop: also when the failing write was
   * a background flush nobody awaits, so that the node stops now rather than at its next write.
   */
  readonly onFailure?: (err: StorageIoError) => void;
  /** The group this node belongs to, when the caller knows it: a directory of another group is refused. */
  readonly groupId?: string;
  readonly syncPolicy?: SyncPolicy;
  readonly noSyncFlushIntervalMs?: number;
  readonly noSyncFlushBytes?: number;
  /**
   * Under syncPolicy 'sync': applied entries are not fsynced on their own but kept in memory
   * (reads see them) and written in the batch of the next synced write, at the latest after
   * noSyncFlushIntervalMs or noSyncFlushBytes; a hard state whose commit alone moved is
   * written without fsync (etcd's MustSync). The log entries are durable already, so a crash
   * only makes the node apply them again: this saves two fsyncs per commit without weakening
   * what a write acknowledges. crash() loses the deferred applies, as a real crash would.
   * Ignored under the other policies.
   */
  readonly deferApplyWrites?: boolean;
  /** LevelDB's write buffer (memtable) size; default DEFAULT_WRITE_BUFFER_BYTES. Up to twice this is held in memory. */
  readonly writeBufferBytes?: number;
  readonly snapshotIntervalEntries?: number;
  readonly entriesKeptAfterSnapshot?: number;
  /** Snapshot also once this many bytes of log were applied since the last one (default 64 MiB). */
  readonly snapshotIntervalBytes?: number;
  /** Keep at most this many bytes of log behind a snapshot, as well as at most entriesKeptAfterSnapshot entries (default 64 MiB). */
  readonly bytesKeptAfterSnapshot?: number;
  /** Watch history: keep the changes of the latest this many revisions (default 100,000)... */
  readonly watchHistoryRevisions?: number;
  /** ...within at most this many bytes (default 64 MiB); older changes go first. */
  readonly watchHistorySizeBytes?: number;
  /** Upper bound of a snapshot chunk, at most (and by default) 1 MiB; smaller values are for tests. */
  readonly snapshotChunkMaxBytes?: number;
}

/** A timer handle; unref() lets the process exit while it waits (a simulation's may do nothing). */
export interface StorageTimer {
  unref(): unknown;
}

/** The one-shot timers NodeStorage uses. A callback never runs inside the setTimeout call that schedules it, nor after clearTimeout returns. */
export interface StorageTimers {
  setTimeout(fn: () => void, delayMs: number): StorageTimer;
  clearTimeout(timer: StorageTimer): void;
}

/** Settings local to this node, never replicated. */
export interface LocalSettings {
  /** JE HA's ELECTABLE_GROUP_SIZE_OVERRIDE; 0 = off. */
  readonly electableGroupSizeOverride: number;
  /**
   * The log indexes this node may have committed while an override was set (null: never).
   * A rollback of committed entries is only legitimate where they overlap (issue 12 item 2).
   */
  readonly overrideSpan: OverrideSpan | null;
}

export const DEFAULT_SETTINGS: LocalSettings = { electableGroupSizeOverride: 0, overrideSpan: null };

/** Why `v` is not a stored override span, or null when it is one. */
export function overrideSpanProblem(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'object') return `not an object or null: ${String(v)}`;
  const { from, to } = v as { from?: unknown; to?: unknown };
  if (!Number.isSafeInteger(from) || (from as number) < 1) return `from is not an integer >= 1: ${String(from)}`;
  if (!Number.isSafeInteger(to) || (to as number) < 0) return `to is not an integer >= 0: ${String(to)}`;
  if (Object.keys(v).length !== 2) return `unexpected fields: ${Object.keys(v).join(', ')}`;
  return null;
}

/** Everything a driver needs at boot. */
export interface LoadedState {
  readonly hardState: HardState;
  /** null on a node that was never bootstrapped nor given a snapshot. */
  readonly group: GroupMetadata | null;
  /** The latest snapshot recorded or installed, or null. */
  readonly snapshot: SnapshotMeta | null;
  readonly applied: number;
  /** (index, term) of the last compacted entry; (0, 0) when nothing was compacted. */
  readonly compacted: LogPosition;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** The log after the compaction point: indexes firstIndex..lastIndex. */
  readonly entries: Entry[];
  readonly settings: LocalSettings;
}

/** The part of core's Ready that storage persists (a core Ready can be passed as is). */
export interface ReadyWrite {
  readonly hardState?: HardState | null;
  readonly entries?: readonly Entry[];
  /** Finishes the snapshot install staged with beginInstall/installChunk, in the same batch. */
  readonly snapshot?: SnapshotMeta | null;
}

export type CommandOutcome =
  | { readonly op: 'put' }
  | { readonly op: 'del' }
  | { readonly op: 'batch'; readonly count: number }
  /** `current` is the value before the command (undefined if absent); the write happened iff `succeeded`. */
  | { readonly op: 'cas'; readonly succeeded: boolean; readonly current: unknown }
  | { readonly op: 'conf'; readonly group: GroupMetadata }
  /** `lastKey`: the last key deleted (null if none); `count` < the entry's limit means the range is now empty. */
  | { readonly op: 'clear'; readonly count: number; readonly lastKey: string | null }
  /** A transaction: which branch ran, and one result per operation of it. */
  | { readonly op: 'txn'; readonly succeeded: boolean; readonly results: readonly TxnOpResult[] }
  /** A lease granted: its id is the entry's revision. */
  | { readonly op: 'leaseGrant'; readonly id: number; readonly ttlMs: number }
  /** `found` false: no such lease was alive (nothing changed); `deleted`: its keys deleted in this entry. */
  | { readonly op: 'leaseRevoke'; readonly id: number; readonly found: boolean; readonly deleted: number };

/** One key changed by an applied entry: what a watcher sees. Values are their msgpack bytes. */
export interface KvChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new value (null for a delete). */
  readonly value: Buffer | null;
  /** The value before (null if the key was absent). */
  readonly prevValue: Buffer | null;
}

/**
 * A change as applied, with what the watch history needs besides: the revision that wrote
 * `prevValue` (the previous record's modRevision; 0 when unknown or absent). Internal.
 */
export interface AppliedChange extends KvChange {
  readonly prevRevision: number;
}

/** One result per applied entry, in order. `outcome` is null for noop/empty entries or on error. */
export interface ApplyResult {
  readonly index: number;
  readonly outcome: CommandOutcome | null;
  /** Set when the entry was applied as a no-op because its command or conf change is invalid. */
  readonly error: ConclaveError | null;
  /** The keys the entry changed, in order (none for a no-op, a membership change, or an error). */
  readonly changes?: readonly KvChange[];
}

export interface ScanOptions {
  readonly gte?: string;
  readonly gt?: string;
  readonly lte?: string;
  readonly lt?: string;
  /** Each pair's value as { value, createRevision, modRevision, version }. */
  readonly withMeta?: boolean;
  /** Most pairs returned; undefined = no limit. */
  readonly limit?: number;
  readonly reverse?: boolean;
}
