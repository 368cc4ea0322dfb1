// Opening a data directory: reading and checking what it holds (the format marker, the
// hard state and its side file, the log, the KV generation, leases, the watch history)
// and finishing what a crash interrupted. Functions over StorageState (storage-state.ts).
import { GroupMismatchError } from '@conclave/core';
import { decodeGroup, decodeHardState, decodeIndex, decodePosition, decodeSnapshotMeta, encode, unpackOrBad } from './codec.js';
import { decodeMarker, encodeMarker, STORAGE_FORMAT_NAME, STORAGE_FORMAT_OLDEST_READ, STORAGE_FORMAT_VERSION } from './data-directory.js';
import { READ_BATCH_ENTRIES } from './defaults.js';
import { DamagedDataDirectoryError, ForeignDataDirectoryError, StorageFormatError } from './errors.js';
import { HISTORY_RANGE, historyRefsOf, historyRevisionOf, historySizeOf, META_HISTORY_START, META_APPLIED, META_FORMAT, META_GROUP, META_HARD_STATE, META_INSTALL, META_KV_NEXT, META_KV_SPACE, META_SNAPSHOT, META_COMPACTED, isKvSpace, otherKvRanges, type KvSpace } from './keys.js';
import { leaseRange } from './leases.js';
import { WatchHistory } from './history.js';
import { HARD_STATE_FILE, olderThanSideFile, readHardStateFile } from './hard-state-file.js';
import type { StorageDisk } from './disk.js';
import { EMPTY_HARD_STATE } from './log-plan.js';
import { readRecord, readSettings, readWholeLog } from './disk-read.js';
import { TermIndex } from './term-index.js';
import { clearRange, writeRaw, writeSideFile } from './write-queue.js';
import type { StorageState } from './storage-state.js';

export async function boot(s: StorageState, expectedGroupId: string | null): Promise<void> {
  if (s.disk !== null) {
    const reported = await s.disk.damageReported();
    if (reported.length > 0) throw new DamagedDataDirectoryError(s.path, `LevelDB's LOG reports, while opening it: ${reported.join(' | ')}`);
  }
  const marker = await readRecord(s.db, s.path, META_FORMAT, 'format', decodeMarker);
  if (marker === undefined) {
    // No marker: only an empty database (ours, interrupted before its first write) may be initialised.
    const it = s.db.iterator({ limit: 1 });
    const any = await it.nextv(1).finally(() => it.close());
    if (any.length > 0) throw new ForeignDataDirectoryError(s.path, 'a LevelDB database without a conclave format marker');
    // Buffered, with no flush timer: it goes first in the next batch (the group's, or the
    // first Ready's), or at close, saving an fsync; lost in a crash before, the database
    // is empty and is initialised again.
    s.buffer.add([{ type: 'put', key: META_FORMAT, value: encodeMarker(expectedGroupId) }, { type: 'put', key: META_KV_SPACE, value: encode(0) }, { type: 'put', key: META_KV_NEXT, value: encode(1) }, { type: 'put', key: META_HISTORY_START, value: encode(1) }], null);
    s.markerGroupId = expectedGroupId;
    s.bootEntries = [];
    await writeSideFile(s, EMPTY_HARD_STATE);
    return;
  }
  if (marker.format !== STORAGE_FORMAT_NAME) throw new ForeignDataDirectoryError(s.path, `format marker names '${marker.format}'`);
  if (marker.version > STORAGE_FORMAT_VERSION) {
    throw new StorageFormatError(s.path, `storage format version ${marker.version} is newer than this build's ${STORAGE_FORMAT_VERSION}`);
  }
  if (marker.version < STORAGE_FORMAT_OLDEST_READ) {
    throw new StorageFormatError(
      s.path,
      `storage format version ${marker.version} is older than this build's ${STORAGE_FORMAT_VERSION} and is not converted: remove the member, empty the directory and add it back (docs/reliability.md)`,
    );
  }
  if (expectedGroupId !== null && marker.groupId !== null && marker.groupId !== expectedGroupId) {
    throw new GroupMismatchError(`data directory ${s.path} belongs to group '${marker.groupId}', not to the expected group '${expectedGroupId}'`);
  }
  s.markerGroupId = marker.groupId;

  s.hs = (await readRecord(s.db, s.path, META_HARD_STATE, 'hardState', decodeHardState)) ?? EMPTY_HARD_STATE;
  s.groupMeta = (await readRecord(s.db, s.path, META_GROUP, 'group', decodeGroup)) ?? null;
  s.appliedIndex = (await readRecord(s.db, s.path, META_APPLIED, 'applied', decodeIndex)) ?? 0;
  s.snapshotMeta = (await readRecord(s.db, s.path, META_SNAPSHOT, 'snapshot', decodeSnapshotMeta)) ?? null;
  const compacted = (await readRecord(s.db, s.path, META_COMPACTED, 'compacted', decodePosition)) ?? { index: 0, term: 0 };
  const space = await readRecord(s.db, s.path, META_KV_SPACE, 'kvSpace', unpackOrBad);
  if (!isKvSpace(space)) throw s.corrupt('kvSpace', null, `active KV generation is ${JSON.stringify(space)}, not an integer in [0, 2^32-2]`);
  s.kvSpace = space;
  const next = (await readRecord(s.db, s.path, META_KV_NEXT, 'kvSpace', unpackOrBad)) ?? 0;
  if (!isKvSpace(next)) throw s.corrupt('kvSpace', null, `next KV generation is ${JSON.stringify(next)}, not an integer in [0, 2^32-2]`);
  const interrupted = await readRecord(s.db, s.path, META_INSTALL, 'install', unpackOrBad);
  const staged = (interrupted as { space?: unknown } | undefined)?.space;
  // Never hand out a generation that may hold keys: not the active one, nor an interrupted install's.
  s.kvNext = Math.max(next, space + 1, isKvSpace(staged) ? staged + 1 : 0);
  s.settingsValue = await readSettings(s.db, s.path);
  await loadHistory(s);
  await loadLeases(s);

  if (s.groupMeta && s.markerGroupId !== null && s.groupMeta.groupId !== s.markerGroupId) {
    throw s.corrupt('group', null, `group metadata is for '${s.groupMeta.groupId}' but the format marker says '${s.markerGroupId}'`);
  }
  if (s.snapshotMeta && s.snapshotMeta.index > s.appliedIndex) {
    throw s.corrupt('snapshot', null, `snapshot index ${s.snapshotMeta.index} is beyond the applied index ${s.appliedIndex}`);
  }

  s.terms = new TermIndex(compacted);
  s.bootEntries = await readWholeLog(s.db, s.path, s.terms, (index, bytes) => s.logSizes.set(index, bytes));
  s.appliedBytesSinceSnapshot = s.logSizes.bytesBetween(Math.max(s.snapshotMeta?.index ?? 0, compacted.index), s.appliedIndex);

  const last = s.terms.lastIndex;
  if (s.hs.commit > last) throw s.corrupt('hardState', null, `commit ${s.hs.commit} is beyond the last log index ${last}`);
  if (s.hs.term < s.terms.lastTerm) throw s.corrupt('hardState', null, `term ${s.hs.term} is below the last log term ${s.terms.lastTerm}`);
  if (s.appliedIndex > last || s.appliedIndex < compacted.index) {
    throw s.corrupt('applied', null, `applied index ${s.appliedIndex} is outside the log [${compacted.index}, ${last}]`);
  }
  if (s.disk !== null) await checkSideFile(s, s.disk);

  // Finish what a crash interrupted: a staged install is dropped, and the other KV
  // generations (staging leftovers, or the old state after a switch) are cleared.
  for (const range of otherKvRanges(s.kvSpace)) await clearRange(s, range);
  if (interrupted !== undefined) await writeRaw(s, [{ type: 'del', key: META_INSTALL }], true);
  // Raised before anything of the newer version is written, so an older build refuses the
  // directory by its marker rather than taking a history reference for damage.
  if ((expectedGroupId !== null && s.markerGroupId === null) || marker.version < STORAGE_FORMAT_VERSION) {
    s.markerGroupId ??= expectedGroupId;
    await writeRaw(s, [{ type: 'put', key: META_FORMAT, value: encodeMarker(s.markerGroupId) }], true);
  }
}

