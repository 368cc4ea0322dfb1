// Elections: pre-vote and vote campaigns, answering vote requests, counting votes, and the
// role changes (follower, pre-candidate, candidate, leader). Functions over RaftState
// (raft-state.ts).
import { assert, InvalidArgumentError, NotLeaderError } from './errors.js';
import { activeMembers, electableIds, findMember, isElectable } from './group.js';
import { historyRole, type HistoryEvent } from './history.js';
import { voteResult } from './quorum.js';
import { addProgress, appendAsLeader, markAllDirty, markDirty, sendTimeoutNow } from './replication.js';
import type { Message, NodeId } from './types.js';
import type { RaftState } from './raft-state.js';

/** vote context of a candidate that a leader asked to take over (timeoutNow): it passes the voters' lease check. */
export const TRANSFER_CONTEXT = 'transfer';

export function handleVoteRequest(s: RaftState, m: Message): void {
  const isPre = m.type === 'preVote';
  const canVote =
    s.vote === m.from ||
    (s.vote === '' && s.leader === null) ||
    (isPre && m.term > s.term);
  const resp = s.msg(isPre ? 'preVoteResp' : 'voteResp', m.from);
  if (canVote && s.log.isUpToDate(m.index, m.logTerm)) {
    // A granted vote answers in the candidate's term; a pre-vote must not change ours.
    resp.term = m.term;
    if (!isPre) {
      s.electionElapsed = 0;
      s.vote = m.from;
    }
    s.history.counters.votesGranted++;
  } else {
    resp.reject = true;
    s.history.counters.votesRefused++;
  }
  s.send(resp);
}

export function hup(s: RaftState, event: HistoryEvent, transfer: boolean): void {
  if (s.role === 'leader') return;
  if (hasUnappliedConfChange(s)) return;
  if (s.role === 'candidate') s.history.counters.electionsLost++;
  if (s.cfg.preVote && !transfer) becomePreCandidate(s, event);
  else becomeCandidate(s, event, transfer);
}

/**
 * The only electable member, able to win on its own vote, wins at once: nobody else can
 * lead, so waiting an election timeout only delays the first write (an embedded
 * single-member store opens in milliseconds). The pre-vote and vote still run, and are
 * recorded, as in any election.
 */
export function campaignIfSoleVoter(s: RaftState): void {
  // A leader we still know of cannot be legitimate: it is not electable (removed).
  if (s.role === 'leader' || !s.promotable()) return;
  const electable = electableIds(s.group);
  if (electable.length !== 1 || electable[0] !== s.id || s.quorum() !== 1) return;
  hup(s, 'SOLE_VOTER', false);
}

export function hasUnappliedConfChange(s: RaftState): boolean {
  for (let i = s.log.applying + 1; i <= s.log.committed; i++) {
    if (s.log.entryAt(i)?.type === 'conf') return true;
  }
  return false;
}

export function becomePreCandidate(s: RaftState, event: HistoryEvent): void {
  const from = s.role;
  s.role = 'preCandidate';
  s.leader = null;
  s.votes.clear();
  s.electionElapsed = 0;
  s.resetRandomizedElectionTimeout();
  s.history.counters.preVotesStarted++;
  s.record(historyRole(from), event, 'PRE_CANDIDATE', `term ${s.term + 1}`);
  s.votes.set(s.id, true);
  requestVotes(s, 'preVote', s.term + 1, '');
  pollVotes(s);
}

export function becomeCandidate(s: RaftState, event: HistoryEvent, transfer: boolean): void {
  const from = s.role;
  reset(s, s.term + 1);
  s.role = 'candidate';
  s.vote = s.id;
  s.history.counters.electionsStarted++;
  s.record(historyRole(from), event, 'CANDIDATE', `term ${s.term}`);
  s.votes.set(s.id, true);
  requestVotes(s, 'vote', s.term, transfer ? TRANSFER_CONTEXT : '');
  pollVotes(s);
}

