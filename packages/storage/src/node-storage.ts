// NodeStorage: one node's durable state in one LevelDB (or memory-level) database:
// the Raft log, hard state, group metadata, local settings, the KV state machine, the
// applied index and snapshot metadata. Key layout: keys.ts. Encodings: codec.ts.
//
// Concurrency: every write (and every read that must agree with the in-memory indexes)
// runs through one FIFO queue, so batches reach LevelDB in call order (classic-level runs
// them on the libuv pool, where two unawaited batches could otherwise swap) and the
// in-memory state (firstIndex, lastIndex, terms, applied) changes only after its batch
// succeeded. A failed write makes the storage fail-stop.
import { readdir } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import {
  applyConfChange,
  assert,
  ConfChangeError,
  ConclaveError,
  GroupMismatchError,
  InvalidArgumentError,
  validateGroup,
} from '@conclave/core';
import type { Entry, GroupMetadata, HardState, SnapshotMeta } from '@conclave/core';
import {
  BadRecord,
  checkSnapshotMeta,
  decodeEntry,
  decodeGroup,
  decodeHardState,
  decodeIndex,
  decodePosition,
  decodeSnapshotMeta,
  encode,
  encodeEntry,
  encodeHardState,
  encodePosition,
  encodeSnapshotMeta,
  unpackOrBad,
  type LogPosition,
} from './codec.js';
import { checkKey, decodeRawCommand, decodeValue, type RawCommand } from './command.js';
import {
  DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT,
  DEFAULT_NO_SYNC_FLUSH_BYTES,
  DEFAULT_NO_SYNC_FLUSH_INTERVAL_MS,
  DEFAULT_SNAPSHOT_INTERVAL_ENTRIES,
  MAX_RECORDS_PER_OPEN_SCAN,
  READ_BATCH_ENTRIES,
  SNAPSHOT_CHUNK_MAX_BYTES,
} from './defaults.js';
import {
  ForeignDataDirectoryError,
  LogCompactedError,
  StorageClosedError,
  StorageCorruptError,
  StorageFormatError,
  StorageIoError,
  StorageLockedError,
  type KeySpace,
} from './errors.js';
import {
  kvKey,
  kvPrefix,
  kvRange,
  LOG_RANGE,
  logIndexOf,
  logKey,
  META_APPLIED,
  META_COMPACTED,
  META_FORMAT,
  META_GROUP,
  META_HARD_STATE,
  META_INSTALL,
  META_KV_SPACE,
  META_SNAPSHOT,
  otherSpace,
  settingKey,
  settingName,
  SETTINGS_RANGE,
  userKeyOf,
  type KvSpace,
} from './keys.js';
import { createLevelDb, MemoryBackend, type BatchOp, type RangeOptions, type RawDb, type RawIterator } from './raw-db.js';
import { SnapshotStream } from './snapshot-stream.js';
import { decodeChunk } from './snapshot-chunk.js';
import { SYNC_POLICIES, type SyncPolicy } from './sync-policy.js';
import { TermIndex } from './term-index.js';

export const STORAGE_FORMAT_NAME = 'conclave-storage';
export const STORAGE_FORMAT_VERSION = 1;

export interface NodeStorageOptions {
  /** The data directory (for a memory backend, a label used in messages). */
  readonly path: string;
  /** `level` (default): LevelDB in `path`. `memory`: a fresh memory-level. A MemoryBackend: reopen its data. */
  readonly backend?: 'level' | 'memory' | MemoryBackend;
  /** The group this node belongs to, when the caller knows it: a directory of another group is refused. */
  readonly groupId?: string;
  readonly syncPolicy?: SyncPolicy;
  readonly noSyncFlushIntervalMs?: number;
  readonly noSyncFlushBytes?: number;
  readonly snapshotIntervalEntries?: number;
  readonly entriesKeptAfterSnapshot?: number;
  /** Upper bound of a snapshot chunk, at most (and by default) 1 MiB; smaller values are for tests. */
  readonly snapshotChunkMaxBytes?: number;
}

/** Settings local to this node, never replicated. */
export interface LocalSettings {
  /** JE HA's ELECTABLE_GROUP_SIZE_OVERRIDE; 0 = off. */
  readonly electableGroupSizeOverride: number;
}

export const DEFAULT_SETTINGS: LocalSettings = { electableGroupSizeOverride: 0 };

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
  | { readonly op: 'conf'; readonly group: GroupMetadata };

/** One result per applied entry, in order. `outcome` is null for noop/empty entries or on error. */
export interface ApplyResult {
  readonly index: number;
  readonly outcome: CommandOutcome | null;
  /** Set when the entry was applied as a no-op because its command or conf change is invalid. */
  readonly error: ConclaveError | null;
}

