// Replication, the follower's side: a leader's appends and snapshots, and what makes them
// hard: never truncating entries this node committed. Those can only differ from a leader's
// after the override was used (or storage was damaged); this node then reports a
// divergence, and gives them up only on a rollback the driver accepted (JE hard recovery).
// Functions over RaftState (raft-state.ts); the pure checks are in divergence.ts.
import { agreeBelow, checkCommitted, matchesAt, mergeLeaderSpan, parseOverrideContext, parsePrevLeader, spanOverlaps, type OverrideSpan } from './divergence.js';
import type { Message, NodeId } from './types.js';
import type { RaftState } from './raft-state.js';

/** appResp context of a follower that needs a snapshot to roll back its diverged state. */
export const SNAPSHOT_REQUEST_CONTEXT = 'snapshot';
/** appResp context of a follower that refused to truncate committed entries. */
export const DIVERGED_CONTEXT = 'diverged';

export function heardFromLeader(s: RaftState, from: NodeId): void {
  s.electionElapsed = 0;
  s.history.counters.lastLeaderContactAt = s.nowMs;
  if (s.leader !== from) {
    s.leader = from;
    s.history.counters.leaderChanges++;
    s.record('FOLLOWER', 'LEADER_FOUND', 'FOLLOWER', from);
  }
}

export function handleAppend(s: RaftState, m: Message): void {
  const resp = s.msg('appResp', m.from);
  if (s.rollbackRequested) {
    // Rolling back: our committed state must be replaced whole by the leader's snapshot.
    resp.reject = true;
    resp.index = m.index;
    resp.rejectHint = Math.min(m.index, s.log.lastIndex());
    resp.context = SNAPSHOT_REQUEST_CONTEXT;
    s.send(resp);
    return;
  }
  // Never truncate what this node has committed: that only happens when the override was
  // used (or storage was damaged). Find where the logs really part, then report (JE hard recovery).
  // An entry is the leader's when its term and the term's leader match (two leaders can share
  // a term under the override: matchesAt).
  const prevLeader = parsePrevLeader(m.context);
  const check = checkCommitted(s.log, m.index, m.logTerm, m.entries, prevLeader);
  if (check.kind === 'ok' && s.divergence !== null) {
    // A leader whose log holds our last committed entry proves there is no divergence after all.
    if (m.index >= s.log.committed && matchesAt(s.log, m.index, m.logTerm, prevLeader)) clearDivergence(s);
    else if (s.divergence.leader === m.from) {
      refuseDiverged(s, resp, m);
      return;
    }
  }
  if (check.kind === 'diverged') {
    noteDivergence(s, m, check.index, true);
    refuseDiverged(s, resp, m);
    return;
  }
  if (check.kind === 'mismatch') {
    // Back off like any conflict: the leader probes lower until its entry matches ours.
    if (s.committedMismatch === 0 || check.index < s.committedMismatch) s.committedMismatch = check.index;
    s.mismatchLeader = { id: m.from, term: m.term, override: parseOverrideContext(m.context) };
    rejectWithHint(s, resp, m, s.log.findConflictByTerm(check.below, m.logTerm));
    return;
  }
  if (m.index < s.log.committed) {
    // Answer only what this append showed to match: under an override, committed entries
    // beyond it are not known to be the leader's.
    resp.index = Math.min(s.log.committed, m.index + m.entries.length);
    s.send(resp);
    return;
  }
  if (!matchesAt(s.log, m.index, m.logTerm, prevLeader)) {
    // Never below our commit index at first: the leader then probes it, so a divergence of
    // committed entries shows up while the leader still holds them (not only in a snapshot).
    // Same term, another leader: none of our entries of that term is the leader's.
    const from = s.log.matchTerm(m.index, m.logTerm) ? agreeBelow(s.log, m.index, m.logTerm) : Math.min(m.index, s.log.lastIndex());
    rejectWithHint(s, resp, m, Math.max(s.log.findConflictByTerm(from, m.logTerm), Math.min(s.log.committed, m.index - 1)));
    return;
  }
  const lastNew = s.log.appendFromLeader(m.index, m.entries);
  const before = s.log.committed;
  s.log.commitTo(Math.min(m.commit, lastNew));
  noteLeaderSpan(s, m, before);
  resp.index = lastNew;
  s.send(resp);
}

/**
 * Entries we just committed under a leader's override are recorded in our own span (the
 * driver stores it before the commit): otherwise, after a split brain, this node could not
 * tell them from damaged data when the other side's leader asks it to give them up.
 */
export function noteLeaderSpan(s: RaftState, m: Message, before: number): void {
  if (s.log.committed <= before || m.context === '') return;
  s.overrideSpanValue = mergeLeaderSpan(s.overrideSpanValue, parseOverrideContext(m.context), before, s.log.committed);
}

export function refuseDiverged(s: RaftState, resp: Message, m: Message): void {
  resp.reject = true;
  resp.index = m.index;
  resp.rejectHint = Math.min(m.index, s.log.committed);
  resp.logTerm = s.log.term(resp.rejectHint) ?? 0;
  resp.context = DIVERGED_CONTEXT;
  s.send(resp);
}