export function requestVotes(s: RaftState, type: 'vote' | 'preVote', term: number, context: string): void {
  for (const id of electableIds(s.group)) {
    if (id === s.id) continue;
    const m = s.msg(type, id);
    m.term = term;
    m.index = s.log.lastIndex();
    m.logTerm = s.log.lastTerm();
    m.context = context;
    s.send(m);
  }
}

export function pollVotes(s: RaftState): void {
  let granted = 0;
  let rejected = 0;
  for (const [id, g] of s.votes) {
    if (!isElectable(s.group, id)) continue;
    if (g) granted++;
    else rejected++;
  }
  const result = voteResult(granted, rejected, s.electableGroupSize(), s.quorum());
  if (result === 'pending') return;
  if (s.role === 'preCandidate') {
    if (result === 'won') becomeCandidate(s, 'PREVOTE_GRANTED', false);
    else {
      s.history.counters.preVotesRejected++;
      becomeFollower(s, s.term, null, 'PREVOTE_REJECTED');
    }
  } else if (s.role === 'candidate') {
    if (result === 'won') {
      s.history.counters.electionsWon++;
      becomeLeader(s);
    } else {
      becomeFollower(s, s.term, null, 'VOTE_REJECTED');
    }
  }
}

export function reset(s: RaftState, term: number): void {
  if (term !== s.term) {
    s.term = term;
    s.vote = '';
  }
  s.leader = null;
  s.electionElapsed = 0;
  s.heartbeatElapsed = 0;
  s.resetRandomizedElectionTimeout();
  s.leadTransferee = null;
  s.votes.clear();
  s.dirty.clear();
  s.progress.clear();
  s.readOnly.clear();
  s.readRoundOut = false;
  s.readRoundWanted = false;
  s.readsAwaitingCommit = [];
}

export function becomeFollower(s: RaftState, term: number, leader: NodeId | null, event: HistoryEvent): void {
  const from = s.role;
  const termChanged = term !== s.term;
  if (from === 'candidate') s.history.counters.electionsLost++;
  // A leader heard a leader (itself) until now: its old "last heard" would read as minutes.
  if (from === 'leader') s.history.counters.lastLeaderContactAt = s.nowMs;
  reset(s, term);
  s.role = 'follower';
  if (leader !== null) {
    s.leader = leader;
    s.history.counters.leaderChanges++;
    s.history.counters.lastLeaderContactAt = s.nowMs;
  }
  if (from !== 'follower' || termChanged || event === 'LEAVE_REQUESTED') {
    s.record(historyRole(from), event, 'FOLLOWER', leader !== null ? `term ${term} leader ${leader}` : `term ${term}`);
  }
}

export function becomeLeader(s: RaftState): void {
  assert(s.role === 'candidate', 'only a candidate becomes leader');
  s.role = 'leader';
  s.leader = s.id;
  s.history.counters.leaderChanges++;
  s.record('CANDIDATE', 'VOTE_QUORUM', 'LEADER', `term ${s.term}`);
  s.progress.clear();
  for (const m of activeMembers(s.group)) {
    if (m.id !== s.id) addProgress(s, m.id);
  }
  // Conservatively: no membership change until everything in our log is applied.
  s.pendingConfIndex = s.log.lastIndex();
  s.uncommittedBytes = 0;
  appendAsLeader(s, 'noop', new Uint8Array(0));
  markAllDirty(s, true);
}

/** Hands leadership to `target` once it has caught up (JE's transferMaster, etcd's MsgTransferLeader). */
export function transferLeadership(s: RaftState, target: NodeId): void {
  if (s.role !== 'leader') throw new NotLeaderError(s.leader);
  if (target === s.id) return;
  const m = findMember(s.group, target);
  if (!m || m.removed || m.type !== 'electable') throw new InvalidArgumentError(`cannot transfer leadership to ${target}: not an electable member`);
  if (m.priority === 0) throw new InvalidArgumentError(`cannot transfer leadership to ${target}: its priority is 0, so it never campaigns`);
  if (s.leadTransferee === target) return;
  s.leadTransferee = target;
  s.electionElapsed = 0;
  const pr = s.progress.get(target)!;
  if (pr.match === s.log.lastIndex()) sendTimeoutNow(s, target);
  else markDirty(s, target, true);
}
