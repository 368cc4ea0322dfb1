// The state a NodeStorage holds, shared by the modules that implement its parts
// (write-queue.ts, storage-open.ts, storage-log.ts, kv-apply-batch.ts, kv-read.ts,
// storage-snapshots.ts): each is a set of functions over it, and NodeStorage
// (node-storage.ts) composes them. Not exported from the package.
import { InvalidArgumentError } from '@conclave/core';
import type { Entry, GroupMetadata, HardState, SnapshotMeta } from '@conclave/core';
import { isIndex } from './codec.js';
import { DEFAULT_BYTES_KEPT_AFTER_SNAPSHOT, DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT, DEFAULT_SNAPSHOT_INTERVAL_BYTES, DEFAULT_NO_SYNC_FLUSH_BYTES, DEFAULT_NO_SYNC_FLUSH_INTERVAL_MS, DEFAULT_SNAPSHOT_INTERVAL_ENTRIES, DEFAULT_WATCH_HISTORY_REVISIONS, DEFAULT_WATCH_HISTORY_SIZE_BYTES, SNAPSHOT_CHUNK_MAX_BYTES } from './defaults.js';
import { StorageCorruptError, type KeySpace, type StorageIoError } from './errors.js';
import type { KvSpace } from './keys.js';
import { LeaseTable } from './leases.js';
import { WatchHistory } from './history.js';
import { EMPTY_OVERLAY } from './kv-view.js';
import { LogSizes } from './log-sizes.js';
import type { StorageDisk } from './disk.js';
import { EMPTY_HARD_STATE } from './log-plan.js';
import { NoSyncBuffer } from './no-sync-buffer.js';
import type { MemoryBackend, RawDb } from './raw-db.js';
import type { InstallState } from './snapshot-install.js';
import { DEFAULT_SETTINGS, type LocalSettings, type NodeStorageOptions, type StorageTimer, type StorageTimers } from './storage-types.js';
import type { SyncPolicy } from './sync-policy.js';
import { TermIndex } from './term-index.js';

const SYSTEM_TIMERS: StorageTimers = { setTimeout: (fn, delayMs) => setTimeout(fn, delayMs), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) };

