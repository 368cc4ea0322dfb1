// Snapshots: recording one and streaming it out, and installing one received from the
// leader (staged in a fresh KV generation, then switched to in one batch; the plan is
// snapshot-install.ts's). Functions over StorageState (storage-state.ts).
import { assert, GroupMismatchError, InvalidArgumentError } from '@conclave/core';
import type { HardState, SnapshotMeta } from '@conclave/core';
import { checkSnapshotMeta, encode, encodeSnapshotMeta } from './codec.js';
import { InstallSupersededError } from './errors.js';
import { kvKey, kvPrefix, kvRange, META_INSTALL, META_KV_NEXT, META_SNAPSHOT, MAX_KV_GENERATION, type KvSpace } from './keys.js';
import type { HistoryPlan } from './history.js';
import { checkLogInvariants, planCompaction } from './log-plan.js';
import type { BatchOp } from './raw-db.js';
import { planInstallSwitch, type InstallPlan } from './snapshot-install.js';
import { SnapshotStream } from './snapshot-stream.js';
import { decodeChunk } from './snapshot-chunk.js';
import { clearRange, enqueue, flushBuffered, noop, writeDirect, writePolicy, writeWithHardState } from './write-queue.js';
import { loadLeaseTable, readLeaseRecords } from './storage-open.js';
import type { StorageState } from './storage-state.js';

export async function maybeSnapshot(s: StorageState): Promise<SnapshotMeta | null> {
  return enqueue(s, async () => {
    const since = s.appliedIndex - (s.snapshotMeta?.index ?? 0);
    const due = since >= s.snapshotIntervalEntries || (since > 0 && s.appliedBytesSinceSnapshot >= s.snapshotIntervalBytes);
    if (!due || s.groupMeta === null) return null;
    return recordSnapshotLocked(s);
  });
}

export async function recordSnapshot(s: StorageState): Promise<SnapshotMeta> {
  return enqueue(s, async () => recordSnapshotLocked(s));
}

export async function recordSnapshotLocked(s: StorageState): Promise<SnapshotMeta> {
  if (s.groupMeta === null) throw new InvalidArgumentError('cannot snapshot a node without group metadata');
  const term = s.terms.term(s.appliedIndex);
  assert(term !== null, () => `no term for applied index ${s.appliedIndex}`);
  // The KV space itself is the snapshot's data: LevelDB holds the state at `applied`,
  // so recording a snapshot only records its meta; openSnapshot() streams the data.
  const meta: SnapshotMeta = { index: s.appliedIndex, term, group: s.groupMeta };
  const ops: BatchOp[] = [{ type: 'put', key: META_SNAPSHOT, value: encodeSnapshotMeta(meta) }];
  const log = s.terms.clone();
  // Keep at most entriesKeptAfterSnapshot entries and bytesKeptAfterSnapshot bytes behind it.
  const byBytes = s.logSizes.keepWithin(meta.index, s.bytesKeptAfterSnapshot, log.compacted.index);
  const compactTo = Math.max(meta.index - s.entriesKeptAfterSnapshot, byBytes);
  if (compactTo > log.compacted.index) planCompaction(compactTo, ops, log);
  await writePolicy(s, ops, null);
  s.logSizes.track(ops);
  s.appliedBytesSinceSnapshot = 0;
  s.snapshotMeta = meta;
  s.terms = log;
  return meta;
}

export async function openSnapshot(s: StorageState): Promise<SnapshotStream> {
  return enqueue(s, async () => {
    await flushBuffered(s);
    if (s.groupMeta === null) throw new InvalidArgumentError('cannot snapshot a node without group metadata');
    const term = s.terms.term(s.appliedIndex);
    assert(term !== null, () => `no term for applied index ${s.appliedIndex}`);
    const meta: SnapshotMeta = { index: s.appliedIndex, term, group: s.groupMeta };
    // Created in the queue, with nothing in flight: the iterator sees exactly `applied`.
    return new SnapshotStream(meta, s.db.iterator(kvRange(s.kvSpace)), s.snapshotChunkMaxBytes);
  });
}

