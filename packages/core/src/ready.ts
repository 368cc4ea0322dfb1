// The output a RaftNode accumulates, as the Ready the driver takes (see RaftNode.ready), and
// what a Ready's durable write changes.
import { assert } from './errors.js';
import { campaignIfSoleVoter } from './election.js';
import { applyConf } from './membership.js';
import { broadcastReadRound } from './read-index.js';
import { flushAppends, markAllDirty, maybeCommit } from './replication.js';
import type { Message, MessageType, Ready } from './types.js';
import type { RaftState } from './raft-state.js';

/** Messages that may leave before this node's own write is durable (thesis 10.2.1 and stateless replies). */
const SEND_BEFORE_PERSIST: ReadonlySet<MessageType> = new Set<MessageType>([
  'app',
  'heartbeat',
  'snap',
  'timeoutNow',
  'readIndexResp',
  'heartbeatResp',
  'preVote',
  'preVoteResp',
  'readIndex',
]);

export function hasReady(s: RaftState): boolean {
  if (s.outstanding) return false;
  const hs = s.prevHardState;
  const ss = s.prevSoftState;
  return (
    s.outbox.length > 0 ||
    (s.role === 'leader' && (s.dirty.size > 0 || (s.readRoundWanted && !s.readRoundOut))) ||
    s.log.unstableFrom <= s.log.lastIndex() ||
    s.log.pendingSnapshot !== null ||
    s.log.applicableTo(s.cfg.asyncStorageWrites) > s.log.applying ||
    s.readStates.length > 0 ||
    hs.term !== s.term ||
    hs.vote !== s.vote ||
    hs.commit !== s.log.committed ||
    ss.role !== s.role ||
    ss.leader !== s.leader ||
    ss.term !== s.term
  );
}

/** Takes the accumulated output. Call advance() with it once it is persisted, sent and applied. */
export function takeReady(s: RaftState): Ready {
  assert(s.outstanding === null, 'ready() called again before advance() of the previous Ready');
  const snapshot = s.log.pendingSnapshot;
  s.log.pendingSnapshot = null;
  const committedEntries = s.log.nextCommitted(s.cfg.maxApplyBytesPerReady, s.cfg.asyncStorageWrites);
  if (committedEntries.length > 0) {
    s.log.applying = committedEntries[committedEntries.length - 1]!.index;
    for (const e of committedEntries) if (e.type === 'conf') applyConf(s, e);
    // A membership that makes this node the sole voter (a new group of one: its bootstrap
    // entries) lets it win now, so that its term, vote and first entry go in this Ready's
    // one synced write with the bootstrap's, rather than in the next one.
    campaignIfSoleVoter(s);
  }
  // A round lost on the way is retried by the periodic heartbeat, which carries the newest read too.
  if (s.readRoundWanted && !s.readRoundOut && s.role === 'leader') broadcastReadRound(s);
  flushAppends(s);
  const entries = s.log.unstableEntries();
  s.log.markHandedForPersist();

  const hs = s.hardState();
  const prev = s.prevHardState;
  const hsChanged = hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit;
  const termOrVoteChanged = hs.term !== prev.term || hs.vote !== prev.vote;
  // With asynchronous writes an earlier Ready's new term or vote may still be on its way to disk.
  const termOrVoteNotDurable = termOrVoteChanged || hs.term !== s.durableTerm || hs.vote !== s.durableVote;
  s.prevHardState = hs;
  const ss = s.softState();
  const pss = s.prevSoftState;
  const ssChanged = ss.role !== pss.role || ss.leader !== pss.leader || ss.term !== pss.term;
  s.prevSoftState = ss;

  const messages: Message[] = [];
  const messagesAfterPersist: Message[] = [];
  for (const m of s.outbox) {
    // A new term or vote must be durable before anything goes out under it.
    if (!termOrVoteNotDurable && SEND_BEFORE_PERSIST.has(m.type)) messages.push(m);
    else messagesAfterPersist.push(m);
  }
  s.outbox = [];
  const readStates = s.readStates;
  s.readStates = [];

  const rd: Ready = {
    softState: ssChanged ? ss : null,
    hardState: hsChanged ? hs : null,
    snapshot,
    entries,
    committedEntries,
    messages,
    messagesAfterPersist,
    readStates,
    mustSync: entries.length > 0 || termOrVoteChanged || snapshot !== null,
  };
  s.outstanding = rd;
  return rd;
}

export function onDurable(s: RaftState, rd: Ready): void {
  if (rd.hardState) {
    s.durableTerm = rd.hardState.term;
    s.durableVote = rd.hardState.vote;
  }
  if (rd.entries.length > 0) {
    s.log.stableTo(rd.entries);
    // The leader's own durable write counts towards the commit quorum only now.
    if (s.role === 'leader' && maybeCommit(s)) markAllDirty(s, true);
  }
}
