// Replication, the leader's side: appending its own entries, tracking each follower's
// progress, sending appends (pipelined, or probing), snapshots and timeoutNow, handling the
// followers' answers, and advancing the commit index. Functions over RaftState (raft-state.ts).
import type { ConfChange, Entry, Message, NodeId } from './types.js';
import { NotLeaderError, ProposalDroppedError, RequestTooLargeError } from './errors.js';
import { electableIds } from './group.js';
import { overrideContext } from './divergence.js';
import { entrySizeBytes } from './log.js';
import { Progress } from './progress.js';
import { quorumIndex } from './quorum.js';
import { handleReadAck, releaseReadsAwaitingCommit } from './read-index.js';
import { DIVERGED_CONTEXT, SNAPSHOT_REQUEST_CONTEXT } from './follower.js';
import type { RaftState } from './raft-state.js';

/** Proposes application data; returns where it will be committed, if it is. Leader only. */
export function propose(s: RaftState, data: Uint8Array): { index: number; term: number } {
  checkCanPropose(s);
  // Bounds every entry, hence every append (see maxMsgBytes): nothing the transport refuses.
  if (data.byteLength > s.cfg.maxProposalBytes) throw new RequestTooLargeError(data.byteLength, s.cfg.maxProposalBytes, 'the proposal');
  const size = data.byteLength + 24;
  if (s.uncommittedBytes + size > s.cfg.maxUncommittedBytes && s.uncommittedBytes > 0) {
    throw new ProposalDroppedError(`the leader's uncommitted log exceeds ${s.cfg.maxUncommittedBytes} bytes; retry once writes commit`);
  }
  return appendAsLeader(s, 'normal', data);
}

export function checkCanPropose(s: RaftState): void {
  if (s.role !== 'leader') throw new NotLeaderError(s.leader);
  if (s.leadTransferee !== null) {
    throw new ProposalDroppedError(`leadership is being transferred to ${s.leadTransferee}; retry on the new leader`);
  }
}

export function appendAsLeader(s: RaftState, type: Entry['type'], data: Uint8Array, change?: ConfChange): { index: number; term: number } {
  const entry: Entry = change
    ? { index: s.log.lastIndex() + 1, term: s.term, type, data, change }
    : { index: s.log.lastIndex() + 1, term: s.term, type, data };
  s.log.appendLocal([entry]);
  s.uncommittedBytes += entrySizeBytes(entry);
  for (const id of s.progress.keys()) markDirty(s, id, false);
  return { index: entry.index, term: entry.term };
}

export function addProgress(s: RaftState, id: NodeId): void {
  const pr = new Progress(s.log.lastIndex() + 1, s.cfg.maxInflightMsgs);
  pr.lastHeardTick = s.ticks; // a grace period of one election timeout before check-quorum counts it out
  s.progress.set(id, pr);
}

export function markDirty(s: RaftState, id: NodeId, sendIfEmpty: boolean): void {
  s.dirty.set(id, (s.dirty.get(id) ?? false) || sendIfEmpty);
}

export function markAllDirty(s: RaftState, sendIfEmpty: boolean): void {
  for (const id of s.progress.keys()) markDirty(s, id, sendIfEmpty);
}

export function flushAppends(s: RaftState): void {
  if (s.role !== 'leader') {
    s.dirty.clear();
    return;
  }
  for (const [id, sendIfEmpty] of s.dirty) sendAppend(s, id, sendIfEmpty);
  s.dirty.clear();
}