export function clearDivergence(s: RaftState): void {
  s.divergence = null;
  s.committedMismatch = 0;
  s.mismatchLeader = null;
}

/**
 * Whether committed entries we still hold may differ from a leader's that can no longer
 * show its own (it compacted them): only if either of us ran with an override since.
 */
export function mayHaveDiverged(s: RaftState, leaderOverride: OverrideSpan | null): boolean {
  const first = s.log.firstIndex();
  if (s.log.committed < first) return false;
  return spanOverlaps(s.overrideSpanValue, first, s.log.committed) || spanOverlaps(leaderOverride, first, Infinity);
}

/**
 * The lowest index at which our committed entries may differ when the leader can no longer
 * show where the logs part: entries committed before either side set an override were
 * committed by a true majority, so they are the same on both sides.
 */
export function divergenceLowerBound(s: RaftState, leaderOverride: OverrideSpan | null): number {
  const spansFrom = Math.min(s.overrideSpanValue?.from ?? Infinity, leaderOverride?.from ?? Infinity);
  const upper = s.committedMismatch > 0 ? s.committedMismatch : s.log.committed;
  return Math.min(upper, Math.max(s.log.firstIndex(), spansFrom === Infinity ? 0 : spansFrom));
}

export function noteDivergence(s: RaftState, m: Message, index: number, exact: boolean): void {
  const d = s.divergence;
  if (d === null || d.index !== index || d.term !== m.term || d.leader !== m.from) {
    const leaderOverride = parseOverrideContext(m.context) ?? (s.mismatchLeader?.id === m.from ? s.mismatchLeader.override : null);
    s.divergence = { index, leader: m.from, term: m.term, committed: s.log.committed, exact, leaderOverride };
    s.record('FOLLOWER', 'DIVERGED', 'FOLLOWER', `from leader ${m.from} (term ${m.term}) at index ${index}${exact ? '' : ' or earlier'}: committed [${index}, ${s.log.committed}] differ`);
  }
}

export function handleSnapshot(s: RaftState, m: Message): void {
  const meta = m.snapshot;
  const resp = s.msg('appResp', m.from);
  if (!meta) {
    resp.index = s.log.committed;
    s.send(resp);
    return;
  }
  // After a rollback every entry we hold is the leader's: its span counts from the start.
  const before = s.rollbackRequested ? 0 : s.log.committed;
  if (s.rollbackRequested) {
    // JE hard recovery: replace everything, committed entries included, with the leader's state.
    const lost = s.divergence;
    s.log.restore(meta);
    s.group = meta.group;
    s.pendingConfIndex = 0;
    s.rollbackRequested = false;
    clearDivergence(s);
    s.record('FOLLOWER', 'ROLLED_BACK', 'FOLLOWER', `to index ${meta.index} term ${meta.term}${lost ? `; lost [${lost.index}, ${lost.committed}]` : ''}`);
    resp.index = meta.index;
  } else if (matchesAt(s.log, meta.index, meta.term, meta.term === m.logTerm ? parsePrevLeader(m.context) : undefined)) {
    // Our entry at the snapshot's index is the leader's, hence so is everything before it
    // (the offer names the leader of its term when the snapshot is at the leader's compaction point).
    s.log.commitTo(meta.index);
    if (meta.index >= s.log.committed) clearDivergence(s);
    resp.index = s.divergence === null && s.committedMismatch === 0 ? s.log.committed : meta.index;
  } else if (s.divergence !== null || s.committedMismatch > 0 || (meta.index > s.log.committed && mayHaveDiverged(s, parseOverrideContext(m.context)))) {
    // Installing it would discard committed entries that differ (or, with an override on
    // either side, may differ) from the leader's: never without a rollback under the rules
    // (report first, within the limit or accepted).
    if (s.divergence === null) {
      const leaderOverride = parseOverrideContext(m.context) ?? s.mismatchLeader?.override ?? null;
      noteDivergence(s, m, divergenceLowerBound(s, leaderOverride), false);
    }
    refuseDiverged(s, resp, m);
    return;
  } else if (meta.index <= s.log.committed) {
    resp.index = s.log.committed;
  } else {
    s.log.restore(meta);
    s.group = meta.group;
    s.pendingConfIndex = 0;
    s.record('FOLLOWER', 'SNAPSHOT_INSTALLED', 'FOLLOWER', `index ${meta.index} term ${meta.term}`);
    resp.index = meta.index;
  }
  noteLeaderSpan(s, m, before);
  s.send(resp);
}

/** Refuses an append that did not match, with where the leader should probe next (etcd's rejectHint). */
function rejectWithHint(s: RaftState, resp: Message, m: Message, hintIndex: number): void {
  resp.reject = true;
  resp.index = m.index;
  resp.rejectHint = hintIndex;
  resp.logTerm = s.log.term(hintIndex) ?? 0;
  s.send(resp);
}
