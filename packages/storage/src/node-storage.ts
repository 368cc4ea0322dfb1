// NodeStorage: one node's durable state in one LevelDB (or memory-level) database:
// the Raft log, hard state, group metadata, local settings, the KV state machine, the
// applied index and snapshot metadata. Key layout: keys.ts. Encodings: codec.ts.
//
// Concurrency: every write (and every read that must agree with the in-memory indexes)
// runs through one FIFO queue, so batches reach LevelDB in call order (classic-level runs
// them on the libuv pool, where two unawaited batches could otherwise swap) and the
// in-memory state (firstIndex, lastIndex, terms, applied) changes only after its batch
// succeeded. A failed write makes the storage fail-stop.
import { resolve as resolvePath } from 'node:path';
import {
  applyConfChange,
  assert,
  ConfChangeError,
  ConclaveError,
  GroupMismatchError,
  InvalidArgumentError,
  validateGroup,
  LeaseNotFoundError,
} from '@conclave/core';
import type { Entry, GroupMetadata, HardState, SnapshotMeta } from '@conclave/core';
import {
  checkSnapshotMeta,
  decodeGroup,
  decodeHardState,
  decodeIndex,
  decodePosition,
  decodeSnapshotMeta,
  encode,
  encodeHardState,
  encodeSnapshotMeta,
  isIndex,
  unpackOrBad,
  type LogPosition,
} from './codec.js';
import { checkKey, decodeRawCommand, decodeValue, type RawCommand } from './command.js';
import { decodeMarker, encodeMarker, mapOpenError, STORAGE_FORMAT_NAME, STORAGE_FORMAT_VERSION } from './data-directory.js';
import {
  DEFAULT_BYTES_KEPT_AFTER_SNAPSHOT,
  DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT,
  DEFAULT_SNAPSHOT_INTERVAL_BYTES,
  DEFAULT_NO_SYNC_FLUSH_BYTES,
  DEFAULT_NO_SYNC_FLUSH_INTERVAL_MS,
  DEFAULT_SNAPSHOT_INTERVAL_ENTRIES,
  DEFAULT_WATCH_HISTORY_REVISIONS,
  DEFAULT_WATCH_HISTORY_SIZE_BYTES,
  DEFAULT_WRITE_BUFFER_BYTES,
  MAX_WRITE_BUFFER_BYTES,
  READ_BATCH_ENTRIES,
  SNAPSHOT_CHUNK_MAX_BYTES,
} from './defaults.js';
import {
  DamagedDataDirectoryError,
  ForeignDataDirectoryError,
  InstallSupersededError,
  LogCompactedError,
  StorageClosedError,
  StorageCorruptError,
  StorageFormatError,
  StorageIoError,
  StorageLockedError,
  type KeySpace,
} from './errors.js';
import {
  HISTORY_RANGE,
  historyBound,
  historyRevisionOf,
  historySizeOf,
  META_HISTORY_START,
  kvKey,
  kvPrefix,
  kvRange,
  logKey,
  META_APPLIED,
  META_FORMAT,
  META_GROUP,
  META_HARD_STATE,
  META_INSTALL,
  META_KV_NEXT,
  META_KV_SPACE,
  META_SNAPSHOT,
  META_COMPACTED,
  isKvSpace,
  MAX_KV_GENERATION,
  otherKvRanges,
  settingKey,
  userKeyOf,
  type KvSpace,
} from './keys.js';
import { applyCommand } from './kv-apply.js';
import { kvUserEnd, LeaseTable, leaseRange, type LeaseRecord } from './leases.js';
import { recordMeta, recordValue, type KeyMeta } from './kv-record.js';
import { decodeHistoryRecord, WatchHistory, type HistoryPlan, type HistoryRecord } from './history.js';
import { EMPTY_OVERLAY, keysToClear, KvView, Overlay } from './kv-view.js';
import { replayOnto, VIEW_REPLAY_MAX_BYTES, VIEW_REPLAY_MAX_ENTRIES } from './kv-replay.js';
import type { ApplyReads } from './command-apply.js';
import { LogSizes } from './log-sizes.js';
import { HARD_STATE_FILE, olderThanSideFile, readHardStateFile, writeHardStateFile } from './hard-state-file.js';
import { levelDisk, type StorageDisk } from './disk.js';
import { checkHardState, checkLogInvariants, EMPTY_HARD_STATE, planAppend, planCompaction } from './log-plan.js';
import { NoSyncBuffer } from './no-sync-buffer.js';
import { readLogRange, readRecord, readSettings, readWholeLog } from './disk-read.js';
import { MemoryBackend, type BatchOp, type RangeOptions, type RawDb } from './raw-db.js';
import { planInstallSwitch, type InstallPlan, type InstallState } from './snapshot-install.js';
import { SnapshotStream } from './snapshot-stream.js';
import { decodeChunk } from './snapshot-chunk.js';
import {
  DEFAULT_SETTINGS,
  type ApplyResult,
  type KvChange,
  type LoadedState,
  type LocalSettings,
  overrideSpanProblem,
  type NodeStorageOptions,
  type ReadyWrite,
  type ScanOptions,
  type StorageTimer,
  type StorageTimers,
} from './storage-types.js';
import { SYNC_POLICIES, type SyncPolicy } from './sync-policy.js';
import { TermIndex } from './term-index.js';

