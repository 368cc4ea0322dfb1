// Membership and the electable group size override, what sets the quorum: proposing a
// change, applying a committed one (when it is handed to the driver), setting the override.
import { assert, ConfChangeError, ConfChangePendingError } from './errors.js';
import { activeMembers, applyConfChange, checkConfChange, confChangeRefusal, findMember, isElectable } from './group.js';
import { nextOverrideSpan } from './divergence.js';
import { historyRole } from './history.js';
import { overrideRefusal, validateOverride } from './quorum.js';
import { becomeFollower, pollVotes } from './election.js';
import { broadcastHeartbeat } from './read-index.js';
import { addProgress, appendAsLeader, checkCanPropose, markAllDirty, markDirty, maybeCommit } from './replication.js';
import type { ConfChange, Entry, GroupMetadata } from './types.js';
import type { RaftState } from './raft-state.js';

export interface OverrideChange {
  readonly previous: number;
  readonly current: number;
  readonly electableGroupSize: number;
}

/**
 * Proposes one membership change. One at a time: refused while another is unapplied.
 * Growing E while this leader runs with an override is refused unless `force` (see
 * overrideRefusal).
 */
export function proposeConfChange(s: RaftState, change: ConfChange, opts: { force?: boolean }): { index: number; term: number } {
  checkConfChange(change);
  checkCanPropose(s);
  if (s.pendingConfIndex > s.log.applying) {
    throw new ConfChangePendingError(s.pendingConfIndex);
  }
  const refusal = confChangeRefusal(s.group, change) ?? (opts.force === true ? null : overrideRefusal(s.id, s.override, s.electableGroupSize(), change));
  if (refusal) throw new ConfChangeError(refusal);
  const at = appendAsLeader(s, 'conf', new Uint8Array(0), change);
  s.pendingConfIndex = at.index;
  return at;
}

/** A committed conf entry is handed to the driver: it takes effect here and now (etcd's model). */
export function applyConf(s: RaftState, e: Entry): void {
  const change = e.change;
  assert(change !== undefined, () => `conf entry ${e.index} carries no change`);
  s.group = applyCommittedConfChange(s.group, change);
  if (s.role !== 'leader') {
    if (change.op === 'remove' && change.id === s.id) s.record('FOLLOWER', 'REMOVED', 'FOLLOWER', `index ${e.index}`);
    return;
  }
  if (change.op === 'remove' && change.id === s.id) {
    // Tell the others the removal committed before stepping down, or they learn it only
    // from the next leader, an election timeout or two later.
    broadcastHeartbeat(s, '');
    becomeFollower(s, s.term, null, 'REMOVED');
    return;
  }
  for (const m of activeMembers(s.group)) {
    if (m.id !== s.id && !s.progress.has(m.id)) {
      addProgress(s, m.id);
      markDirty(s, m.id, true);
    }
  }
  for (const id of [...s.progress.keys()]) {
    if (!findMember(s.group, id) || findMember(s.group, id)!.removed) s.progress.delete(id);
  }
  if (s.leadTransferee !== null && !isElectable(s.group, s.leadTransferee)) s.leadTransferee = null;
  if (maybeCommit(s)) markAllDirty(s, true);
}


/**
 * Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE. Local and never replicated. 0 turns it off.
 * Larger than the electable group size is refused unless `force`.
 */
export function setOverride(s: RaftState, n: number, opts: { force?: boolean }): OverrideChange {
  const e = s.electableGroupSize();
  validateOverride(n, e, opts.force === true);
  const previous = s.override;
  s.override = n;
  s.overrideSpanValue = nextOverrideSpan(s.overrideSpanValue, previous, n, s.log.committed, s.log.lastIndex());
  const role = historyRole(s.role);
  s.record(role, 'OVERRIDE_SET', role, `override ${previous} -> ${n} (electable group size ${e})`);
  if (s.role === 'leader') {
    if (maybeCommit(s)) markAllDirty(s, true);
  } else if (s.role === 'candidate' || s.role === 'preCandidate') {
    pollVotes(s);
  }
  return { previous, current: n, electableGroupSize: e };
}

/**
 * Applies a committed change. A change that is not valid for the group (which the leader's
 * checks make impossible in practice) is a deterministic no-op on every node.
 */
export function applyCommittedConfChange(group: GroupMetadata, change: ConfChange): GroupMetadata {
  return confChangeRefusal(group, change) === null ? applyConfChange(group, change) : group;
}