/** The lease table of the active generation (leases.ts), read whole: bounded by MAX_LEASES and MAX_LEASE_KEYS. */
export async function loadLeases(s: StorageState): Promise<void> {
  loadLeaseTable(s, await readLeaseRecords(s, s.kvSpace));
}

/** The lease records of generation `space`, read whole. */
export async function readLeaseRecords(s: StorageState, space: KvSpace): Promise<[Buffer, Buffer][]> {
  const it = s.db.iterator(leaseRange(space));
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

export function loadLeaseTable(s: StorageState, pairs: [Buffer, Buffer][]): void {
  try {
    s.leaseTable.load(pairs, `the lease records of ${s.path}`);
  } catch (err) {
    throw s.corrupt('kv', null, (err as Error).message, err);
  }
}

/**
 * The watch history's start and the sizes of its records. A directory from before the
 * history existed has none: its history starts after what it has applied.
 */
export async function loadHistory(s: StorageState): Promise<void> {
  const start = (await readRecord(s.db, s.path, META_HISTORY_START, 'history', decodeIndex)) ?? s.appliedIndex + 1;
  s.history = new WatchHistory(start, s.history.retainRevisions, s.history.retainBytes);
  // Keys only: each carries its record's size (keys.ts), and the records, which hold whole
  // values, are not read at open (test/memory/boot-rss). A damaged record shows when read.
  const it = s.db.iterator({ ...HISTORY_RANGE, values: false });
  const found: { revision: number; sizeBytes: number; refs: number[] | null }[] = [];
  try {
    for (let batch = await it.nextv(READ_BATCH_ENTRIES); batch.length > 0; batch = await it.nextv(READ_BATCH_ENTRIES)) {
      for (const [k] of batch) {
        const revision = historyRevisionOf(k);
        if (revision < 0) throw s.corrupt('history', null, `malformed watch history key ${k.toString('hex')}`);
        found.push({ revision, sizeBytes: historySizeOf(k), refs: historyRefsOf(k) });
      }
    }
  } finally {
    await it.close();
  }
  s.history.loadAll(found, s.appliedIndex);
}

/** Refuses a LevelDB hard state older than the side file's; creates the side file of a directory that never had a hard state. */
export async function checkSideFile(s: StorageState, disk: StorageDisk): Promise<void> {
  const side = await readHardStateFile(disk, s.path);
  if (side === null) {
    const empty = s.hs.term === 0 && s.hs.vote === '' && s.hs.commit === 0;
    // Interrupted between the first batch and the side file: nothing was ever voted.
    if (empty) return writeSideFile(s, s.hs);
    throw new DamagedDataDirectoryError(s.path, `the hard state side file ${HARD_STATE_FILE} is missing, while LevelDB holds term ${s.hs.term}`);
  }
  const older = olderThanSideFile(s.hs, side);
  if (older !== null) throw new DamagedDataDirectoryError(s.path, `${older}: the disk lost writes it had made durable, or LevelDB dropped a damaged record`);
}
