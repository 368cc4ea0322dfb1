// ReadIndex on the leader (Raft thesis 6.4; the queue itself is read-only.ts): reads wait
// for the leader's first commit of its term, then for a heartbeat round acknowledged by a
// quorum (one round out at a time, batching the reads that come meanwhile), or are answered
// at once under the lease. Functions over RaftState (raft-state.ts).
import { electableIds, isElectable } from './group.js';
import type { PendingRead } from './read-only.js';
import type { NodeId } from './types.js';
import type { RaftState } from './raft-state.js';

export function broadcastReadRound(s: RaftState): void {
  s.readRoundWanted = false;
  const context = s.readOnly.newestContext();
  if (context === null) return; // released meanwhile (by a periodic heartbeat's acks)
  s.readRoundOut = true;
  broadcastHeartbeat(s, context);
}

export function broadcastHeartbeat(s: RaftState, context: string): void {
  const round = s.heartbeatRounds.next(s.nowMs);
  for (const [id, pr] of s.progress) {
    const m = s.msg('heartbeat', id);
    m.commit = Math.min(pr.match, s.log.committed);
    m.context = context;
    m.index = round;
    s.send(m);
  }
}

/**
 * The read lease, in the driver's (monotonic) time rather than ticks: a leader paused for a
 * while must not trust what it heard before the pause, however few ticks it has run since.
 * Each ack counts from its heartbeat's send time. No lease while leadership may be moving:
 * the transfer target's vote requests pass the followers' lease check.
 */
export function leaseHolds(s: RaftState): boolean {
  if (s.cfg.leaseMs <= 0 || !s.cfg.checkQuorum) return false;
  if (s.leadTransferee !== null || s.ticks - s.timeoutNowTick < s.cfg.electionTicks) return false;
  let fresh = 0;
  for (const id of electableIds(s.group)) {
    if (id === s.id) fresh++;
    else {
      const pr = s.progress.get(id);
      if (pr && s.nowMs - pr.leaseAckSentAtMs < s.cfg.leaseMs) fresh++;
    }
  }
  return fresh >= s.quorum();
}

export function committedInCurrentTerm(s: RaftState): boolean {
  return s.log.term(s.log.committed) === s.term;
}

/** Queues or answers a read; returns why it was refused, or null. */
export function handleReadRequest(s: RaftState, context: string, from: NodeId, lease: boolean): string | null {
  const read: PendingRead = { context, index: 0, from, acks: new Set([s.id]) };
  if (!committedInCurrentTerm(s)) {
    if (s.readsAwaitingCommit.length >= s.cfg.maxPendingReads) return refuseRead(s, read, 'too many reads wait for the new leader to commit');
    s.readsAwaitingCommit.push(read);
    return null;
  }
  const index = s.log.committed;
  if (s.quorum() <= 1 || (lease && leaseHolds(s))) {
    answerRead(s, { ...read, index });
    return null;
  }
  if (s.readOnly.full()) return refuseRead(s, read, 'too many reads pending');
  s.readOnly.add({ ...read, index });
  // Its quorum of acks releases every read queued before its context (releaseThrough).
  if (s.readRoundOut) s.readRoundWanted = true;
  else broadcastReadRound(s);
  return null;
}

export function releaseReadsAwaitingCommit(s: RaftState): void {
  const waiting = s.readsAwaitingCommit;
  if (waiting.length === 0) return;
  s.readsAwaitingCommit = [];
  // A refused read of our own is dropped here; its caller's deadline reports it.
  for (const r of waiting) handleReadRequest(s, r.context, r.from, false);
}

export function handleReadAck(s: RaftState, context: string, from: NodeId): void {
  if (!isElectable(s.group, from)) return;
  const acks = s.readOnly.ack(context, from);
  if (!acks) return;
  let electableAcks = 0;
  for (const id of acks) if (isElectable(s.group, id)) electableAcks++;
  if (electableAcks < s.quorum()) return;
  for (const r of s.readOnly.releaseThrough(context)) answerRead(s, r);
  s.readRoundOut = false;
  // The reads that came meanwhile: their round goes at the next ready().
  s.readRoundWanted = s.readOnly.length > 0;
}

export function answerRead(s: RaftState, r: PendingRead): void {
  if (r.from === s.id) {
    s.readStates.push({ index: r.index, context: r.context });
    return;
  }
  const m = s.msg('readIndexResp', r.from);
  m.index = r.index;
  m.context = r.context;
  s.send(m);
}

export function refuseRead(s: RaftState, r: PendingRead, why: string): string {
  if (r.from !== s.id) {
    const m = s.msg('readIndexResp', r.from);
    m.reject = true;
    m.context = r.context;
    s.send(m);
  }
  return why;
}