/** Sends as many appends as the window allows (pipelining), or a snapshot request. */
export function sendAppend(s: RaftState, to: NodeId, sendIfEmpty: boolean): void {
  const pr = s.progress.get(to);
  if (!pr) return;
  let first = true;
  // Bounded by the inflight window: each loop either sends or stops.
  for (let round = 0; round <= s.cfg.maxInflightMsgs; round++) {
    if (pr.isPaused()) return;
    let prevIndex = pr.next - 1;
    let prevTerm = s.log.term(prevIndex);
    if (prevTerm === undefined && pr.diverged) {
      // A snapshot would only be refused: probe at our compaction point, where a follower
      // that accepted the rollback asks for the snapshot.
      prevIndex = s.log.firstIndex() - 1;
      prevTerm = s.log.term(prevIndex)!;
      const m = s.msg('app', to);
      m.index = prevIndex;
      m.logTerm = prevTerm;
      m.commit = s.log.committed;
      m.context = overrideContext(s.overrideSpanValue);
      s.send(m);
      pr.probeSent = true;
      return;
    }
    if (prevTerm === undefined) {
      sendSnapshot(s, to, pr);
      return;
    }
    const last = s.log.lastIndex();
    const entries = pr.next <= last ? s.log.slice(pr.next, last + 1, s.cfg.maxMsgBytes) : [];
    if (entries.length === 0 && !(first && sendIfEmpty)) return;
    const m = s.msg('app', to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = s.log.committed;
    m.context = overrideContext(s.overrideSpanValue);
    s.send(m);
    first = false;
    if (entries.length === 0) return;
    pr.sentEntries(entries[entries.length - 1]!.index);
    if (pr.state !== 'replicate') return;
  }
}

/**
 * The follower needs entries we compacted away. The driver fills `snapshot` with its latest
 * snapshot (at least `index`) and streams the data before the follower steps this message.
 */
export function sendSnapshot(s: RaftState, to: NodeId, pr: Progress): void {
  pr.becomeSnapshot();
  const m = s.msg('snap', to);
  m.index = s.log.firstIndex() - 1;
  m.context = overrideContext(s.overrideSpanValue);
  s.send(m);
}

/** The driver finished (or failed) streaming a snapshot to `id`. */
export function reportSnapshot(s: RaftState, id: NodeId, ok: boolean, snapshotIndex = 0): void {
  const pr = s.progress.get(id);
  if (s.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
  pr.becomeProbe();
  // Only the follower's own answer may move `match`: it can still crash before persisting.
  if (ok) pr.next = Math.max(pr.next, Math.min(snapshotIndex, s.log.lastIndex()) + 1);
  // Wait for the follower's answer (or the next heartbeat) before probing again.
  pr.probeSent = true;
}

/** The transport could not reach `id`: stop streaming to it optimistically. */
export function reportUnreachable(s: RaftState, id: NodeId): void {
  const pr = s.progress.get(id);
  if (s.role === 'leader' && pr?.state === 'replicate') pr.becomeProbe();
}

export function sendTimeoutNow(s: RaftState, to: NodeId): void {
  s.timeoutNowTick = s.ticks;
  s.send(s.msg('timeoutNow', to));
}

/** Leader: advances the commit index to what the commit quorum has durably; current-term entries only. */
export function maybeCommit(s: RaftState): boolean {
  const matches = electableIds(s.group).map((id) => (id === s.id ? s.log.stableIndex : s.progress.get(id)?.match ?? 0));
  const idx = quorumIndex(matches, s.quorum());
  if (idx <= s.log.committed || s.log.term(idx) !== s.term) return false;
  for (let i = s.log.committed + 1; i <= idx; i++) {
    const e = s.log.entryAt(i);
    if (e) s.uncommittedBytes = Math.max(0, s.uncommittedBytes - entrySizeBytes(e));
  }
  s.log.commitTo(idx);
  releaseReadsAwaitingCommit(s);
  return true;
}

export function quorumActive(s: RaftState): boolean {
  let active = 0;
  for (const id of electableIds(s.group)) {
    if (id === s.id) active++;
    else {
      const pr = s.progress.get(id);
      if (pr && s.ticks - pr.lastHeardTick < s.cfg.electionTicks) active++;
    }
  }
  return active >= s.quorum();
}

/** A follower's answer to an append or snapshot. */
export function handleAppendResp(s: RaftState, m: Message, pr: Progress): void {
  pr.lastHeardTick = s.ticks;
  if (m.reject && m.context === SNAPSHOT_REQUEST_CONTEXT) {
    pr.diverged = false;
    if (pr.state !== 'snapshot') sendSnapshot(s, m.from, pr);
    return;
  }
  if (m.reject && m.context === DIVERGED_CONTEXT) {
    pr.diverged = true;
    // Backing off cannot help a follower that will not truncate committed entries:
    // retry once per heartbeat (it may have accepted a rollback by then), no faster.
    if (pr.state !== 'probe') pr.becomeProbe();
    pr.probeSent = true;
    return;
  }
  if (m.reject) {
    let hint = m.rejectHint;
    if (m.logTerm > 0) hint = s.log.findConflictByTerm(m.rejectHint, m.logTerm);
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      markDirty(s, m.from, false);
    }
    return;
  }
  const oldPaused = pr.isPaused();
  pr.diverged = false;
  if (pr.maybeUpdate(m.index)) {
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= s.log.firstIndex() - 1) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    if (maybeCommit(s)) markAllDirty(s, true);
    else if (oldPaused) markDirty(s, m.from, false);
    if (pr.match < s.log.lastIndex()) markDirty(s, m.from, false);
    if (m.from === s.leadTransferee && pr.match === s.log.lastIndex()) sendTimeoutNow(s, m.from);
  }
}

/** A follower's answer to a heartbeat: liveness, the read lease, a read round's ack. */
export function handleHeartbeatResp(s: RaftState, m: Message, pr: Progress): void {
  pr.lastHeardTick = s.ticks;
  const sentAtMs = s.heartbeatRounds.sentAt(m.index);
  if (sentAtMs !== undefined && sentAtMs > pr.leaseAckSentAtMs) pr.leaseAckSentAtMs = sentAtMs;
  pr.probeSent = false;
  // Appends in a full window may have been lost: free one slot so replication retries.
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
  // Even an empty append exposes a gap left by a lost append (its prev index mismatches).
  if (pr.match < s.log.lastIndex()) markDirty(s, m.from, true);
  if (m.context) handleReadAck(s, m.context, m.from);
}