export async function beginInstall(s: StorageState, meta: SnapshotMeta, opts: { rollback?: boolean } = {}): Promise<number> {
  return enqueue(s, async () => {
    let checked: SnapshotMeta;
    try {
      checked = checkSnapshotMeta(meta);
    } catch (err) {
      throw new InvalidArgumentError(`snapshot meta: ${(err as Error).message}`);
    }
    checkSnapshotGroup(s, checked);
    const rollback = opts.rollback === true;
    if (checked.index <= s.appliedIndex && !rollback) {
      throw new InvalidArgumentError(`snapshot at index ${checked.index} is not beyond the applied index ${s.appliedIndex}`);
    }
    await flushBuffered(s);
    if (s.pendingClear) await s.pendingClear;
    // A generation never used before, so it holds no keys (see keys.ts). The counter is
    // fsynced before anything is staged in it, whatever the sync policy.
    const space = s.kvNext;
    assert(space <= MAX_KV_GENERATION, () => `KV generations exhausted (${space})`);
    if (s.install) await clearRange(s, kvRange(s.install.space));
    s.install = null;
    await writeDirect(s,
      [
        { type: 'put', key: META_KV_NEXT, value: encode(space + 1) },
        { type: 'put', key: META_INSTALL, value: encode({ space, index: checked.index, term: checked.term }) },
      ],
      true,
    );
    s.kvNext = space + 1;
    const key = ++s.lastInstallKey;
    s.install = { key, meta: checked, space, rollback, nextSeq: 0, lastSeen: false, pairs: 0 };
    return key;
  });
}

export async function installChunk(s: StorageState, chunk: Uint8Array, key?: number): Promise<void> {
  return enqueue(s, async () => {
    const install = s.install;
    if (key !== undefined && install?.key !== key) throw new InstallSupersededError(s.path, key, install?.key ?? null);
    if (!install) throw new InvalidArgumentError('installChunk without beginInstall');
    const decoded = decodeChunk(chunk);
    if (install.lastSeen) throw new InvalidArgumentError(`snapshot chunk ${decoded.seq} arrived after the last chunk`);
    if (decoded.seq !== install.nextSeq) throw new InvalidArgumentError(`snapshot chunk ${decoded.seq} arrived, expected chunk ${install.nextSeq}`);
    // A lease record travels as its key bytes after the KV prefix (leases.ts).
    const ops: BatchOp[] = decoded.pairs.map(([key, value]) => ({ type: 'put', key: typeof key === 'string' ? kvKey(install.space, key) : Buffer.concat([kvPrefix(install.space), key]), value: Buffer.from(value) }));
    if (ops.length > 0) await writeDirect(s, ops);
    install.nextSeq++;
    install.pairs += ops.length;
    install.lastSeen = decoded.last;
  });
}

export async function finishInstall(s: StorageState): Promise<SnapshotMeta> {
  return enqueue(s, async () => {
    if (!s.install) throw new InvalidArgumentError('finishInstall without beginInstall');
    const ops: BatchOp[] = [];
    const log = s.terms.clone();
    const plan = planInstallSwitch(s.install, s.install.meta, installContext(s), ops, log);
    const historyPlan = s.history.planReset(plan.meta.index, ops);
    checkLogInvariants(plan.hardState, plan.meta.index, log);
    const leaseRecords = await readLeaseRecords(s, plan.space);
    await writeWithHardState(s, ops, plan.hardState);
    s.logSizes.track(ops);
    s.terms = log;
    s.hs = plan.hardState;
    commitInstall(s, plan, historyPlan, leaseRecords);
    return plan.meta;
  });
}

export async function abortInstall(s: StorageState, key?: number): Promise<void> {
  return enqueue(s, async () => {
    if (!s.install || (key !== undefined && s.install.key !== key)) return;
    const space = s.install.space;
    s.install = null;
    await writeDirect(s, [{ type: 'del', key: META_INSTALL }]);
    await clearRange(s, kvRange(space));
  });
}

export function checkSnapshotGroup(s: StorageState, meta: SnapshotMeta): void {
  if (s.markerGroupId !== null && meta.group.groupId !== s.markerGroupId) {
    throw new GroupMismatchError(`snapshot of group '${meta.group.groupId}' cannot be installed in data directory ${s.path} of group '${s.markerGroupId}'`);
  }
}

export function installContext(s: StorageState): { hardState: HardState; kvSpace: KvSpace; markerGroupId: string | null } {
  return { hardState: s.hs, kvSpace: s.kvSpace, markerGroupId: s.markerGroupId };
}

/** Switches the state in memory to the installed snapshot: its KV generation, and its lease table (read from that generation). */
export function commitInstall(s: StorageState, plan: InstallPlan, historyPlan: HistoryPlan, leaseRecords: [Buffer, Buffer][]): void {
  s.history.commit(historyPlan);
  s.appliedBytesSinceSnapshot = 0;
  s.kvSpace = plan.space;
  loadLeaseTable(s, leaseRecords);
  s.appliedIndex = plan.meta.index;
  s.groupMeta = plan.meta.group;
  s.markerGroupId ??= plan.meta.group.groupId;
  s.snapshotMeta = plan.meta;
  s.install = null;
  // The old space is garbage now; clear it in the background (open() clears it too if we crash first).
  s.pendingClear = clearRange(s, kvRange(plan.oldSpace)).then(
    () => {
      s.pendingClear = null;
    },
    noop,
  );
}
