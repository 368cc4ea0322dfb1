// The Raft log and hard state (one Ready in one batch), reading and compacting the log,
// the group metadata and local settings. Functions over StorageState (storage-state.ts).
import { GroupMismatchError, InvalidArgumentError, validateGroup } from '@conclave/core';
import type { Entry, GroupMetadata } from '@conclave/core';
import { encode, encodeHardState, isIndex } from './codec.js';
import { encodeMarker } from './data-directory.js';
import { LogCompactedError } from './errors.js';
import { logKey, META_FORMAT, META_GROUP, META_HARD_STATE, settingKey } from './keys.js';
import type { HistoryPlan } from './history.js';
import { checkHardState, checkLogInvariants, planAppend, planCompaction } from './log-plan.js';
import { readLogRange } from './disk-read.js';
import type { BatchOp } from './raw-db.js';
import { planInstallSwitch, type InstallPlan } from './snapshot-install.js';
import { type LocalSettings, overrideSpanProblem, type ReadyWrite } from './storage-types.js';
import { buffered, enqueue, flushBuffered, hardStateFileChanges, writeDirect, writePolicy, writeWithHardState } from './write-queue.js';
import { commitInstall, installContext } from './storage-snapshots.js';
import { readLeaseRecords } from './storage-open.js';
import type { StorageState } from './storage-state.js';

export async function writeReady(s: StorageState, ready: ReadyWrite): Promise<void> {
  return enqueue(s, async () => {
    const ops: BatchOp[] = [];
    const log = s.terms.clone();
    let hs = s.hs;
    let applied = s.appliedIndex;
    let plan: InstallPlan | null = null;
    let historyPlan: HistoryPlan | null = null;
    if (ready.snapshot) {
      plan = planInstallSwitch(s.install, ready.snapshot, installContext(s), ops, log);
      historyPlan = s.history.planReset(plan.meta.index, ops);
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
    const commitOnly = !plan && !(ready.entries && ready.entries.length > 0) && hs.term === s.hs.term && hs.vote === s.hs.vote;
    // The snapshot's lease table, read from its staged generation before the switch, so
    // that the switch replaces the table in memory with the KV state at once.
    const leaseRecords = plan ? await readLeaseRecords(s, plan.space) : null;
    if (plan || hardStateFileChanges(s, hs)) await writeWithHardState(s, ops, hs);
    else await writePolicy(s, ops, null, commitOnly ? 'commit' : 'log');
    s.logSizes.track(ops);
    s.terms = log;
    s.hs = hs;
    if (plan) commitInstall(s, plan, historyPlan!, leaseRecords!);
  });
}

export async function logEntries(s: StorageState, lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Promise<Entry[]> {
  if (!isIndex(lo) || !isIndex(hi) || lo > hi) throw new InvalidArgumentError(`bad log range [${lo}, ${hi})`);
  if (!(maxBytes >= 0)) throw new InvalidArgumentError(`maxBytes must be >= 0 (got ${maxBytes})`);
  const it = await enqueue(s, async () => {
    await flushBuffered(s);
    if (lo <= s.terms.compacted.index) throw new LogCompactedError(lo, s.terms.compacted.index);
    if (hi > s.terms.lastIndex + 1) throw new InvalidArgumentError(`log range [${lo}, ${hi}) goes beyond the last index ${s.terms.lastIndex}`);
    if (lo === hi) return null;
    // Created inside the queue: its implicit snapshot matches the in-memory indexes.
    return s.db.iterator({ gte: logKey(lo), lt: logKey(hi) });
  });
  if (it === null) return [];
  return readLogRange(it, s.path, lo, hi, maxBytes);
}

export async function compact(s: StorageState, index: number): Promise<void> {
  return enqueue(s, async () => {
    if (!isIndex(index)) throw new InvalidArgumentError(`compaction index must be an integer >= 0 (got ${index})`);
    if (index > s.appliedIndex) throw new InvalidArgumentError(`cannot compact to ${index}: only ${s.appliedIndex} is applied`);
    if (index <= s.terms.compacted.index) return;
    const ops: BatchOp[] = [];
    const log = s.terms.clone();
    planCompaction(index, ops, log);
    await writePolicy(s, ops, null);
    s.logSizes.track(ops);
    s.terms = log;
  });
}

export async function initializeGroup(s: StorageState, group: GroupMetadata, options: { sync?: boolean } = {}): Promise<void> {
  return enqueue(s, async () => {
    validateGroup(group);
    if (s.markerGroupId !== null && s.markerGroupId !== group.groupId) {
      throw new GroupMismatchError(`data directory ${s.path} belongs to group '${s.markerGroupId}', not to '${group.groupId}'`);
    }
    if (s.groupMeta !== null) throw new InvalidArgumentError(`data directory ${s.path} already has group metadata for '${s.groupMeta.groupId}'`);
    const ops: BatchOp[] = [
      { type: 'put', key: META_GROUP, value: encode(group) },
      { type: 'put', key: META_FORMAT, value: encodeMarker(group.groupId) },
    ];
    // Unsynced, it waits in the buffer for the synced write that follows (see writePolicy).
    if (options.sync === false) await buffered(s, ops, null);
    else await writeDirect(s, ops, true);
    s.groupMeta = group;
    s.markerGroupId = group.groupId;
  });
}

export async function setSettings(s: StorageState, patch: Partial<LocalSettings>): Promise<LocalSettings> {
  return enqueue(s, async () => {
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
    if (ops.length > 0) await writeDirect(s, ops, true);
    s.settingsValue = { ...s.settingsValue, ...patch };
    return s.settingsValue;
  });
}
