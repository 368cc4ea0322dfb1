// NodeStorage: one node's durable state in one LevelDB (or memory-level) database:
// the Raft log, hard state, group metadata, local settings, the KV state machine, the
// applied index and snapshot metadata. Key layout: keys.ts. Encodings: codec.ts.
//
// Concurrency: every write (and every read that must agree with the in-memory indexes)
// runs through one FIFO queue, so batches reach LevelDB in call order (classic-level runs
// them on the libuv pool, where two unawaited batches could otherwise swap) and the
// in-memory state (firstIndex, lastIndex, terms, applied) changes only after its batch
// succeeded. A failed write makes the storage fail-stop.
//
// The class composes the parts, each a set of functions over StorageState (storage-state.ts):
// write-queue.ts (the queue, sync policies, the side file, fail-stop), storage-open.ts (reading
// and checking a directory at open), storage-log.ts (log, hard state, group, settings),
// kv-apply-batch.ts (applying committed entries), kv-read.ts (views, get, scan, the watch
// history) and storage-snapshots.ts (recording, streaming and installing snapshots).
import { resolve as resolvePath } from 'node:path';
import { InvalidArgumentError } from '@conclave/core';
import type { Entry, GroupMetadata, HardState, SnapshotMeta } from '@conclave/core';
import type { LogPosition } from './codec.js';
import { mapOpenError } from './data-directory.js';
import { DEFAULT_WRITE_BUFFER_BYTES, MAX_WRITE_BUFFER_BYTES } from './defaults.js';
import { StorageLockedError } from './errors.js';
import type { LeaseRecord } from './leases.js';
import type { KeyMeta } from './kv-record.js';
import type { HistoryRecord } from './history.js';
import { KvView } from './kv-view.js';
import { levelDisk, type StorageDisk } from './disk.js';
import { MemoryBackend, type RawDb } from './raw-db.js';
import { SnapshotStream } from './snapshot-stream.js';
import type { ApplyResult, LoadedState, LocalSettings, NodeStorageOptions, ReadyWrite, ScanOptions } from './storage-types.js';
import { SYNC_POLICIES, type SyncPolicy } from './sync-policy.js';
import { enqueue, flush, flushBuffered, noop, sync } from './write-queue.js';
import { boot } from './storage-open.js';
import { compact, initializeGroup, logEntries, setSettings, writeReady } from './storage-log.js';
import { applyEntries } from './kv-apply-batch.js';
import { get, getWithMeta, scan, view, viewAt } from './kv-read.js';
import { readHistory } from './history-read.js';
import { abortInstall, beginInstall, finishInstall, installChunk, maybeSnapshot, openSnapshot, recordSnapshot } from './storage-snapshots.js';
import { positiveInt, StorageState } from './storage-state.js';

export class NodeStorage {
  readonly path: string;
  readonly syncPolicy: SyncPolicy;
  readonly snapshotIntervalEntries: number;
  readonly entriesKeptAfterSnapshot: number;
  readonly snapshotIntervalBytes: number;
  readonly bytesKeptAfterSnapshot: number;

  /** Everything this storage knows; the modules that implement its parts work on it. */
  private readonly s: StorageState;