export function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive integer (got ${String(value)})`);
  return value;
}

export class StorageState {
  readonly path: string;
  readonly syncPolicy: SyncPolicy;
  readonly snapshotIntervalEntries: number;
  readonly entriesKeptAfterSnapshot: number;
  readonly snapshotIntervalBytes: number;
  readonly bytesKeptAfterSnapshot: number;
  readonly db: RawDb;
  /** The directory's files beside the database; null for a memory backend (no directory, no disk to lose). */
  readonly disk: StorageDisk | null;
  readonly memory: MemoryBackend | null;
  readonly ownsMemory: boolean;
  readonly noSyncFlushIntervalMs: number;
  readonly noSyncFlushBytes: number;
  readonly deferApplyWrites: boolean;
  readonly snapshotChunkMaxBytes: number;
  state: 'open' | 'closing' | 'closed' = 'open';
  failure: StorageIoError | null = null;
  readonly onFailure: ((err: StorageIoError) => void) | null;
  queueTail: Promise<void> = Promise.resolve();
  hs: HardState = EMPTY_HARD_STATE;
  groupMeta: GroupMetadata | null = null;
  markerGroupId: string | null = null;
  appliedIndex = 0;
  snapshotMeta: SnapshotMeta | null = null;
  terms = new TermIndex({ index: 0, term: 0 });
  kvSpace: KvSpace = 0;
  /** The lowest KV generation never handed out (durable in META_KV_NEXT). */
  kvNext: KvSpace = 1;
  settingsValue: LocalSettings = DEFAULT_SETTINGS;
  install: InstallState | null = null;
  /** The key of the last install begun: each stream's install has its own. */
  lastInstallKey = 0;
  /** The log read at open, handed to the first load() so that boot reads the log once. */
  bootEntries: Entry[] | null = null;
  pendingClear: Promise<void> | null = null;
  /** Stored bytes of each entry in the log, for the byte bounds. */
  readonly logSizes = new LogSizes();
  readonly leaseTable = new LeaseTable();
  /** Bytes of the entries applied since the latest snapshot. */
  appliedBytesSinceSnapshot = 0;
  /** The watch history's retained revisions (history.ts). */
  history: WatchHistory;
  readonly buffer = new NoSyncBuffer();
  /** The buffer's overlay sorted for views, rebuilt only when the buffer changed. */
  overlayCache = { version: -1, overlay: EMPTY_OVERLAY };
  flushTimer: StorageTimer | null = null;
  readonly timers: StorageTimers;

  constructor(path: string, db: RawDb, disk: StorageDisk | null, memory: MemoryBackend | null, ownsMemory: boolean, options: NodeStorageOptions) {
    this.path = path;
    this.db = db;
    this.disk = disk;
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.memory = memory;
    this.ownsMemory = ownsMemory;
    this.syncPolicy = options.syncPolicy ?? 'sync';
    this.onFailure = options.onFailure ?? null;
    this.noSyncFlushIntervalMs = positiveInt(options.noSyncFlushIntervalMs, DEFAULT_NO_SYNC_FLUSH_INTERVAL_MS, 'noSyncFlushIntervalMs');
    this.noSyncFlushBytes = positiveInt(options.noSyncFlushBytes, DEFAULT_NO_SYNC_FLUSH_BYTES, 'noSyncFlushBytes');
    if (options.deferApplyWrites !== undefined && typeof options.deferApplyWrites !== 'boolean') throw new InvalidArgumentError('deferApplyWrites must be a boolean');
    this.deferApplyWrites = options.deferApplyWrites === true && this.syncPolicy === 'sync';
    this.snapshotIntervalEntries = positiveInt(options.snapshotIntervalEntries, DEFAULT_SNAPSHOT_INTERVAL_ENTRIES, 'snapshotIntervalEntries');
    if (options.entriesKeptAfterSnapshot !== undefined && !isIndex(options.entriesKeptAfterSnapshot)) {
      throw new InvalidArgumentError(`entriesKeptAfterSnapshot must be an integer >= 0 (got ${String(options.entriesKeptAfterSnapshot)})`);
    }
    this.entriesKeptAfterSnapshot = options.entriesKeptAfterSnapshot ?? DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT;
    this.snapshotIntervalBytes = positiveInt(options.snapshotIntervalBytes, DEFAULT_SNAPSHOT_INTERVAL_BYTES, 'snapshotIntervalBytes');
    if (options.bytesKeptAfterSnapshot !== undefined && !isIndex(options.bytesKeptAfterSnapshot)) {
      throw new InvalidArgumentError(`bytesKeptAfterSnapshot must be an integer >= 0 (got ${String(options.bytesKeptAfterSnapshot)})`);
    }
    this.bytesKeptAfterSnapshot = options.bytesKeptAfterSnapshot ?? DEFAULT_BYTES_KEPT_AFTER_SNAPSHOT;
    this.snapshotChunkMaxBytes = positiveInt(options.snapshotChunkMaxBytes, SNAPSHOT_CHUNK_MAX_BYTES, 'snapshotChunkMaxBytes');
    this.history = new WatchHistory(
      1,
      positiveInt(options.watchHistoryRevisions, DEFAULT_WATCH_HISTORY_REVISIONS, 'watchHistoryRevisions'),
      positiveInt(options.watchHistorySizeBytes, DEFAULT_WATCH_HISTORY_SIZE_BYTES, 'watchHistorySizeBytes'),
    );
    if (this.snapshotChunkMaxBytes > SNAPSHOT_CHUNK_MAX_BYTES) {
      throw new InvalidArgumentError(`snapshotChunkMaxBytes must be at most ${SNAPSHOT_CHUNK_MAX_BYTES}`);
    }
  }

  corrupt(space: KeySpace, key: number | string | null, detail: string, cause?: unknown): StorageCorruptError {
    return new StorageCorruptError(this.path, space, key, detail, cause);
  }
}