export interface ScanOptions {
  readonly gte?: string;
  readonly gt?: string;
  readonly lte?: string;
  readonly lt?: string;
  /** Most pairs returned; undefined = no limit. */
  readonly limit?: number;
  readonly reverse?: boolean;
}

interface FormatMarker {
  format: string;
  version: number;
  groupId: string | null;
}

interface InstallState {
  readonly meta: SnapshotMeta;
  readonly space: KvSpace;
  nextSeq: number;
  lastSeen: boolean;
  pairs: number;
}

interface InstallPlan {
  readonly meta: SnapshotMeta;
  readonly space: KvSpace;
  readonly oldSpace: KvSpace;
  readonly hardState: HardState;
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };
const noop = (): void => {};

function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

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
  private readonly db: RawDb;
  private readonly memory: MemoryBackend | null;
  private readonly ownsMemory: boolean;
  private readonly noSyncFlushIntervalMs: number;
  private readonly noSyncFlushBytes: number;
  private readonly snapshotChunkMaxBytes: number;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: StorageIoError | null = null;
  private queueTail: Promise<void> = Promise.resolve();

  private hs: HardState = EMPTY_HARD_STATE;
  private groupMeta: GroupMetadata | null = null;
  private markerGroupId: string | null = null;
  private appliedIndex = 0;
  private snapshotMeta: SnapshotMeta | null = null;
  private terms = new TermIndex({ index: 0, term: 0 });
  private kvSpace: KvSpace = 'a';
  private settingsValue: LocalSettings = DEFAULT_SETTINGS;
  private install: InstallState | null = null;
  /** The log read at open, handed to the first load() so that boot reads the log once. */
  private bootEntries: Entry[] | null = null;
  private pendingClear: Promise<void> | null = null;

  // noSync write-behind buffer: whole batches in order, plus the KV changes they carry so
  // that get() and CAS see them before they reach LevelDB.
  private pendingOps: BatchOp[] = [];
  private pendingBytes = 0;
  private kvOverlay = new Map<string, Buffer | null>();
  private flushingOverlay: Map<string, Buffer | null> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;

  private constructor(path: string, db: RawDb, memory: MemoryBackend | null, ownsMemory: boolean, options: NodeStorageOptions) {
    this.path = path;
    this.db = db;
    this.memory = memory;
    this.ownsMemory = ownsMemory;
    this.syncPolicy = options.syncPolicy ?? 'sync';
    this.noSyncFlushIntervalMs = positiveInt(options.noSyncFlushIntervalMs, DEFAULT_NO_SYNC_FLUSH_INTERVAL_MS, 'noSyncFlushIntervalMs');
    this.noSyncFlushBytes = positiveInt(options.noSyncFlushBytes, DEFAULT_NO_SYNC_FLUSH_BYTES, 'noSyncFlushBytes');
    this.snapshotIntervalEntries = positiveInt(options.snapshotIntervalEntries, DEFAULT_SNAPSHOT_INTERVAL_ENTRIES, 'snapshotIntervalEntries');
    if (options.entriesKeptAfterSnapshot !== undefined && !isIndex(options.entriesKeptAfterSnapshot)) {
      throw new InvalidArgumentError(`entriesKeptAfterSnapshot must be an integer >= 0 (got ${String(options.entriesKeptAfterSnapshot)})`);
    }
    this.entriesKeptAfterSnapshot = options.entriesKeptAfterSnapshot ?? DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT;
    this.snapshotChunkMaxBytes = positiveInt(options.snapshotChunkMaxBytes, SNAPSHOT_CHUNK_MAX_BYTES, 'snapshotChunkMaxBytes');
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
    let storage: NodeStorage;
    if (backend === 'level') {
      const path = resolvePath(options.path);
      await checkDirectory(path);
      const db = createLevelDb(path);
      storage = new NodeStorage(path, db, null, false, options);
      try {
        await db.open({ createIfMissing: true });
      } catch (err) {
        throw mapOpenError(path, err);
      }
    } else {
      const memory = backend === 'memory' ? new MemoryBackend() : backend;
      if (!(memory instanceof MemoryBackend)) throw new InvalidArgumentError(`backend must be 'level', 'memory' or a MemoryBackend`);
      if (memory.held) throw new StorageLockedError(options.path);
      storage = new NodeStorage(options.path, memory.db, memory, backend === 'memory', options);
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
      throw err;
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

  private async readRecord<T>(key: Buffer, space: KeySpace, decodeFn: (b: Buffer) => T): Promise<T | undefined> {
    const bytes = await this.db.get(key);
    if (bytes === undefined) return undefined;
    try {
      return decodeFn(bytes);
    } catch (err) {
      if (err instanceof BadRecord) throw this.corrupt(space, null, err.message);
      throw err;
    }
  }

  private async boot(expectedGroupId: string | null): Promise<void> {
    const marker = await this.readRecord(META_FORMAT, 'format', decodeMarker);
    if (marker === undefined) {
      // No marker: only an empty database (ours, interrupted before its first write) may be initialised.
      const it = this.db.iterator({ limit: 1 });
      const any = await it.nextv(1).finally(() => it.close());
      if (any.length > 0) throw new ForeignDataDirectoryError(this.path, 'a LevelDB database without a conclave format marker');
      const fresh: FormatMarker = { format: STORAGE_FORMAT_NAME, version: STORAGE_FORMAT_VERSION, groupId: expectedGroupId };
      await this.writeRaw([{ type: 'put', key: META_FORMAT, value: encode(fresh) }, { type: 'put', key: META_KV_SPACE, value: encode('a') }], true);
      this.markerGroupId = expectedGroupId;
      this.bootEntries = [];
      return;
    }
    if (marker.format !== STORAGE_FORMAT_NAME) throw new ForeignDataDirectoryError(this.path, `format marker names '${marker.format}'`);
    if (marker.version > STORAGE_FORMAT_VERSION) {
      throw new StorageFormatError(this.path, `storage format version ${marker.version} is newer than this build's ${STORAGE_FORMAT_VERSION}`);
    }
    if (expectedGroupId !== null && marker.groupId !== null && marker.groupId !== expectedGroupId) {
      throw new GroupMismatchError(`data directory ${this.path} belongs to group '${marker.groupId}', not to the expected group '${expectedGroupId}'`);
    }
    this.markerGroupId = marker.groupId;

    this.hs = (await this.readRecord(META_HARD_STATE, 'hardState', decodeHardState)) ?? EMPTY_HARD_STATE;
    this.groupMeta = (await this.readRecord(META_GROUP, 'group', decodeGroup)) ?? null;
    this.appliedIndex = (await this.readRecord(META_APPLIED, 'applied', decodeIndex)) ?? 0;
    this.snapshotMeta = (await this.readRecord(META_SNAPSHOT, 'snapshot', decodeSnapshotMeta)) ?? null;
    const compacted = (await this.readRecord(META_COMPACTED, 'compacted', decodePosition)) ?? { index: 0, term: 0 };
    const space = await this.readRecord(META_KV_SPACE, 'kvSpace', unpackOrBad);
    if (space !== 'a' && space !== 'b') throw this.corrupt('kvSpace', null, `active KV space is ${JSON.stringify(space)}, not 'a' or 'b'`);
    this.kvSpace = space;
    const interrupted = await this.readRecord(META_INSTALL, 'install', unpackOrBad);
    this.settingsValue = await this.readSettings();

    if (this.groupMeta && this.markerGroupId !== null && this.groupMeta.groupId !== this.markerGroupId) {
      throw this.corrupt('group', null, `group metadata is for '${this.groupMeta.groupId}' but the format marker says '${this.markerGroupId}'`);
    }
    if (this.snapshotMeta && this.snapshotMeta.index > this.appliedIndex) {
      throw this.corrupt('snapshot', null, `snapshot index ${this.snapshotMeta.index} is beyond the applied index ${this.appliedIndex}`);
    }

    this.terms = new TermIndex(compacted);
    this.bootEntries = await this.readWholeLog(compacted);

    const last = this.terms.lastIndex;
    if (this.hs.commit > last) throw this.corrupt('hardState', null, `commit ${this.hs.commit} is beyond the last log index ${last}`);
    if (this.hs.term < this.terms.lastTerm) throw this.corrupt('hardState', null, `term ${this.hs.term} is below the last log term ${this.terms.lastTerm}`);
    if (this.appliedIndex > last || this.appliedIndex < compacted.index) {
      throw this.corrupt('applied', null, `applied index ${this.appliedIndex} is outside the log [${compacted.index}, ${last}]`);
    }

    // Finish what a crash interrupted: a staged install is dropped, and the inactive KV
    // space (staging leftovers, or the old space after a switch) is cleared.
    await this.clearRange(kvRange(otherSpace(this.kvSpace)));
    if (interrupted !== undefined) await this.writeRaw([{ type: 'del', key: META_INSTALL }], true);
    if (expectedGroupId !== null && this.markerGroupId === null) {
      await this.writeRaw([{ type: 'put', key: META_FORMAT, value: encode({ ...marker, groupId: expectedGroupId }) }], true);
      this.markerGroupId = expectedGroupId;
    }
  }

  private async readSettings(): Promise<LocalSettings> {
    const it = this.db.iterator(SETTINGS_RANGE);
    const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    try {
      for (let step = 0; step < MAX_RECORDS_PER_OPEN_SCAN; step++) {
        const batch = await it.nextv(READ_BATCH_ENTRIES);
        if (batch.length === 0) break;
        for (const [key, value] of batch) {
          const name = settingName(key);
          let v: unknown;
          try {
            v = unpackOrBad(value);
          } catch (err) {
            throw this.corrupt('settings', name, (err as Error).message);
          }
          if (name === 'electableGroupSizeOverride' && !isIndex(v)) throw this.corrupt('settings', name, `not an integer >= 0: ${String(v)}`);
          settings[name] = v; // unknown names (from a newer build) are kept, not interpreted
        }
      }
    } finally {
      await it.close();
    }
    return settings as unknown as LocalSettings;
  }

  /** Reads and checks the whole log after `compacted`, building the term index. */
  private async readWholeLog(compacted: LogPosition): Promise<Entry[]> {
    const it = this.db.iterator(LOG_RANGE);
    const entries: Entry[] = [];
    let expected = compacted.index + 1;
    let prevTerm = compacted.term;
    try {
      for (let step = 0; step < MAX_RECORDS_PER_OPEN_SCAN; step++) {
        const batch = await it.nextv(READ_BATCH_ENTRIES);
        if (batch.length === 0) break;
        for (const [key, value] of batch) {
          const index = logIndexOf(key);
          if (index < 0) throw this.corrupt('log', key.toString('hex'), 'malformed log key');
          if (index !== expected) {
            throw this.corrupt('log', index, index <= compacted.index ? `entry at or below the compaction point ${compacted.index}` : `gap in the log: expected index ${expected}`);
          }
          let entry: Entry;
          try {
            entry = decodeEntry(value);
          } catch (err) {
            if (err instanceof BadRecord) throw this.corrupt('log', index, err.message);
            throw err;
          }
          if (entry.index !== index) throw this.corrupt('log', index, `the record carries index ${entry.index}`);
          if (entry.term < prevTerm) throw this.corrupt('log', index, `term ${entry.term} is below the previous term ${prevTerm}`);
          this.terms.push(index, entry.term);
          entries.push(entry);
          prevTerm = entry.term;
          expected++;
        }
      }
    } finally {
      await it.close();
    }
    return entries;
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
    if (!this.failure) this.failure = new StorageIoError(this.path, what, err);
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

  /** Writes one batch as the sync policy says. `kvChanges` lets noSync reads see buffered KV writes. */
  private async writePolicy(ops: BatchOp[], kvChanges: Map<string, Buffer | null> | null): Promise<void> {
    if (this.syncPolicy !== 'noSync') return this.writeRaw(ops, this.syncPolicy === 'sync');
    for (const op of ops) {
      this.pendingOps.push(op);
      this.pendingBytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    }
    if (kvChanges) for (const [k, v] of kvChanges) this.kvOverlay.set(k, v);
    if (this.pendingBytes >= this.noSyncFlushBytes) {
      await this.flushBuffered();
    } else if (this.flushTimer === null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        if (this.state === 'open' && !this.failure) this.enqueue(() => this.flushBuffered()).catch(noop);
      }, this.noSyncFlushIntervalMs);
      this.flushTimer.unref();
    }
  }

  /** A write that must not sit in the noSync buffer (install, settings): flushes the buffer first. */
  private async writeDirect(ops: BatchOp[], sync = this.syncPolicy === 'sync'): Promise<void> {
    await this.flushBuffered();
    await this.writeRaw(ops, sync);
  }

  /** noSync: writes the buffered batches to the OS as one batch (whole batches, in order). Queue-only. */
  private async flushBuffered(): Promise<void> {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pendingOps.length === 0) return;
    const ops = this.pendingOps;
    this.pendingOps = [];
    this.pendingBytes = 0;
    this.flushingOverlay = this.kvOverlay;
    this.kvOverlay = new Map();
    try {
      await this.writeRaw(ops, false);
    } finally {
      this.flushingOverlay = null;
    }
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
      if (ready.snapshot) {
        plan = this.planInstallSwitch(ready.snapshot, ops, log);
        hs = plan.hardState;
        applied = plan.meta.index;
      }
      if (ready.entries && ready.entries.length > 0) this.planAppend(ready.entries, ops, log);
      if (ready.hardState) {
        hs = checkHardState(ready.hardState, hs);
        ops.push({ type: 'put', key: META_HARD_STATE, value: encodeHardState(hs) });
      }
      if (ops.length === 0) return;
      this.checkLogInvariants(hs, applied, log);
      if (plan) await this.writeDirect(ops);
      else await this.writePolicy(ops, null);
      this.terms = log;
      this.hs = hs;
      if (plan) this.commitInstall(plan);
    });
  }

  /** Appends entries (truncating any conflicting suffix from entries[0].index) in one batch. */
  async append(entries: readonly Entry[]): Promise<void> {
    return this.writeReady({ entries });
  }

  /** Persists a hard state alone. */
  async setHardState(hardState: HardState): Promise<void> {
    return this.writeReady({ hardState });
  }

  private checkLogInvariants(hs: HardState, applied: number, log: TermIndex): void {
    assert(hs.commit <= log.lastIndex, () => `hard state commit ${hs.commit} is beyond the last log index ${log.lastIndex}`);
    assert(applied <= log.lastIndex, () => `the log would end at ${log.lastIndex}, below the applied index ${applied}`);
    assert(hs.term >= log.lastTerm, () => `hard state term ${hs.term} is below the last log term ${log.lastTerm}`);
  }

  private planAppend(entries: readonly Entry[], ops: BatchOp[], log: TermIndex): void {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (!isIndex(e?.index) || e.index === 0 || !isIndex(e.term)) throw new InvalidArgumentError(`entries[${i}] has a bad index or term`);
      if (e.type !== 'normal' && e.type !== 'noop' && e.type !== 'conf') throw new InvalidArgumentError(`entries[${i}] has unknown type ${String(e.type)}`);
      if (!(e.data instanceof Uint8Array)) throw new InvalidArgumentError(`entries[${i}].data must be a Uint8Array`);
      if ((e.type === 'conf') !== (e.change !== undefined)) throw new InvalidArgumentError(`entries[${i}]: exactly the conf entries carry a change`);
      if (i > 0) {
        const prev = entries[i - 1]!;
        if (e.index !== prev.index + 1) throw new InvalidArgumentError(`entries are not contiguous: ${prev.index} then ${e.index}`);
        if (e.term < prev.term) throw new InvalidArgumentError(`entry terms decrease: ${prev.term} at ${prev.index}, ${e.term} at ${e.index}`);
      }
    }
    const compacted = log.compacted;
    // Entries at or below the compaction point are already in the snapshot: skip them (etcd does the same).
    let start = 0;
    while (start < entries.length && entries[start]!.index <= compacted.index) start++;
    if (start > 0) {
      const atPoint = entries[start - 1]!;
      assert(atPoint.index !== compacted.index || atPoint.term === compacted.term, () => `entry ${atPoint.index} (term ${atPoint.term}) conflicts with the compaction point (term ${compacted.term})`);
    }
    if (start === entries.length) return;
    const first = entries[start]!;
    const lastNew = entries[entries.length - 1]!.index;
    if (first.index > log.lastIndex + 1) throw new InvalidArgumentError(`entries start at ${first.index}, leaving a gap after the last index ${log.lastIndex}`);
    const prevTerm = log.term(first.index - 1)!;
    if (first.term < prevTerm) throw new InvalidArgumentError(`entry ${first.index} has term ${first.term}, below the previous entry's term ${prevTerm}`);
    // Raft never rewrites a committed entry: an overlap with the committed prefix must be the same entries.
    const overlapEnd = Math.min(log.lastIndex, this.hs.commit, lastNew);
    for (let i = first.index; i <= overlapEnd; i++) {
      const e = entries[start + i - first.index]!;
      assert(e.term === log.term(i), () => `entry ${i} (term ${e.term}) would rewrite committed entry ${i} (term ${log.term(i)})`);
    }
    if (first.index <= log.lastIndex) {
      // The log becomes log[..first-1] + entries: keys beyond the new end are deleted, the rest overwritten.
      for (let i = lastNew + 1; i <= log.lastIndex; i++) ops.push({ type: 'del', key: logKey(i) });
      log.truncateFrom(first.index);
    }
    for (let i = start; i < entries.length; i++) {
      const e = entries[i]!;
      ops.push({ type: 'put', key: logKey(e.index), value: encodeEntry(e) });
      log.push(e.index, e.term);
    }
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
    return this.readLogIterator(it, lo, hi, maxBytes);
  }

  private async readLogIterator(it: RawIterator, lo: number, hi: number, maxBytes: number): Promise<Entry[]> {
    const out: Entry[] = [];
    let bytes = 0;
    try {
      for (let expected = lo; expected < hi; ) {
        const batch = await it.nextv(Math.min(READ_BATCH_ENTRIES, hi - expected));
        if (batch.length === 0) throw this.corrupt('log', expected, `entry missing (reading [${lo}, ${hi}))`);
        for (const [key, value] of batch) {
          const index = logIndexOf(key);
          if (index !== expected) throw this.corrupt('log', index < 0 ? key.toString('hex') : index, `expected index ${expected}`);
          let entry: Entry;
          try {
            entry = decodeEntry(value);
          } catch (err) {
            if (err instanceof BadRecord) throw this.corrupt('log', index, err.message);
            throw err;
          }
          if (entry.index !== index) throw this.corrupt('log', index, `the record carries index ${entry.index}`);
          bytes += value.length;
          if (out.length > 0 && bytes > maxBytes) return out;
          out.push(entry);
          expected++;
        }
      }
      return out;
    } finally {
      await it.close();
    }
  }

  /** Compacts the log up to and including `index`, which must be applied. */
  async compact(index: number): Promise<void> {
    return this.enqueue(async () => {
      if (!isIndex(index)) throw new InvalidArgumentError(`compaction index must be an integer >= 0 (got ${index})`);
      if (index > this.appliedIndex) throw new InvalidArgumentError(`cannot compact to ${index}: only ${this.appliedIndex} is applied`);
      if (index <= this.terms.compacted.index) return;
      const ops: BatchOp[] = [];
      const log = this.terms.clone();
      this.planCompaction(index, ops, log);
      await this.writePolicy(ops, null);
      this.terms = log;
    });
  }

  private planCompaction(index: number, ops: BatchOp[], log: TermIndex): void {
    const term = log.term(index);
    assert(term !== null, () => `no term for compaction index ${index}`);
    for (let i = log.firstIndex; i <= index; i++) ops.push({ type: 'del', key: logKey(i) });
    const pos = { index, term };
    ops.push({ type: 'put', key: META_COMPACTED, value: encodePosition(pos) });
    log.compactTo(pos);
  }

  // ---------------------------------------------------------------- group and settings

  /** Stores the initial group metadata of a bootstrapped node. Refuses if the node already has a group. */
  async initializeGroup(group: GroupMetadata): Promise<void> {
    return this.enqueue(async () => {
      validateGroup(group);
      if (this.markerGroupId !== null && this.markerGroupId !== group.groupId) {
        throw new GroupMismatchError(`data directory ${this.path} belongs to group '${this.markerGroupId}', not to '${group.groupId}'`);
      }
      if (this.groupMeta !== null) throw new InvalidArgumentError(`data directory ${this.path} already has group metadata for '${this.groupMeta.groupId}'`);
      const marker: FormatMarker = { format: STORAGE_FORMAT_NAME, version: STORAGE_FORMAT_VERSION, groupId: group.groupId };
      await this.writeDirect([
        { type: 'put', key: META_GROUP, value: encode(group) },
        { type: 'put', key: META_FORMAT, value: encode(marker) },
      ], true);
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
        if (name !== 'electableGroupSizeOverride') throw new InvalidArgumentError(`unknown setting '${name}'`);
        if (!isIndex(value)) throw new InvalidArgumentError(`electableGroupSizeOverride must be an integer >= 0 (got ${String(value)})`);
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
          const outcome = await this.applyCommand(cmd, space, ops, changes);
          results.push({ index: e.index, outcome, error: null });
        }
      }
      const applied = entries[entries.length - 1]!.index;
      ops.push({ type: 'put', key: META_APPLIED, value: encode(applied) });
      if (group !== startGroup && group) ops.push({ type: 'put', key: META_GROUP, value: encode(group) });
      await this.writePolicy(ops, changes);
      this.appliedIndex = applied;
      this.groupMeta = group;
      return results;
    });
  }

  private async applyCommand(cmd: RawCommand, space: KvSpace, ops: BatchOp[], changes: Map<string, Buffer | null>): Promise<CommandOutcome> {
    const put = (key: string, value: Uint8Array): void => {
      const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      ops.push({ type: 'put', key: kvKey(space, key), value: bytes });
      changes.set(key, bytes);
    };
    const del = (key: string): void => {
      ops.push({ type: 'del', key: kvKey(space, key) });
      changes.set(key, null);
    };
    switch (cmd.op) {
      case 'put':
        put(cmd.key, cmd.value);
        return { op: 'put' };
      case 'del':
        del(cmd.key);
        return { op: 'del' };
      case 'batch':
        for (const op of cmd.ops) {
          if (op.op === 'put') put(op.key, op.value);
          else del(op.key);
        }
        return { op: 'batch', count: cmd.ops.length };
      case 'cas': {
        const current = changes.has(cmd.key) ? changes.get(cmd.key)! : await this.readStored(cmd.key, space);
        const succeeded = cmd.expected === null ? current === null : current !== null && Buffer.compare(current, cmd.expected) === 0;
        if (succeeded) {
          if (cmd.value === null) del(cmd.key);
          else put(cmd.key, cmd.value);
        }
        return { op: 'cas', succeeded, current: current === null ? undefined : this.decodeKv(cmd.key, current) };
      }
    }
  }

  /** The stored bytes of a key (null if absent), seeing noSync-buffered writes. */
  private async readStored(key: string, space: KvSpace): Promise<Buffer | null> {
    if (space === this.kvSpace) {
      if (this.kvOverlay.has(key)) return this.kvOverlay.get(key)!;
      if (this.flushingOverlay?.has(key)) return this.flushingOverlay.get(key)!;
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
    const bytes = await this.readStored(key, this.kvSpace);
    return bytes === null ? undefined : this.decodeKv(key, bytes);
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
      const bound = (s: string): Buffer => Buffer.concat([Buffer.from([prefix]), Buffer.from(s, 'utf8')]);
      const range: RangeOptions = { reverse: options.reverse === true };
      if (options.gt !== undefined) range.gt = bound(options.gt);
      else range.gte = bound(options.gte ?? '');
      if (options.lt !== undefined) range.lt = bound(options.lt);
      else if (options.lte !== undefined) range.lte = bound(options.lte);
      else range.lt = Buffer.from([prefix + 1]);
      if (options.limit !== undefined) range.limit = options.limit;
      return this.db.iterator(range);
    });
    try {
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      let count = 0;
      for (let step = 0; count < limit; step++) {
        const batch = await it.nextv(READ_BATCH_ENTRIES);
        if (batch.length === 0) return;
        for (const [k, v] of batch) {
          const key = userKeyOf(k);
          yield [key, this.decodeKv(key, v)];
          count++;
        }
      }
    } finally {
      await it.close();
    }
  }

  // ---------------------------------------------------------------- snapshots

  /** Records a snapshot when `snapshotIntervalEntries` entries were applied since the last one; then compacts. */
  async maybeSnapshot(): Promise<SnapshotMeta | null> {
    return this.enqueue(async () => {
      const since = this.appliedIndex - (this.snapshotMeta?.index ?? 0);
      if (since < this.snapshotIntervalEntries || this.groupMeta === null) return null;
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
    const compactTo = meta.index - this.entriesKeptAfterSnapshot;
    if (compactTo > log.compacted.index) this.planCompaction(compactTo, ops, log);
    await this.writePolicy(ops, null);
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
   * Starts installing a snapshot received from the leader: clears the staging KV space and
   * records the install. A staged install that was not finished is replaced.
   */
  async beginInstall(meta: SnapshotMeta): Promise<void> {
    return this.enqueue(async () => {
      let checked: SnapshotMeta;
      try {
        checked = checkSnapshotMeta(meta);
      } catch (err) {
        throw new InvalidArgumentError(`snapshot meta: ${(err as Error).message}`);
      }
      this.checkSnapshotGroup(checked);
      if (checked.index <= this.appliedIndex) {
        throw new InvalidArgumentError(`snapshot at index ${checked.index} is not beyond the applied index ${this.appliedIndex}`);
      }
      await this.flushBuffered();
      if (this.pendingClear) await this.pendingClear;
      const space = otherSpace(this.kvSpace);
      this.install = null;
      await this.clearRange(kvRange(space));
      await this.writeDirect([{ type: 'put', key: META_INSTALL, value: encode({ space, index: checked.index, term: checked.term }) }]);
      this.install = { meta: checked, space, nextSeq: 0, lastSeen: false, pairs: 0 };
    });
  }

  /** Writes one chunk (from SnapshotStream) into the staging space. Chunks must come in order. */
  async installChunk(chunk: Uint8Array): Promise<void> {
    return this.enqueue(async () => {
      const install = this.install;
      if (!install) throw new InvalidArgumentError('installChunk without beginInstall');
      const decoded = decodeChunk(chunk);
      if (install.lastSeen) throw new InvalidArgumentError(`snapshot chunk ${decoded.seq} arrived after the last chunk`);
      if (decoded.seq !== install.nextSeq) throw new InvalidArgumentError(`snapshot chunk ${decoded.seq} arrived, expected chunk ${install.nextSeq}`);
      const ops: BatchOp[] = decoded.pairs.map(([key, value]) => ({ type: 'put', key: kvKey(install.space, key), value: Buffer.from(value) }));
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
      const plan = this.planInstallSwitch(this.install.meta, ops, log);
      this.checkLogInvariants(plan.hardState, plan.meta.index, log);
      await this.writeDirect(ops);
      this.terms = log;
      this.hs = plan.hardState;
      this.commitInstall(plan);
      return plan.meta;
    });
  }

  /** Drops a staged install; the current state is untouched. */
  async abortInstall(): Promise<void> {
    return this.enqueue(async () => {
      if (!this.install) return;
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

  /**
   * The atomic switch. One batch flips the active KV space to the staged one and sets the
   * applied index, group metadata, snapshot meta, compaction point and hard state, and
   * resets the log: entries up to the snapshot go; later entries stay only if the log
   * holds the snapshot's (index, term). A crash before the batch leaves the old state (the
   * staging space is cleared on open); after it, the new one.
   */
  private planInstallSwitch(meta: SnapshotMeta, ops: BatchOp[], log: TermIndex): InstallPlan {
    const install = this.install;
    if (!install) throw new InvalidArgumentError('a snapshot was given but none is staged (call beginInstall and installChunk first)');
    if (install.meta.index !== meta.index || install.meta.term !== meta.term) {
      throw new InvalidArgumentError(`snapshot (${meta.index}, ${meta.term}) differs from the staged one (${install.meta.index}, ${install.meta.term})`);
    }
    if (!install.lastSeen) throw new InvalidArgumentError(`snapshot install incomplete: the last chunk has not arrived (next is ${install.nextSeq})`);
    const m = install.meta;
    const keepSuffix = log.term(m.index) === m.term;
    const dropTo = keepSuffix ? m.index : log.lastIndex;
    for (let i = log.firstIndex; i <= dropTo; i++) ops.push({ type: 'del', key: logKey(i) });
    if (keepSuffix) log.compactTo({ index: m.index, term: m.term });
    else log.reset({ index: m.index, term: m.term });

    let hs = this.hs;
    if (m.term > hs.term) hs = { term: m.term, vote: '', commit: hs.commit };
    if (hs.commit < m.index) hs = { ...hs, commit: m.index };
    ops.push(
      { type: 'put', key: META_KV_SPACE, value: encode(install.space) },
      { type: 'put', key: META_APPLIED, value: encode(m.index) },
      { type: 'put', key: META_GROUP, value: encode(m.group) },
      { type: 'put', key: META_SNAPSHOT, value: encodeSnapshotMeta(m) },
      { type: 'put', key: META_COMPACTED, value: encodePosition({ index: m.index, term: m.term }) },
      { type: 'put', key: META_HARD_STATE, value: encodeHardState(hs) },
      { type: 'del', key: META_INSTALL },
    );
    if (this.markerGroupId === null) {
      ops.push({ type: 'put', key: META_FORMAT, value: encode({ format: STORAGE_FORMAT_NAME, version: STORAGE_FORMAT_VERSION, groupId: m.group.groupId }) });
    }
    return { meta: m, space: install.space, oldSpace: this.kvSpace, hardState: hs };
  }

  private commitInstall(plan: InstallPlan): void {
    this.kvSpace = plan.space;
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
    this.pendingOps = [];
    this.pendingBytes = 0;
    this.kvOverlay.clear();
    await this.queueTail;
    if (this.pendingClear) await this.pendingClear;
    await this.releaseDb();
  }

  private async releaseDb(): Promise<void> {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    // A shared MemoryBackend stays open so that its data survives for the next open.
    if (this.memory === null || this.ownsMemory) await this.db.close().catch(noop);
    if (this.memory !== null) this.memory.held = false;
  }
}

function checkHardState(next: HardState, prev: HardState): HardState {
  if (typeof next !== 'object' || next === null || !isIndex(next.term) || typeof next.vote !== 'string' || !isIndex(next.commit)) {
    throw new InvalidArgumentError('hardState must be {term, vote, commit} with integer term and commit and a string vote');
  }
  assert(next.term >= prev.term, () => `hard state term went back from ${prev.term} to ${next.term}`);
  assert(
    next.term > prev.term || prev.vote === '' || next.vote === prev.vote,
    () => `hard state vote changed within term ${next.term}: ${prev.vote} then ${next.vote}`,
  );
  return { term: next.term, vote: next.vote, commit: next.commit };
}

function decodeMarker(bytes: Buffer): FormatMarker {
  const raw = unpackOrBad(bytes) as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null || typeof raw.format !== 'string' || !isIndex(raw.version)) {
    throw new BadRecord('format marker is not {format, version, groupId}');
  }
  if (raw.groupId !== null && typeof raw.groupId !== 'string') throw new BadRecord('format marker has a bad groupId');
  return { format: raw.format, version: raw.version, groupId: raw.groupId };
}

/** Refuses a non-empty directory that is not a LevelDB database (and so cannot be ours). */
async function checkDirectory(path: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new ForeignDataDirectoryError(path, 'it is not a directory');
    throw new StorageIoError(path, 'cannot read the data directory', err);
  }
  if (names.length === 0) return;
  if (!names.includes('CURRENT')) {
    const sample = names.slice(0, 3).join(', ');
    throw new ForeignDataDirectoryError(path, `it holds ${names.length} entries (${sample}${names.length > 3 ? ', ...' : ''}) but no LevelDB CURRENT file`);
  }
}

function mapOpenError(path: string, err: unknown): Error {
  const cause = (err as { cause?: { code?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  if (code === 'LEVEL_LOCKED') return new StorageLockedError(path, cause ?? err);
  if (code === 'LEVEL_CORRUPTION') return new StorageCorruptError(path, 'leveldb', null, 'LevelDB reports corruption', cause ?? err);
  return new StorageIoError(path, 'cannot open the database', cause ?? err);
}