  private constructor(path: string, db: RawDb, disk: StorageDisk | null, memory: MemoryBackend | null, ownsMemory: boolean, options: NodeStorageOptions) {
    this.s = new StorageState(path, db, disk, memory, ownsMemory, options);
    this.path = this.s.path;
    this.syncPolicy = this.s.syncPolicy;
    this.snapshotIntervalEntries = this.s.snapshotIntervalEntries;
    this.entriesKeptAfterSnapshot = this.s.entriesKeptAfterSnapshot;
    this.snapshotIntervalBytes = this.s.snapshotIntervalBytes;
    this.bytesKeptAfterSnapshot = this.s.bytesKeptAfterSnapshot;
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
      await boot(storage.s, options.groupId ?? null);
    } catch (err) {
      storage.s.state = 'closed';
      await storage.releaseDb();
      // LevelDB's own errors from the first reads (a damaged table file) name no directory: say which.
      const code = (err as { code?: unknown }).code;
      throw typeof code === 'string' && code.startsWith('LEVEL_') ? mapOpenError(storage.path, err) : err;
    }
    return storage;
  }

  // ---------------------------------------------------------------- state getters

  get hardState(): HardState {
    return this.s.hs;
  }
  get group(): GroupMetadata | null {
    return this.s.groupMeta;
  }
  /** The group id stored in the format marker, or null before the node knows its group. */
  get groupId(): string | null {
    return this.s.markerGroupId;
  }
  get applied(): number {
    return this.s.appliedIndex;
  }
  get snapshot(): SnapshotMeta | null {
    return this.s.snapshotMeta;
  }
  get compacted(): LogPosition {
    return this.s.terms.compacted;
  }
  get firstIndex(): number {
    return this.s.terms.firstIndex;
  }
  get lastIndex(): number {
    return this.s.terms.lastIndex;
  }
  get lastTerm(): number {
    return this.s.terms.lastTerm;
  }
  get settings(): LocalSettings {
    return this.s.settingsValue;
  }
  /** True while a snapshot install is staged (beginInstall called, not yet finished or aborted). */
  get installing(): boolean {
    return this.s.install !== null;
  }

  /** The staged install: its key (from beginInstall), its snapshot, and whether its last chunk arrived. */
  get stagedInstall(): { readonly key: number; readonly meta: SnapshotMeta; readonly complete: boolean } | null {
    const i = this.s.install;
    return i ? { key: i.key, meta: i.meta, complete: i.lastSeen } : null;
  }

  /** Term of entry i (the compaction point included); null if compacted or beyond lastIndex. */
  term(i: number): number | null {
    return this.s.terms.term(i);
  }

  // ---------------------------------------------------------------- boot

  /** Everything a driver needs at boot. The first call returns the log read at open. */
  async load(): Promise<LoadedState> {
    let entries = this.s.bootEntries;
    this.s.bootEntries = null;
    if (entries === null) {
      entries = this.s.terms.lastIndex >= this.s.terms.firstIndex ? await this.entries(this.s.terms.firstIndex, this.s.terms.lastIndex + 1) : [];
    }
    return {
      hardState: this.s.hs,
      group: this.s.groupMeta,
      snapshot: this.s.snapshotMeta,
      applied: this.s.appliedIndex,
      compacted: this.s.terms.compacted,
      firstIndex: this.s.terms.firstIndex,
      lastIndex: this.s.terms.lastIndex,
      entries,
      settings: this.s.settingsValue,
    };
  }

  /** The leases alive in the applied state, with their attached keys (a sorted copy). */
  leases(): { id: number; ttlMs: number; keys: string[] }[] {
    return this.s.leaseTable.all().map((l: LeaseRecord) => ({ id: l.id, ttlMs: l.ttlMs, keys: [...l.keys].sort() }));
  }

  /** The id and TTL of every lease alive in the applied state (no keys: cheap enough to poll). */
  leaseTtls(): { id: number; ttlMs: number }[] {
    return this.s.leaseTable.all().map((l) => ({ id: l.id, ttlMs: l.ttlMs }));
  }

  /** Whether lease `id` is alive in the applied state, and its TTL. */
  lease(id: number): { id: number; ttlMs: number; keyCount: number } | null {
    const l = this.s.leaseTable.get(id);
    return l ? { id: l.id, ttlMs: l.ttlMs, keyCount: l.keys.size } : null;
  }

  // ---------------------------------------------------------------- queue, writes, fail-stop

  /**
   * Makes everything written so far durable (fdatasync'ed), whatever the sync policy: a
   * per-write localSync. Buffered batches go first, in the same synced batch.
   */
  sync(): Promise<void> {
    return sync(this.s);
  }

  /** Writes any noSync-buffered batches to the OS now. A no-op for the other policies. */
  flush(): Promise<void> {
    return flush(this.s);
  }

  // ---------------------------------------------------------------- log

  /**
   * Persists one Ready in ONE batch: the snapshot switch (if any, see beginInstall), then
   * the entries (replacing the log from entries[0].index on), then the hard state.
   * Resolves when the batch is as durable as the sync policy promises.
   */
  writeReady(ready: ReadyWrite): Promise<void> {
    return writeReady(this.s, ready);
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
  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Promise<Entry[]> {
    return logEntries(this.s, lo, hi, maxBytes);
  }

  /** Compacts the log up to and including `index`, which must be applied. */
  compact(index: number): Promise<void> {
    return compact(this.s, index);
  }

  // ---------------------------------------------------------------- group and settings

  /**
   * Stores the initial group metadata of a bootstrapped node. Refuses if the node already
   * has a group. `sync: false` when a synced write follows at once (it goes first in that
   * batch) and losing it to a crash leaves a directory to initialise again.
   */
  initializeGroup(group: GroupMetadata, options: { sync?: boolean } = {}): Promise<void> {
    return initializeGroup(this.s, group, options);
  }

  /** Changes local settings (always fsync'ed: an operator expects them to survive a power cut). */
  setSettings(patch: Partial<LocalSettings>): Promise<LocalSettings> {
    return setSettings(this.s, patch);
  }

  // ---------------------------------------------------------------- KV state machine

  /**
   * Applies committed entries, which must continue the applied index, and writes their
   * effects and the new applied index in ONE batch (crash-consistent apply). An entry
   * whose command or conf change is invalid is applied as a no-op with `error` set, so
   * every replica makes the same decision and the node never wedges on it.
   */
  applyEntries(entries: readonly Entry[]): Promise<ApplyResult[]> {
    return applyEntries(this.s, entries);
  }

  /**
   * A consistent view of the KV state machine as applied now, taken synchronously: nothing
   * applied later shows in it (a LevelDB snapshot under the deferred writes queued now).
   * close() it when done; closing the storage releases it too.
   */
  view(): KvView {
    return view(this.s);
  }

  /**
   * The KV state at `index` (applied, and at or after `base`): `base` with the entries
   * after it replayed in memory (kv-replay.ts), so that a read point between two applies
   * gets exactly its state. Null when it cannot be built: not applied, too many entries,
   * compacted, or an install replaced the state since `base`. The view returned shares
   * base's snapshot.
   */
  viewAt(base: KvView, index: number): Promise<KvView | null> {
    return viewAt(this.s, base, index);
  }

  /** The value of `key` in the state machine, or undefined. Reads at least everything applied before the call. */
  get(key: string): Promise<unknown> {
    return get(this.s, key);
  }

  /** The value of `key` with its revisions (kv-record.ts), or undefined. */
  getWithMeta(key: string): Promise<({ value: unknown } & KeyMeta) | undefined> {
    return getWithMeta(this.s, key);
  }

  /** [key, value] pairs in UTF-8 byte order of the keys, from a consistent view taken when iteration starts. */
  scan(options: ScanOptions = {}): AsyncGenerator<[string, unknown], void, undefined> {
    return scan(this.s, options);
  }

  // ---------------------------------------------------------------- watch history

  /** The first revision whose changes the history holds whole. */
  get historyStart(): number {
    return this.s.history.start;
  }

  /** Retained history records, those kept below the start for a previous value, and their bytes: for status and tests. */
  get historySize(): { records: number; lingeringRecords: number; sizeBytes: number } {
    return { records: this.s.history.count, lingeringRecords: this.s.history.lingeringRecords, sizeBytes: this.s.history.sizeBytes };
  }

  /**
   * The changes of revisions `from` onwards, up to about `maxBytes` of records (at least one).
   * `upTo`: every revision up to it was read (the applied index when the read reached the
   * end). `compacted`: `from` is older than the history's start (then nothing is read).
   */
  readHistory(from: number, maxBytes: number): Promise<{ records: HistoryRecord[]; upTo: number; start: number; compacted: boolean }> {
    return readHistory(this.s, from, maxBytes);
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * Records a snapshot when `snapshotIntervalEntries` entries or `snapshotIntervalBytes`
   * bytes of log were applied since the last one; then compacts.
   */
  maybeSnapshot(): Promise<SnapshotMeta | null> {
    return maybeSnapshot(this.s);
  }

  /** Records a snapshot at the applied index now, then compacts the log behind it. */
  recordSnapshot(): Promise<SnapshotMeta> {
    return recordSnapshot(this.s);
  }

  /**
   * A snapshot of the KV state machine at the current applied index, read from a LevelDB
   * snapshot (an iterator's implicit one) so that later writes do not show. Iterate it
   * once; close() it if you stop early without breaking out of a for-await.
   */
  openSnapshot(): Promise<SnapshotStream> {
    return openSnapshot(this.s);
  }

  /**
   * Starts installing a snapshot received from the leader: takes a fresh KV generation and
   * records the install. A staged install that was not finished is replaced. `rollback`
   * (JE hard recovery) lets the snapshot replace committed state, at or below `applied`.
   * Resolves with the install's key: pass it to installChunk and abortInstall, so that the
   * chunks of a stream that was replaced meanwhile never land in another stream's install.
   */
  beginInstall(meta: SnapshotMeta, opts: { rollback?: boolean } = {}): Promise<number> {
    return beginInstall(this.s, meta, opts);
  }

  /**
   * Writes one chunk (from SnapshotStream) into the staging space. Chunks must come in order.
   * With `key`, the chunk belongs to that install only: InstallSupersededError if another began since.
   */
  installChunk(chunk: Uint8Array, key?: number): Promise<void> {
    return installChunk(this.s, chunk, key);
  }

  /** Switches to the staged snapshot in ONE batch (see planInstallSwitch). */
  finishInstall(): Promise<SnapshotMeta> {
    return finishInstall(this.s);
  }

  /** Drops a staged install (with `key`: only that one, if still staged); the current state is untouched. */
  abortInstall(key?: number): Promise<void> {
    return abortInstall(this.s, key);
  }

  // ---------------------------------------------------------------- close

  /** Flushes buffered writes, waits for queued ones, and closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.s.state !== 'open') return;
    const flushed = enqueue(this.s, () => flushBuffered(this.s));
    this.s.state = 'closing';
    await flushed.catch(noop);
    await this.s.queueTail;
    if (this.s.pendingClear) await this.s.pendingClear;
    this.s.state = 'closed';
    await this.releaseDb();
  }

  /**
   * Simulates a process crash (kill -9) for tests and the simulation: noSync-buffered
   * batches are dropped, nothing else is written, and the database is released so it can
   * be reopened. Batches already handed to LevelDB may still land, as they would in a crash.
   */
  async crash(): Promise<void> {
    if (this.s.state === 'closed') return;
    this.s.state = 'closed';
    this.s.buffer.discard();
    await this.s.queueTail;
    if (this.s.pendingClear) await this.s.pendingClear;
    await this.releaseDb();
  }

  private async releaseDb(): Promise<void> {
    if (this.s.flushTimer !== null) {
      this.s.timers.clearTimeout(this.s.flushTimer);
      this.s.flushTimer = null;
    }
    // A shared MemoryBackend stays open so that its data survives for the next open.
    if (this.s.memory === null || this.s.ownsMemory) await this.s.db.close().catch(noop);
    if (this.s.memory !== null) this.s.memory.held = false;
  }
}