const noop = (): void => {};
const SYSTEM_TIMERS: StorageTimers = { setTimeout: (fn, delayMs) => setTimeout(fn, delayMs), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) };
/** Reads of one get() before it gives up on installs switching generations under it (each install takes a whole snapshot transfer). */
const MAX_GET_ATTEMPTS = 100;

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive integer (got ${String(value)})`);
  return value;
}

export class NodeStorage {
  readonly path: string;
  readonly syncPolicy: SyncPolicy;
  readonly snapshotIntervalEntries: number;
  readonly entriesKeptAfterSnapshot: number;
  readonly snapshotIntervalBytes: number;
  readonly bytesKeptAfterSnapshot: number;
  private readonly db: RawDb;
  /** The directory's files beside the database; null for a memory backend (no directory, no disk to lose). */
  private readonly disk: StorageDisk | null;
  private readonly memory: MemoryBackend | null;
  private readonly ownsMemory: boolean;
  private readonly noSyncFlushIntervalMs: number;
  private readonly noSyncFlushBytes: number;
  private readonly deferApplyWrites: boolean;
  private readonly snapshotChunkMaxBytes: number;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: StorageIoError | null = null;
  private readonly onFailure: ((err: StorageIoError) => void) | null;
  private queueTail: Promise<void> = Promise.resolve();

  private hs: HardState = EMPTY_HARD_STATE;
  private groupMeta: GroupMetadata | null = null;
  private markerGroupId: string | null = null;
  private appliedIndex = 0;
  private snapshotMeta: SnapshotMeta | null = null;
  private terms = new TermIndex({ index: 0, term: 0 });
  private kvSpace: KvSpace = 0;
  /** The lowest KV generation never handed out (durable in META_KV_NEXT). */
  private kvNext: KvSpace = 1;
  private settingsValue: LocalSettings = DEFAULT_SETTINGS;
  private install: InstallState | null = null;
  /** The key of the last install begun: each stream's install has its own. */
  private lastInstallKey = 0;
  /** The log read at open, handed to the first load() so that boot reads the log once. */
  private bootEntries: Entry[] | null = null;
  private pendingClear: Promise<void> | null = null;
  /** Stored bytes of each entry in the log, for the byte bounds. */
  private readonly logSizes = new LogSizes();
  private readonly leaseTable = new LeaseTable();
  /** Bytes of the entries applied since the latest snapshot. */
  private appliedBytesSinceSnapshot = 0;
  /** The watch history's retained revisions (history.ts). */
  private history: WatchHistory;

  private readonly buffer = new NoSyncBuffer();
  /** The buffer's overlay sorted for views, rebuilt only when the buffer changed. */
  private overlayCache = { version: -1, overlay: EMPTY_OVERLAY };
  private flushTimer: StorageTimer | null = null;
  private readonly timers: StorageTimers;

  private constructor(path: string, db: RawDb, disk: StorageDisk | null, memory: MemoryBackend | null, ownsMemory: boolean, options: NodeStorageOptions) {
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

  /**
   * Opens (creating if missing) a node's data directory and reads its state.
   * Throws GroupMismatchError, StorageLockedError, StorageCorruptError,
   * ForeignDataDirectoryError, StorageFormatError or StorageIoError, each naming the path.
   */
  static async open(options: NodeStorageOptions): Promise<NodeStorage> {
    if (typeof options?.path !== 'string' || options.path === '') throw new InvalidArgumentError('path must be a non-empty string');
    if (options.syncPolicy !== undefined && !SYNC_POLICIES.includes(options.syncPolicy)) {
      throw new InvalidArgumentError(`syncPolicy must be one of ${SYNC_POLICIES.join(', ')} (got ${String(options.syncPolicy)})`);
    }
    if (options.groupId !== undefined && (typeof options.groupId !== 'string' || options.groupId === '')) {
      throw new InvalidArgumentError('groupId must be a non-empty string when given');
    }
    const backend = options.backend ?? 'level';
    const writeBufferBytes = positiveInt(options.writeBufferBytes, DEFAULT_WRITE_BUFFER_BYTES, 'writeBufferBytes');
    if (writeBufferBytes > MAX_WRITE_BUFFER_BYTES) throw new InvalidArgumentError(`writeBufferBytes must be at most ${MAX_WRITE_BUFFER_BYTES} (got ${writeBufferBytes})`);
    let storage: NodeStorage;
    if (backend === 'level') {
      const path = options.disk ? options.path : resolvePath(options.path);
      const disk = options.disk ?? levelDisk(path);
      await disk.checkBeforeOpen();
      const db = disk.createDb();
      storage = new NodeStorage(path, db, disk, null, false, options);
      try {
        await db.open({ createIfMissing: true, writeBufferSize: writeBufferBytes });
      } catch (err) {
        throw mapOpenError(path, err);
      }
    } else {
      const memory = backend === 'memory' ? new MemoryBackend() : backend;
      if (!(memory instanceof MemoryBackend)) throw new InvalidArgumentError(`backend must be 'level', 'memory' or a MemoryBackend`);
      if (options.disk) throw new InvalidArgumentError(`disk is for the 'level' backend only`);
      if (memory.held) throw new StorageLockedError(options.path);
      storage = new NodeStorage(options.path, memory.db, null, memory, backend === 'memory', options);
      memory.held = true;
      try {
        if (memory.db.status !== 'open') await memory.db.open({ createIfMissing: true });
      } catch (err) {
        memory.held = false;
        throw mapOpenError(options.path, err);
      }
    }
    try {
      await storage.boot(options.groupId ?? null);
    } catch (err) {
      storage.state = 'closed';
      await storage.releaseDb();
      // LevelDB's own errors from the first reads (a damaged table file) name no directory: say which.
      const code = (err as { code?: unknown }).code;
      throw typeof code === 'string' && code.startsWith('LEVEL_') ? mapOpenError(storage.path, err) : err;
    }
    return storage;
  }

  // ---------------------------------------------------------------- state getters

  get hardState(): HardState {
    return this.hs;
  }
  get group(): GroupMetadata | null {
    return this.groupMeta;
  }
  /** The group id stored in the format marker, or null before the node knows its group. */
  get groupId(): string | null {
    return this.markerGroupId;
  }
  get applied(): number {
    return this.appliedIndex;
  }
  get snapshot(): SnapshotMeta | null {
    return this.snapshotMeta;
  }
  get compacted(): LogPosition {
    return this.terms.compacted;
  }
  get firstIndex(): number {
    return this.terms.firstIndex;
  }
  get lastIndex(): number {
    return this.terms.lastIndex;
  }
  get lastTerm(): number {
    return this.terms.lastTerm;
  }
  get settings(): LocalSettings {
    return this.settingsValue;
  }
  /** True while a snapshot install is staged (beginInstall called, not yet finished or aborted). */
  get installing(): boolean {
    return this.install !== null;
  }

  /** The staged install: its key (from beginInstall), its snapshot, and whether its last chunk arrived. */
  get stagedInstall(): { readonly key: number; readonly meta: SnapshotMeta; readonly complete: boolean } | null {
    const i = this.install;
    return i ? { key: i.key, meta: i.meta, complete: i.lastSeen } : null;
  }

  /** Term of entry i (the compaction point included); null if compacted or beyond lastIndex. */
  term(i: number): number | null {
    return this.terms.term(i);
  }

  // ---------------------------------------------------------------- boot

  /** Everything a driver needs at boot. The first call returns the log read at open. */
  async load(): Promise<LoadedState> {
    let entries = this.bootEntries;
    this.bootEntries = null;
    if (entries === null) {
      entries = this.terms.lastIndex >= this.terms.firstIndex ? await this.entries(this.terms.firstIndex, this.terms.lastIndex + 1) : [];
    }
    return {
      hardState: this.hs,
      group: this.groupMeta,
      snapshot: this.snapshotMeta,
      applied: this.appliedIndex,
      compacted: this.terms.compacted,
      firstIndex: this.terms.firstIndex,
      lastIndex: this.terms.lastIndex,
      entries,
      settings: this.settingsValue,
    };
  }

  private corrupt(space: KeySpace, key: number | string | null, detail: string, cause?: unknown): StorageCorruptError {
    return new StorageCorruptError(this.path, space, key, detail, cause);
  }

  private async boot(expectedGroupId: string | null): Promise<void> {
    if (this.disk !== null) {
      const reported = await this.disk.damageReported();
      if (reported.length > 0) throw new DamagedDataDirectoryError(this.path, `LevelDB's LOG reports, while opening it: ${reported.join(' | ')}`);
    }
    const marker = await readRecord(this.db, this.path, META_FORMAT, 'format', decodeMarker);
    if (marker === undefined) {
      // No marker: only an empty database (ours, interrupted before its first write) may be initialised.
      const it = this.db.iterator({ limit: 1 });
      const any = await it.nextv(1).finally(() => it.close());
      if (any.length > 0) throw new ForeignDataDirectoryError(this.path, 'a LevelDB database without a conclave format marker');
      // Buffered, with no flush timer: it goes first in the next batch (the group's, or the
      // first Ready's), or at close, saving an fsync; lost in a crash before, the database
      // is empty and is initialised again.
      this.buffer.add([{ type: 'put', key: META_FORMAT, value: encodeMarker(expectedGroupId) }, { type: 'put', key: META_KV_SPACE, value: encode(0) }, { type: 'put', key: META_KV_NEXT, value: encode(1) }, { type: 'put', key: META_HISTORY_START, value: encode(1) }], null);
      this.markerGroupId = expectedGroupId;
      this.bootEntries = [];
      await this.writeSideFile(EMPTY_HARD_STATE);
      return;
    }
    if (marker.format !== STORAGE_FORMAT_NAME) throw new ForeignDataDirectoryError(this.path, `format marker names '${marker.format}'`);
    if (marker.version > STORAGE_FORMAT_VERSION) {
      throw new StorageFormatError(this.path, `storage format version ${marker.version} is newer than this build's ${STORAGE_FORMAT_VERSION}`);
    }
    if (marker.version < STORAGE_FORMAT_VERSION) {
      throw new StorageFormatError(
        this.path,
        `storage format version ${marker.version} is older than this build's ${STORAGE_FORMAT_VERSION} and is not converted: remove the member, empty the directory and add it back (docs/reliability.md)`,
      );
    }
    if (expectedGroupId !== null && marker.groupId !== null && marker.groupId !== expectedGroupId) {
      throw new GroupMismatchError(`data directory ${this.path} belongs to group '${marker.groupId}', not to the expected group '${expectedGroupId}'`);
    }
    this.markerGroupId = marker.groupId;

    this.hs = (await readRecord(this.db, this.path, META_HARD_STATE, 'hardState', decodeHardState)) ?? EMPTY_HARD_STATE;
    this.groupMeta = (await readRecord(this.db, this.path, META_GROUP, 'group', decodeGroup)) ?? null;
    this.appliedIndex = (await readRecord(this.db, this.path, META_APPLIED, 'applied', decodeIndex)) ?? 0;
    this.snapshotMeta = (await readRecord(this.db, this.path, META_SNAPSHOT, 'snapshot', decodeSnapshotMeta)) ?? null;
    const compacted = (await readRecord(this.db, this.path, META_COMPACTED, 'compacted', decodePosition)) ?? { index: 0, term: 0 };
    const space = await readRecord(this.db, this.path, META_KV_SPACE, 'kvSpace', unpackOrBad);
    if (!isKvSpace(space)) throw this.corrupt('kvSpace', null, `active KV generation is ${JSON.stringify(space)}, not an integer in [0, 2^32-2]`);
    this.kvSpace = space;
    const next = (await readRecord(this.db, this.path, META_KV_NEXT, 'kvSpace', unpackOrBad)) ?? 0;
    if (!isKvSpace(next)) throw this.corrupt('kvSpace', null, `next KV generation is ${JSON.stringify(next)}, not an integer in [0, 2^32-2]`);
    const interrupted = await readRecord(this.db, this.path, META_INSTALL, 'install', unpackOrBad);
    const staged = (interrupted as { space?: unknown } | undefined)?.space;
    // Never hand out a generation that may hold keys: not the active one, nor an interrupted install's.
    this.kvNext = Math.max(next, space + 1, isKvSpace(staged) ? staged + 1 : 0);
    this.settingsValue = await readSettings(this.db, this.path);
    await this.loadHistory();
    await this.loadLeases();

    if (this.groupMeta && this.markerGroupId !== null && this.groupMeta.groupId !== this.markerGroupId) {
      throw this.corrupt('group', null, `group metadata is for '${this.groupMeta.groupId}' but the format marker says '${this.markerGroupId}'`);
    }
    if (this.snapshotMeta && this.snapshotMeta.index > this.appliedIndex) {
      throw this.corrupt('snapshot', null, `snapshot index ${this.snapshotMeta.index} is beyond the applied index ${this.appliedIndex}`);
    }

    this.terms = new TermIndex(compacted);
    this.bootEntries = await readWholeLog(this.db, this.path, this.terms, (index, bytes) => this.logSizes.set(index, bytes));
    this.appliedBytesSinceSnapshot = this.logSizes.bytesBetween(Math.max(this.snapshotMeta?.index ?? 0, compacted.index), this.appliedIndex);

    const last = this.terms.lastIndex;
    if (this.hs.commit > last) throw this.corrupt('hardState', null, `commit ${this.hs.commit} is beyond the last log index ${last}`);
    if (this.hs.term < this.terms.lastTerm) throw this.corrupt('hardState', null, `term ${this.hs.term} is below the last log term ${this.terms.lastTerm}`);
    if (this.appliedIndex > last || this.appliedIndex < compacted.index) {
      throw this.corrupt('applied', null, `applied index ${this.appliedIndex} is outside the log [${compacted.index}, ${last}]`);
    }
    if (this.disk !== null) await this.checkSideFile(this.disk);

    // Finish what a crash interrupted: a staged install is dropped, and the other KV
    // generations (staging leftovers, or the old state after a switch) are cleared.
    for (const range of otherKvRanges(this.kvSpace)) await this.clearRange(range);
    if (interrupted !== undefined) await this.writeRaw([{ type: 'del', key: META_INSTALL }], true);
    if (expectedGroupId !== null && this.markerGroupId === null) {
      await this.writeRaw([{ type: 'put', key: META_FORMAT, value: encodeMarker(expectedGroupId) }], true);
      this.markerGroupId = expectedGroupId;
    }
  }

  /** The lease table of the active generation (leases.ts), read whole: bounded by MAX_LEASES and MAX_LEASE_KEYS. */
  private async loadLeases(): Promise<void> {
    this.loadLeaseTable(await this.readLeaseRecords(this.kvSpace));
  }

  /** The lease records of generation `space`, read whole. */
  private async readLeaseRecords(space: KvSpace): Promise<[Buffer, Buffer][]> {
    const it = this.db.iterator(leaseRange(space));
    const pairs: [Buffer, Buffer][] = [];
    try {
      for (;;) {
        const batch = await it.nextv(1000);
        if (batch.length === 0) break;
        for (const p of batch) pairs.push(p);
      }
    } finally {
      await it.close();
    }
    return pairs;
  }

  private loadLeaseTable(pairs: [Buffer, Buffer][]): void {
    try {
      this.leaseTable.load(pairs, `the lease records of ${this.path}`);
    } catch (err) {
      throw this.corrupt('kv', null, (err as Error).message, err);
    }
  }

  /** The leases alive in the applied state, with their attached keys (a sorted copy). */
  leases(): { id: number; ttlMs: number; keys: string[] }[] {
    return this.leaseTable.all().map((l: LeaseRecord) => ({ id: l.id, ttlMs: l.ttlMs, keys: [...l.keys].sort() }));
  }

  /** The id and TTL of every lease alive in the applied state (no keys: cheap enough to poll). */
  leaseTtls(): { id: number; ttlMs: number }[] {
    return this.leaseTable.all().map((l) => ({ id: l.id, ttlMs: l.ttlMs }));
  }

  /** Whether lease `id` is alive in the applied state, and its TTL. */
  lease(id: number): { id: number; ttlMs: number; keyCount: number } | null {
    const l = this.leaseTable.get(id);
    return l ? { id: l.id, ttlMs: l.ttlMs, keyCount: l.keys.size } : null;
  }

  /**
   * The watch history's start and the sizes of its records. A directory from before the
   * history existed has none: its history starts after what it has applied.
   */
  private async loadHistory(): Promise<void> {
    const start = (await readRecord(this.db, this.path, META_HISTORY_START, 'history', decodeIndex)) ?? this.appliedIndex + 1;
    this.history = new WatchHistory(start, this.history.retainRevisions, this.history.retainBytes);
    // Keys only: each carries its record's size (keys.ts), and the records, which hold whole
    // values, are not read at open (test/memory/boot-rss). A damaged record shows when read.
    const it = this.db.iterator({ ...HISTORY_RANGE, values: false });
    try {
      for (let batch = await it.nextv(READ_BATCH_ENTRIES); batch.length > 0; batch = await it.nextv(READ_BATCH_ENTRIES)) {
        for (const [k] of batch) {
          const revision = historyRevisionOf(k);
          if (revision < 0) throw this.corrupt('history', null, `malformed watch history key ${k.toString('hex')}`);
          if (revision >= start && revision <= this.appliedIndex) this.history.load(revision, historySizeOf(k));
        }
      }
    } finally {
      await it.close();
    }
  }

  /** Refuses a LevelDB hard state older than the side file's; creates the side file of a directory that never had a hard state. */
  private async checkSideFile(disk: StorageDisk): Promise<void> {
    const side = await readHardStateFile(disk, this.path);
    if (side === null) {
      const empty = this.hs.term === 0 && this.hs.vote === '' && this.hs.commit === 0;
      // Interrupted between the first batch and the side file: nothing was ever voted.
      if (empty) return this.writeSideFile(this.hs);
      throw new DamagedDataDirectoryError(this.path, `the hard state side file ${HARD_STATE_FILE} is missing, while LevelDB holds term ${this.hs.term}`);
    }
    const older = olderThanSideFile(this.hs, side);
    if (older !== null) throw new DamagedDataDirectoryError(this.path, `${older}: the disk lost writes it had made durable, or LevelDB dropped a damaged record`);
  }

  // ---------------------------------------------------------------- queue, writes, fail-stop

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.state === 'closed') throw new StorageClosedError(this.path);
  }

  /** Runs `task` after every task queued before it. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.state !== 'open') return Promise.reject(new StorageClosedError(this.path));
    const result = this.queueTail.then(() => {
      this.checkUsable();
      return task();
    });
    this.queueTail = result.then(noop, noop);
    return result;
  }

  private fail(err: unknown, what: string): never {
    if (!this.failure) {
      this.failure = new StorageIoError(this.path, what, err);
      this.onFailure?.(this.failure);
    }
    throw this.failure;
  }

  private async writeRaw(ops: BatchOp[], sync: boolean): Promise<void> {
    try {
      await this.db.batch(ops, { sync });
    } catch (err) {
      this.fail(err, 'write failed; storage is now fail-stop');
    }
  }

  private async clearRange(range: RangeOptions): Promise<void> {
    try {
      await this.db.clear(range);
    } catch (err) {
      this.fail(err, 'clearing a key range failed; storage is now fail-stop');
    }
  }

  /**
   * Writes one batch as the sync policy says. `kvChanges` lets buffered reads see buffered KV
   * writes. Under deferApplyWrites, an `apply` batch waits in the buffer and a `commit`
   * (a hard state whose commit alone moved) is written at once without fsync, as etcd does:
   * it survives a process crash, and after a power cut the commit is learned again.
   * Buffered batches always go first in the next synced batch: nothing unsynced may precede
   * a synced write, or a power cut could keep the later write and lose the earlier one
   * (LevelDB syncs only its current log file).
   */
  private async writePolicy(ops: BatchOp[], kvChanges: Map<string, Buffer | null> | null, kind: 'log' | 'apply' | 'commit' = 'log'): Promise<void> {
    if (this.syncPolicy === 'noSync' || (kind === 'apply' && this.deferApplyWrites)) return this.buffered(ops, kvChanges);
    if (kind === 'commit' && this.deferApplyWrites) return this.writeRaw(ops, false);
    if (this.buffer.empty) return this.writeRaw(ops, this.syncPolicy === 'sync');
    const all = this.takeBuffered();
    for (const op of ops) all.push(op);
    try {
      await this.writeRaw(all, this.syncPolicy === 'sync');
    } finally {
      this.buffer.flushDone();
    }
  }

  /**
   * The buffered batches, for one write. Deferred applies carry the current hard state with
   * them, so that no durable applied index is ever ahead of the durable commit.
   */
  private takeBuffered(): BatchOp[] {
    const ops = this.buffer.take();
    if (this.deferApplyWrites) ops.push({ type: 'put', key: META_HARD_STATE, value: encodeHardState(this.hs) });
    return ops;
  }

  /** Adds a batch to the write-behind buffer; flushed by size, by timer, or by the next direct write. */
  private async buffered(ops: BatchOp[], kvChanges: Map<string, Buffer | null> | null): Promise<void> {
    this.buffer.add(ops, kvChanges);
    if (this.buffer.pendingBytes >= this.noSyncFlushBytes) {
      await this.flushBuffered();
    } else if (this.flushTimer === null) {
      this.flushTimer = this.timers.setTimeout(() => {
        this.flushTimer = null;
        if (this.state === 'open' && !this.failure) this.enqueue(() => this.flushBuffered()).catch(noop);
      }, this.noSyncFlushIntervalMs);
      this.flushTimer.unref();
    }
  }

  /** A write that must not sit in the noSync buffer (install, settings): flushes the buffer first. */
  private async writeDirect(ops: BatchOp[], sync = this.syncPolicy === 'sync'): Promise<void> {
    if (!sync || this.buffer.empty) {
      await this.flushBuffered();
      return this.writeRaw(ops, sync);
    }
    // One synced batch, the buffered batches first: one fsync rather than two.
    this.stopFlushTimer();
    const all = this.takeBuffered();
    for (const op of ops) all.push(op);
    try {
      await this.writeRaw(all, true);
    } finally {
      this.buffer.flushDone();
    }
  }

  private stopFlushTimer(): void {
    if (this.flushTimer !== null) {
      this.timers.clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
  }

  /** noSync: writes the buffered batches to the OS as one batch (whole batches, in order). Queue-only. */
  private async flushBuffered(): Promise<void> {
    this.stopFlushTimer();
    if (this.buffer.empty) return;
    const ops = this.takeBuffered();
    try {
      // Synced under deferApplyWrites: see writePolicy.
      await this.writeRaw(ops, this.syncPolicy === 'sync');
    } finally {
      this.buffer.flushDone();
    }
  }

  /**
   * Makes everything written so far durable (fdatasync'ed), whatever the sync policy: a
   * per-write localSync. Buffered batches go first, in the same synced batch.
   */
  async sync(): Promise<void> {
    return this.enqueue(async () => {
      if (this.flushTimer !== null) {
        this.timers.clearTimeout(this.flushTimer);
        this.flushTimer = null;
      }
      // The hard state as a carrier: LevelDB fsyncs its log only with a batch.
      const ops = this.buffer.empty ? [] : this.takeBuffered();
      ops.push({ type: 'put', key: META_HARD_STATE, value: encodeHardState(this.hs) });
      try {
        await this.writeRaw(ops, true);
      } finally {
        this.buffer.flushDone();
      }
    });
  }

  /** Writes any noSync-buffered batches to the OS now. A no-op for the other policies. */
  async flush(): Promise<void> {
    return this.enqueue(() => this.flushBuffered());
  }

  // ---------------------------------------------------------------- log

  /**
   * Persists one Ready in ONE batch: the snapshot switch (if any, see beginInstall), then
   * the entries (replacing the log from entries[0].index on), then the hard state.
   * Resolves when the batch is as durable as the sync policy promises.
   */
  async writeReady(ready: ReadyWrite): Promise<void> {
    return this.enqueue(async () => {
      const ops: BatchOp[] = [];
      const log = this.terms.clone();
      let hs = this.hs;
      let applied = this.appliedIndex;
      let plan: InstallPlan | null = null;
      let historyPlan: HistoryPlan | null = null;
      if (ready.snapshot) {
        plan = planInstallSwitch(this.install, ready.snapshot, this.installContext(), ops, log);
        historyPlan = this.history.planReset(plan.meta.index, ops);
        hs = plan.hardState;
        applied = plan.meta.index;
      }
      // Judged against the commit after the switch: a rollback lowers it in this same batch.
      if (ready.entries && ready.entries.length > 0) planAppend(ready.entries, ops, log, hs.commit);
      if (ready.hardState) {
        hs = checkHardState(ready.hardState, hs);
        ops.push({ type: 'put', key: META_HARD_STATE, value: encodeHardState(hs) });
      }
      if (ops.length === 0) return;
      checkLogInvariants(hs, applied, log);
      // Only the commit moved (no entries, term or vote): etcd's MustSync is false.
      const commitOnly = !plan && !(ready.entries && ready.entries.length > 0) && hs.term === this.hs.term && hs.vote === this.hs.vote;
      // The snapshot's lease table, read from its staged generation before the switch, so
      // that the switch replaces the table in memory with the KV state at once.
      const leaseRecords = plan ? await this.readLeaseRecords(plan.space) : null;
      if (plan || this.hardStateFileChanges(hs)) await this.writeWithHardState(ops, hs);
      else await this.writePolicy(ops, null, commitOnly ? 'commit' : 'log');
      this.logSizes.track(ops);
      this.terms = log;
      this.hs = hs;
      if (plan) this.commitInstall(plan, historyPlan!, leaseRecords!);
    });
  }

  /** True when `next` must go to the side file: a new term or vote, or a lower commit (a rollback). */
  private hardStateFileChanges(next: HardState): boolean {
    return next.term !== this.hs.term || next.vote !== this.hs.vote || next.commit < this.hs.commit;
  }

  /**
   * Writes a batch that carries the hard state `next` (not yet this.hs) directly. A change
   * the side file records is fsynced whatever the sync policy, and the side file follows
   * it, so that LevelDB's copy is never older than the side file's unless the disk lost it.
   * A lower commit goes to the side file first, so a crash in between leaves LevelDB ahead.
   */
  private async writeWithHardState(ops: BatchOp[], next: HardState): Promise<void> {
    const recorded = this.hardStateFileChanges(next);
    if (recorded && next.commit < this.hs.commit) await this.writeSideFile({ ...this.hs, commit: next.commit });
    await this.writeDirect(ops, recorded || this.syncPolicy === 'sync');
    if (recorded) await this.writeSideFile(next);
  }

  private async writeSideFile(hs: HardState): Promise<void> {
    if (this.disk === null) return; // a memory backend has no directory, and no disk to lose
    try {
      await writeHardStateFile(this.disk, hs);
    } catch (err) {
      this.fail(err, `writing the hard state side file ${HARD_STATE_FILE} failed; storage is now fail-stop`);
    }
  }

  /** Appends entries (truncating any conflicting suffix from entries[0].index) in one batch. */
  async append(entries: readonly Entry[]): Promise<void> {
    return this.writeReady({ entries });
  }

  /** Persists a hard state alone. */
  async setHardState(hardState: HardState): Promise<void> {
    return this.writeReady({ hardState });
  }

  /**
   * Entries [lo, hi), stopping once their encoded size passes maxBytes (but always at least
   * one). Throws LogCompactedError when lo is compacted, InvalidArgumentError when hi > lastIndex+1.
   */
  async entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Promise<Entry[]> {
    if (!isIndex(lo) || !isIndex(hi) || lo > hi) throw new InvalidArgumentError(`bad log range [${lo}, ${hi})`);
    if (!(maxBytes >= 0)) throw new InvalidArgumentError(`maxBytes must be >= 0 (got ${maxBytes})`);
    const it = await this.enqueue(async () => {
      await this.flushBuffered();
      if (lo <= this.terms.compacted.index) throw new LogCompactedError(lo, this.terms.compacted.index);
      if (hi > this.terms.lastIndex + 1) throw new InvalidArgumentError(`log range [${lo}, ${hi}) goes beyond the last index ${this.terms.lastIndex}`);
      if (lo === hi) return null;
      // Created inside the queue: its implicit snapshot matches the in-memory indexes.
      return this.db.iterator({ gte: logKey(lo), lt: logKey(hi) });
    });
    if (it === null) return [];
    return readLogRange(it, this.path, lo, hi, maxBytes);
  }

  /** Compacts the log up to and including `index`, which must be applied. */
  async compact(index: number): Promise<void> {
    return this.enqueue(async () => {
      if (!isIndex(index)) throw new InvalidArgumentError(`compaction index must be an integer >= 0 (got ${index})`);
      if (index > this.appliedIndex) throw new InvalidArgumentError(`cannot compact to ${index}: only ${this.appliedIndex} is applied`);
      if (index <= this.terms.compacted.index) return;
      const ops: BatchOp[] = [];
      const log = this.terms.clone();
      planCompaction(index, ops, log);
      await this.writePolicy(ops, null);
      this.logSizes.track(ops);
      this.terms = log;
    });
  }

  // ---------------------------------------------------------------- group and settings

  /**
   * Stores the initial group metadata of a bootstrapped node. Refuses if the node already
   * has a group. `sync: false` when a synced write follows at once (it goes first in that
   * batch) and losing it to a crash leaves a directory to initialise again.
   */
  async initializeGroup(group: GroupMetadata, options: { sync?: boolean } = {}): Promise<void> {
    return this.enqueue(async () => {
      validateGroup(group);
      if (this.markerGroupId !== null && this.markerGroupId !== group.groupId) {
        throw new GroupMismatchError(`data directory ${this.path} belongs to group '${this.markerGroupId}', not to '${group.groupId}'`);
      }
      if (this.groupMeta !== null) throw new InvalidArgumentError(`data directory ${this.path} already has group metadata for '${this.groupMeta.groupId}'`);
      const ops: BatchOp[] = [
        { type: 'put', key: META_GROUP, value: encode(group) },
        { type: 'put', key: META_FORMAT, value: encodeMarker(group.groupId) },
      ];
      // Unsynced, it waits in the buffer for the synced write that follows (see writePolicy).
      if (options.sync === false) await this.buffered(ops, null);
      else await this.writeDirect(ops, true);
      this.groupMeta = group;
      this.markerGroupId = group.groupId;
    });
  }

  /** Changes local settings (always fsync'ed: an operator expects them to survive a power cut). */
  async setSettings(patch: Partial<LocalSettings>): Promise<LocalSettings> {
    return this.enqueue(async () => {
      if (typeof patch !== 'object' || patch === null) throw new InvalidArgumentError('settings must be an object');
      const ops: BatchOp[] = [];
      for (const [name, value] of Object.entries(patch)) {
        if (name === 'overrideSpan') {
          const problem = overrideSpanProblem(value);
          if (problem !== null) throw new InvalidArgumentError(`overrideSpan must be null or { from, to }: ${problem}`);
        } else if (name !== 'electableGroupSizeOverride') throw new InvalidArgumentError(`unknown setting '${name}'`);
        else if (!isIndex(value)) throw new InvalidArgumentError(`electableGroupSizeOverride must be an integer >= 0 (got ${String(value)})`);
        ops.push({ type: 'put', key: settingKey(name), value: encode(value) });
      }
      if (ops.length > 0) await this.writeDirect(ops, true);
      this.settingsValue = { ...this.settingsValue, ...patch };
      return this.settingsValue;
    });
  }

  // ---------------------------------------------------------------- KV state machine

  /**
   * Applies committed entries, which must continue the applied index, and writes their
   * effects and the new applied index in ONE batch (crash-consistent apply). An entry
   * whose command or conf change is invalid is applied as a no-op with `error` set, so
   * every replica makes the same decision and the node never wedges on it.
   */
  async applyEntries(entries: readonly Entry[]): Promise<ApplyResult[]> {
    return this.enqueue(async () => {
      if (entries.length === 0) return [];
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const expected = this.appliedIndex + 1 + i;
        assert(e.index === expected, () => `applyEntries: entry ${e.index} does not continue the applied index (expected ${expected})`);
        assert(e.index <= this.terms.lastIndex, () => `applyEntries: entry ${e.index} is beyond the persisted log (${this.terms.lastIndex})`);
      }
      const space = this.kvSpace;
      const ops: BatchOp[] = [];
      const changes = new Map<string, Buffer | null>();
      const results: ApplyResult[] = [];
      const byRevision: { revision: number; changes: KvChange[] }[] = [];
      let group = this.groupMeta;
      const startGroup = group;
      for (const e of entries) {
        if (e.type === 'noop' || (e.type === 'normal' && e.data.length === 0)) {
          results.push({ index: e.index, outcome: null, error: null });
        } else if (e.type === 'conf') {
          try {
            if (!e.change) throw new ConfChangeError(`conf entry ${e.index} carries no change`);
            if (!group) throw new ConfChangeError(`conf entry ${e.index} applied before the node has group metadata`);
            group = applyConfChange(group, e.change);
            results.push({ index: e.index, outcome: { op: 'conf', group }, error: null });
          } catch (err) {
            if (!(err instanceof ConclaveError)) throw err;
            results.push({ index: e.index, outcome: null, error: err });
          }
        } else {
          let cmd: RawCommand;
          try {
            cmd = decodeRawCommand(e.data);
          } catch (err) {
            if (!(err instanceof InvalidArgumentError)) throw err;
            results.push({ index: e.index, outcome: null, error: err });
            continue;
          }
          const changed: KvChange[] = [];
          let outcome;
          try {
            outcome = await applyCommand(cmd, space, e.index, ops, changes, changed, this.applyReads(space));
          } catch (err) {
            // Refused at apply (a limit the state decides): nothing of it was written, on every member alike.
            if (!(err instanceof InvalidArgumentError) && !(err instanceof LeaseNotFoundError)) throw err;
            results.push({ index: e.index, outcome: null, error: err });
            continue;
          }
          results.push({ index: e.index, outcome, error: null, changes: changed });
          byRevision.push({ revision: e.index, changes: changed });
        }
      }
      const applied = entries[entries.length - 1]!.index;
      ops.push({ type: 'put', key: META_APPLIED, value: encode(applied) });
      if (group !== startGroup && group) ops.push({ type: 'put', key: META_GROUP, value: encode(group) });
      const historyPlan = this.history.planApply(byRevision, applied, ops);
      // A membership change is written at once (rare, and the group must not wait in memory).
      await this.writePolicy(ops, changes, group === startGroup ? 'apply' : 'log');
      this.appliedBytesSinceSnapshot += this.logSizes.bytesBetween(this.appliedIndex, applied);
      this.appliedIndex = applied;
      this.groupMeta = group;
      this.history.commit(historyPlan);
      return results;
    });
  }

  /** What an apply reads: LevelDB under the buffered writes and the apply's own. Queue-only. */
  private applyReads(space: KvSpace): ApplyReads {
    assert(space === this.kvSpace, () => `apply to KV generation ${space}, not the active ${this.kvSpace}`);
    return {
      readStored: (k, sp) => this.readStored(k, sp),
      decodeStored: (k, b) => this.decodeKv(k, b),
      leases: this.leaseTable,
      viewOver: (layers) => new KvView(this.db, space, this.appliedIndex, null, new Overlay([...this.buffer.layers(), ...layers])),
    };
  }

  /**
   * A consistent view of the KV state machine as applied now, taken synchronously: nothing
   * applied later shows in it (a LevelDB snapshot under the deferred writes queued now).
   * close() it when done; closing the storage releases it too.
   */
  view(): KvView {
    this.checkUsable();
    if (this.overlayCache.version !== this.buffer.version) this.overlayCache = { version: this.buffer.version, overlay: new Overlay(this.buffer.layers()) };
    return new KvView(this.db, this.kvSpace, this.appliedIndex, this.db.snapshot(), this.overlayCache.overlay);
  }

  /**
   * The KV state at `index` (applied, and at or after `base`): `base` with the entries
   * after it replayed in memory (kv-replay.ts), so that a read point between two applies
   * gets exactly its state. Null when it cannot be built: not applied, too many entries,
   * compacted, or an install replaced the state since `base`. The view returned shares
   * base's snapshot.
   */
  async viewAt(base: KvView, index: number): Promise<KvView | null> {
    this.checkUsable();
    if (!isIndex(index) || index < base.appliedIndex) throw new InvalidArgumentError(`viewAt: ${index} is before the view's ${base.appliedIndex}`);
    if (index === base.appliedIndex) return base;
    // Not applied (here, a rollback's install may have lowered the applied index): no such state.
    if (index > this.appliedIndex || index - base.appliedIndex > VIEW_REPLAY_MAX_ENTRIES || base.space !== this.kvSpace) return null;
    let entries: Entry[];
    try {
      entries = await this.entries(base.appliedIndex + 1, index + 1, VIEW_REPLAY_MAX_BYTES);
    } catch (err) {
      if (err instanceof LogCompactedError) return null;
      throw err;
    }
    // Generations are never reused: the same one still active means no install since base,
    // so these committed entries are the ones applied over it.
    if (base.space !== this.kvSpace || entries.length !== index - base.appliedIndex) return null;
    return replayOnto(base, entries, this.leaseTable);
  }

  /** The stored bytes of a key (null if absent), seeing noSync-buffered writes. */
  private async readStored(key: string, space: KvSpace): Promise<Buffer | null> {
    if (space === this.kvSpace) {
      const queued = this.buffer.lookup(key);
      if (queued !== undefined) return queued;
    }
    return (await this.db.get(kvKey(space, key))) ?? null;
  }

  private decodeKv(key: string, bytes: Uint8Array): unknown {
    try {
      return decodeValue(bytes);
    } catch (err) {
      throw this.corrupt('kv', key, `undecodable msgpack value (${(err as Error).message})`);
    }
  }

  /** The value of `key` in the state machine, or undefined. Reads at least everything applied before the call. */
  async get(key: string): Promise<unknown> {
    checkKey(key, 'key');
    this.checkUsable();
    // get() skips the write queue, so an install can switch generations while it reads and
    // the old one's clear can hide the key: read again from the new generation. A
    // generation is cleared only once it is no longer active, so a read that ends with its
    // generation still active was not touched by a clear.
    for (let attempt = 0; ; attempt++) {
      const space = this.kvSpace;
      const bytes = await this.readStored(key, space);
      if (space === this.kvSpace || attempt >= MAX_GET_ATTEMPTS) {
        assert(space === this.kvSpace, () => `get('${key}'): the KV generation changed under ${MAX_GET_ATTEMPTS} reads in a row`);
        return bytes === null ? undefined : this.decodeKv(key, recordValue(bytes));
      }
    }
  }

  /** The value of `key` with its revisions (kv-record.ts), or undefined. */
  async getWithMeta(key: string): Promise<({ value: unknown } & KeyMeta) | undefined> {
    checkKey(key, 'key');
    const rec = await this.enqueue(async () => this.readStored(key, this.kvSpace));
    return rec === null ? undefined : { value: this.decodeKv(key, recordValue(rec)), ...recordMeta(rec) };
  }

  /** [key, value] pairs in UTF-8 byte order of the keys, from a consistent view taken when iteration starts. */
  async *scan(options: ScanOptions = {}): AsyncGenerator<[string, unknown], void, undefined> {
    for (const bound of ['gte', 'gt', 'lte', 'lt'] as const) {
      const v = options[bound];
      if (v !== undefined && typeof v !== 'string') throw new InvalidArgumentError(`scan option ${bound} must be a string`);
    }
    if (options.limit !== undefined && !isIndex(options.limit)) throw new InvalidArgumentError(`scan limit must be an integer >= 0 (got ${String(options.limit)})`);
    if (options.limit === 0) return;
    const it = await this.enqueue(async () => {
      await this.flushBuffered();
      const prefix = kvPrefix(this.kvSpace);
      const bound = (s: string): Buffer => Buffer.concat([prefix, Buffer.from(s, 'utf8')]);
      const range: RangeOptions = { reverse: options.reverse === true };
      if (options.gt !== undefined) range.gt = bound(options.gt);
      else range.gte = bound(options.gte ?? '');
      if (options.lt !== undefined) range.lt = bound(options.lt);
      else if (options.lte !== undefined) range.lte = bound(options.lte);
      else range.lt = kvUserEnd(this.kvSpace);
      if (options.limit !== undefined) range.limit = options.limit;
      return this.db.iterator(range);
    });
    try {
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      let count = 0;
      for (let step = 0; count < limit; step++) {
        const batch = await it.nextv(READ_BATCH_ENTRIES).catch((err: unknown) => {
          // A damaged table shows only when read: say so with the directory, as at open.
          throw (err as { code?: unknown }).code === 'LEVEL_CORRUPTION' ? mapOpenError(this.path, err) : err;
        });
        if (batch.length === 0) return;
        for (const [k, v] of batch) {
          const key = userKeyOf(k);
          const value = this.decodeKv(key, recordValue(v));
          yield [key, options.withMeta === true ? { value, ...recordMeta(v) } : value];
          count++;
        }
      }
    } finally {
      await it.close();
    }
  }

  // ---------------------------------------------------------------- watch history

  /** The first revision whose changes the history holds whole. */
  get historyStart(): number {
    return this.history.start;
  }

  /** Retained history records and their bytes, for status and tests. */
  get historySize(): { records: number; sizeBytes: number } {
    return { records: this.history.count, sizeBytes: this.history.sizeBytes };
  }

  /**
   * The changes of revisions `from` onwards, up to about `maxBytes` of records (at least one).
   * `upTo`: every revision up to it was read (the applied index when the read reached the
   * end). `compacted`: `from` is older than the history's start (then nothing is read).
   */
  async readHistory(from: number, maxBytes: number): Promise<{ records: HistoryRecord[]; upTo: number; start: number; compacted: boolean }> {
    if (!isIndex(from) || from < 1) throw new InvalidArgumentError(`history revision must be an integer >= 1 (got ${String(from)})`);
    const opened = await this.enqueue(async () => {
      await this.flushBuffered();
      const start = this.history.start;
      if (from < start) return { start, applied: this.appliedIndex, it: null };
      // Created inside the queue: its implicit snapshot matches the applied index read here.
      return { start, applied: this.appliedIndex, it: this.db.iterator({ gte: historyBound(from), lt: HISTORY_RANGE.lt }) };
    });
    if (opened.it === null) return { records: [], upTo: from - 1, start: opened.start, compacted: true };
    const records: HistoryRecord[] = [];
    let bytes = 0;
    let upTo = opened.applied;
    try {
      for (;;) {
        const batch = await opened.it.nextv(64);
        if (batch.length === 0) break;
        let full = false;
        for (const [k, v] of batch) {
          const revision = historyRevisionOf(k);
          if (revision > opened.applied) break;
          if (records.length > 0 && bytes + v.length > maxBytes) {
            upTo = revision - 1;
            full = true;
            break;
          }
          let changes: KvChange[];
          try {
            changes = decodeHistoryRecord(v);
          } catch (err) {
            throw this.corrupt('history', revision, `watch history record ${revision}: ${(err as Error).message}`);
          }
          records.push({ revision, changes });
          bytes += v.length;
        }
        if (full) break;
      }
    } finally {
      await opened.it.close();
    }
    return { records, upTo, start: opened.start, compacted: false };
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * Records a snapshot when `snapshotIntervalEntries` entries or `snapshotIntervalBytes`
   * bytes of log were applied since the last one; then compacts.
   */
  async maybeSnapshot(): Promise<SnapshotMeta | null> {
    return this.enqueue(async () => {
      const since = this.appliedIndex - (this.snapshotMeta?.index ?? 0);
      const due = since >= this.snapshotIntervalEntries || (since > 0 && this.appliedBytesSinceSnapshot >= this.snapshotIntervalBytes);
      if (!due || this.groupMeta === null) return null;
      return this.recordSnapshotLocked();
    });
  }

  /** Records a snapshot at the applied index now, then compacts the log behind it. */
  async recordSnapshot(): Promise<SnapshotMeta> {
    return this.enqueue(async () => this.recordSnapshotLocked());
  }

  private async recordSnapshotLocked(): Promise<SnapshotMeta> {
    if (this.groupMeta === null) throw new InvalidArgumentError('cannot snapshot a node without group metadata');
    const term = this.terms.term(this.appliedIndex);
    assert(term !== null, () => `no term for applied index ${this.appliedIndex}`);
    // The KV space itself is the snapshot's data: LevelDB holds the state at `applied`,
    // so recording a snapshot only records its meta; openSnapshot() streams the data.
    const meta: SnapshotMeta = { index: this.appliedIndex, term, group: this.groupMeta };
    const ops: BatchOp[] = [{ type: 'put', key: META_SNAPSHOT, value: encodeSnapshotMeta(meta) }];
    const log = this.terms.clone();
    // Keep at most entriesKeptAfterSnapshot entries and bytesKeptAfterSnapshot bytes behind it.
    const byBytes = this.logSizes.keepWithin(meta.index, this.bytesKeptAfterSnapshot, log.compacted.index);
    const compactTo = Math.max(meta.index - this.entriesKeptAfterSnapshot, byBytes);
    if (compactTo > log.compacted.index) planCompaction(compactTo, ops, log);
    await this.writePolicy(ops, null);
    this.logSizes.track(ops);
    this.appliedBytesSinceSnapshot = 0;
    this.snapshotMeta = meta;
    this.terms = log;
    return meta;
  }

  /**
   * A snapshot of the KV state machine at the current applied index, read from a LevelDB
   * snapshot (an iterator's implicit one) so that later writes do not show. Iterate it
   * once; close() it if you stop early without breaking out of a for-await.
   */
  async openSnapshot(): Promise<SnapshotStream> {
    return this.enqueue(async () => {
      await this.flushBuffered();
      if (this.groupMeta === null) throw new InvalidArgumentError('cannot snapshot a node without group metadata');
      const term = this.terms.term(this.appliedIndex);
      assert(term !== null, () => `no term for applied index ${this.appliedIndex}`);
      const meta: SnapshotMeta = { index: this.appliedIndex, term, group: this.groupMeta };
      // Created in the queue, with nothing in flight: the iterator sees exactly `applied`.
      return new SnapshotStream(meta, this.db.iterator(kvRange(this.kvSpace)), this.snapshotChunkMaxBytes);
    });
  }

  /**
   * Starts installing a snapshot received from the leader: takes a fresh KV generation and
   * records the install. A staged install that was not finished is replaced. `rollback`
   * (JE hard recovery) lets the snapshot replace committed state, at or below `applied`.
   * Resolves with the install's key: pass it to installChunk and abortInstall, so that the
   * chunks of a stream that was replaced meanwhile never land in another stream's install.
   */
  async beginInstall(meta: SnapshotMeta, opts: { rollback?: boolean } = {}): Promise<number> {
    return this.enqueue(async () => {
      let checked: SnapshotMeta;
      try {
        checked = checkSnapshotMeta(meta);
      } catch (err) {
        throw new InvalidArgumentError(`snapshot meta: ${(err as Error).message}`);
      }
      this.checkSnapshotGroup(checked);
      const rollback = opts.rollback === true;
      if (checked.index <= this.appliedIndex && !rollback) {
        throw new InvalidArgumentError(`snapshot at index ${checked.index} is not beyond the applied index ${this.appliedIndex}`);
      }
      await this.flushBuffered();
      if (this.pendingClear) await this.pendingClear;
      // A generation never used before, so it holds no keys (see keys.ts). The counter is
      // fsynced before anything is staged in it, whatever the sync policy.
      const space = this.kvNext;
      assert(space <= MAX_KV_GENERATION, () => `KV generations exhausted (${space})`);
      if (this.install) await this.clearRange(kvRange(this.install.space));
      this.install = null;
      await this.writeDirect(
        [
          { type: 'put', key: META_KV_NEXT, value: encode(space + 1) },
          { type: 'put', key: META_INSTALL, value: encode({ space, index: checked.index, term: checked.term }) },
        ],
        true,
      );
      this.kvNext = space + 1;
      const key = ++this.lastInstallKey;
      this.install = { key, meta: checked, space, rollback, nextSeq: 0, lastSeen: false, pairs: 0 };
      return key;
    });
  }

  /**
   * Writes one chunk (from SnapshotStream) into the staging space. Chunks must come in order.
   * With `key`, the chunk belongs to that install only: InstallSupersededError if another began since.
   */
  async installChunk(chunk: Uint8Array, key?: number): Promise<void> {
    return this.enqueue(async () => {
      const install = this.install;
      if (key !== undefined && install?.key !== key) throw new InstallSupersededError(this.path, key, install?.key ?? null);
      if (!install) throw new InvalidArgumentError('installChunk without beginInstall');
      const decoded = decodeChunk(chunk);
      if (install.lastSeen) throw new InvalidArgumentError(`snapshot chunk ${decoded.seq} arrived after the last chunk`);
      if (decoded.seq !== install.nextSeq) throw new InvalidArgumentError(`snapshot chunk ${decoded.seq} arrived, expected chunk ${install.nextSeq}`);
      // A lease record travels as its key bytes after the KV prefix (leases.ts).
      const ops: BatchOp[] = decoded.pairs.map(([key, value]) => ({ type: 'put', key: typeof key === 'string' ? kvKey(install.space, key) : Buffer.concat([kvPrefix(install.space), key]), value: Buffer.from(value) }));
      if (ops.length > 0) await this.writeDirect(ops);
      install.nextSeq++;
      install.pairs += ops.length;
      install.lastSeen = decoded.last;
    });
  }

  /** Switches to the staged snapshot in ONE batch (see planInstallSwitch). */
  async finishInstall(): Promise<SnapshotMeta> {
    return this.enqueue(async () => {
      if (!this.install) throw new InvalidArgumentError('finishInstall without beginInstall');
      const ops: BatchOp[] = [];
      const log = this.terms.clone();
      const plan = planInstallSwitch(this.install, this.install.meta, this.installContext(), ops, log);
      const historyPlan = this.history.planReset(plan.meta.index, ops);
      checkLogInvariants(plan.hardState, plan.meta.index, log);
      const leaseRecords = await this.readLeaseRecords(plan.space);
      await this.writeWithHardState(ops, plan.hardState);
      this.logSizes.track(ops);
      this.terms = log;
      this.hs = plan.hardState;
      this.commitInstall(plan, historyPlan, leaseRecords);
      return plan.meta;
    });
  }

  /** Drops a staged install (with `key`: only that one, if still staged); the current state is untouched. */
  async abortInstall(key?: number): Promise<void> {
    return this.enqueue(async () => {
      if (!this.install || (key !== undefined && this.install.key !== key)) return;
      const space = this.install.space;
      this.install = null;
      await this.writeDirect([{ type: 'del', key: META_INSTALL }]);
      await this.clearRange(kvRange(space));
    });
  }

  private checkSnapshotGroup(meta: SnapshotMeta): void {
    if (this.markerGroupId !== null && meta.group.groupId !== this.markerGroupId) {
      throw new GroupMismatchError(`snapshot of group '${meta.group.groupId}' cannot be installed in data directory ${this.path} of group '${this.markerGroupId}'`);
    }
  }

  private installContext(): { hardState: HardState; kvSpace: KvSpace; markerGroupId: string | null } {
    return { hardState: this.hs, kvSpace: this.kvSpace, markerGroupId: this.markerGroupId };
  }

  /** Switches the state in memory to the installed snapshot: its KV generation, and its lease table (read from that generation). */
  private commitInstall(plan: InstallPlan, historyPlan: HistoryPlan, leaseRecords: [Buffer, Buffer][]): void {
    this.history.commit(historyPlan);
    this.appliedBytesSinceSnapshot = 0;
    this.kvSpace = plan.space;
    this.loadLeaseTable(leaseRecords);
    this.appliedIndex = plan.meta.index;
    this.groupMeta = plan.meta.group;
    this.markerGroupId ??= plan.meta.group.groupId;
    this.snapshotMeta = plan.meta;
    this.install = null;
    // The old space is garbage now; clear it in the background (open() clears it too if we crash first).
    this.pendingClear = this.clearRange(kvRange(plan.oldSpace)).then(
      () => {
        this.pendingClear = null;
      },
      noop,
    );
  }

  // ---------------------------------------------------------------- close

  /** Flushes buffered writes, waits for queued ones, and closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    const flushed = this.enqueue(() => this.flushBuffered());
    this.state = 'closing';
    await flushed.catch(noop);
    await this.queueTail;
    if (this.pendingClear) await this.pendingClear;
    this.state = 'closed';
    await this.releaseDb();
  }

  /**
   * Simulates a process crash (kill -9) for tests and the simulation: noSync-buffered
   * batches are dropped, nothing else is written, and the database is released so it can
   * be reopened. Batches already handed to LevelDB may still land, as they would in a crash.
   */
  async crash(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.buffer.discard();
    await this.queueTail;
    if (this.pendingClear) await this.pendingClear;
    await this.releaseDb();
  }

  private async releaseDb(): Promise<void> {
    if (this.flushTimer !== null) {
      this.timers.clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    // A shared MemoryBackend stays open so that its data survives for the next open.
    if (this.memory === null || this.ownsMemory) await this.db.close().catch(noop);
    if (this.memory !== null) this.memory.held = false;
  }
}

