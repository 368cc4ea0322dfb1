// A snapshot install: the state of one staged in a fresh KV generation, and the ONE batch
// that switches to it.
import { InvalidArgumentError } from '@conclave/core';
import type { HardState, SnapshotMeta } from '@conclave/core';
import { encode, encodeHardState, encodePosition, encodeSnapshotMeta } from './codec.js';
import { encodeMarker } from './data-directory.js';
import {
  logKey,
  META_APPLIED,
  META_COMPACTED,
  META_FORMAT,
  META_GROUP,
  META_HARD_STATE,
  META_INSTALL,
  META_KV_SPACE,
  META_SNAPSHOT,
  type KvSpace,
} from './keys.js';
import type { BatchOp } from './raw-db.js';
import type { TermIndex } from './term-index.js';

export interface InstallState {
  /** Names the stream this install stages (beginInstall's answer): chunks of another stream are refused. */
  readonly key: number;
  readonly meta: SnapshotMeta;
  readonly space: KvSpace;
  /** JE hard recovery: the snapshot replaces committed state, so the whole log and the commit go. */
  readonly rollback: boolean;
  nextSeq: number;
  lastSeen: boolean;
  pairs: number;
}

export interface InstallPlan {
  readonly meta: SnapshotMeta;
  readonly space: KvSpace;
  readonly oldSpace: KvSpace;
  readonly hardState: HardState;
}

/**
 * The atomic switch. One batch moves the active KV generation to the staged one and sets the
 * applied index, group metadata, snapshot meta, compaction point and hard state, and
 * resets the log: entries up to the snapshot go; later entries stay only if the log
 * holds the snapshot's (index, term). A crash before the batch leaves the old state (the
 * staged generation is cleared on open); after it, the new one.
 */
export function planInstallSwitch(
  install: InstallState | null,
  meta: SnapshotMeta,
  current: { readonly hardState: HardState; readonly kvSpace: KvSpace; readonly markerGroupId: string | null },
  ops: BatchOp[],
  log: TermIndex,
): InstallPlan {
  if (!install) throw new InvalidArgumentError('a snapshot was given but none is staged (call beginInstall and installChunk first)');
  if (install.meta.index !== meta.index || install.meta.term !== meta.term) {
    throw new InvalidArgumentError(`snapshot (${meta.index}, ${meta.term}) differs from the staged one (${install.meta.index}, ${install.meta.term})`);
  }
  if (!install.lastSeen) throw new InvalidArgumentError(`snapshot install incomplete: the last chunk has not arrived (next is ${install.nextSeq})`);
  const m = install.meta;
  const keepSuffix = !install.rollback && log.term(m.index) === m.term;
  const dropTo = keepSuffix ? m.index : log.lastIndex;
  for (let i = log.firstIndex; i <= dropTo; i++) ops.push({ type: 'del', key: logKey(i) });
  if (keepSuffix) log.compactTo({ index: m.index, term: m.term });
  else log.reset({ index: m.index, term: m.term });

  let hs = current.hardState;
  if (m.term > hs.term) hs = { term: m.term, vote: '', commit: hs.commit };
  if (hs.commit < m.index || install.rollback) hs = { ...hs, commit: m.index };
  ops.push(
    { type: 'put', key: META_KV_SPACE, value: encode(install.space) },
    { type: 'put', key: META_APPLIED, value: encode(m.index) },
    { type: 'put', key: META_GROUP, value: encode(m.group) },
    { type: 'put', key: META_SNAPSHOT, value: encodeSnapshotMeta(m) },
    { type: 'put', key: META_COMPACTED, value: encodePosition({ index: m.index, term: m.term }) },
    { type: 'put', key: META_HARD_STATE, value: encodeHardState(hs) },
    { type: 'del', key: META_INSTALL },
  );
  if (current.markerGroupId === null) {
    ops.push({ type: 'put', key: META_FORMAT, value: encodeMarker(m.group.groupId) });
  }
  return { meta: m, space: install.space, oldSpace: current.kvSpace, hardState: hs };
}
