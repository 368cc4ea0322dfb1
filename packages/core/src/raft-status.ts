// What a node reports about itself: status() and the leader's acknowledgement queries.
import { effectiveGroupSize, ackIndex } from './quorum.js';
import { electableIds, findMember } from './group.js';
import type { Divergence } from './divergence.js';
import type { ElectionCounters, HistoryEntry } from './history.js';
import type { ProgressState } from './progress.js';
import type { AckPolicy, GroupMetadata, NodeId, Role } from './types.js';
import type { RaftState } from './raft-state.js';

export interface PeerStatus {
  readonly id: NodeId;
  readonly type: 'electable' | 'secondary';
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  /** Heard from within the last election timeout. */
  readonly active: boolean;
  readonly inflight: number;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly durableIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly group: GroupMetadata;
  readonly electableGroupSize: number;
  readonly electableGroupSizeOverride: number;
  readonly effectiveGroupSize: number;
  readonly electionQuorum: number;
  readonly commitQuorum: number;
  readonly promotable: boolean;
  readonly leadTransferee: NodeId | null;
  readonly peers: readonly PeerStatus[];
  readonly ackIndex: { readonly simpleMajority: number; readonly all: number; readonly none: number } | null;
  /** Set when a leader asked this node to truncate entries it had committed (override hazard). */
  readonly divergence: Divergence | null;
  /** The driver accepted a rollback: the next snapshot from the leader replaces committed state. */
  readonly rollbackRequested: boolean;
  readonly history: readonly HistoryEntry[];
  readonly counters: Readonly<ElectionCounters>;
}

/** The highest index acknowledged under `policy`; 0 when this node is not the leader. */
export function leaderAckIndex(s: RaftState, policy: AckPolicy): number {
  if (s.role !== 'leader') return 0;
  return ackIndex(policy, {
    commitIndex: s.log.committed,
    leaderDurableIndex: s.log.stableIndex,
    electableMatchIndexes: electableIds(s.group).map((id) => (id === s.id ? s.log.stableIndex : s.progress.get(id)?.match ?? 0)),
  });
}

/** Electable members (this one included) heard from within an election timeout. Leader only; 0 otherwise. */
export function activeElectableCount(s: RaftState): number {
  if (s.role !== 'leader') return 0;
  let n = 0;
  for (const id of electableIds(s.group)) {
    if (id === s.id) n++;
    else {
      const pr = s.progress.get(id);
      if (pr && s.ticks - pr.lastHeardTick < s.cfg.electionTicks) n++;
    }
  }
  return n;
}

export function raftStatus(s: RaftState): RaftStatus {
  const e = s.electableGroupSize();
  const q = s.quorum();
  const peers: PeerStatus[] = [];
  if (s.role === 'leader') {
    for (const [id, pr] of s.progress) {
      peers.push({
        id,
        type: findMember(s.group, id)?.type ?? 'secondary',
        match: pr.match,
        next: pr.next,
        state: pr.state,
        active: s.ticks - pr.lastHeardTick < s.cfg.electionTicks,
        inflight: pr.inflights.count,
      });
    }
  }
  return {
    id: s.id,
    role: s.role,
    term: s.term,
    vote: s.vote,
    leader: s.leader,
    commitIndex: s.log.committed,
    appliedIndex: s.log.applied,
    durableIndex: s.log.stableIndex,
    firstIndex: s.log.firstIndex(),
    lastIndex: s.log.lastIndex(),
    group: s.group,
    electableGroupSize: e,
    electableGroupSizeOverride: s.override,
    effectiveGroupSize: effectiveGroupSize(e, s.override),
    electionQuorum: q,
    commitQuorum: q,
    promotable: s.promotable(),
    leadTransferee: s.leadTransferee,
    peers,
    ackIndex:
      s.role === 'leader'
        ? { simpleMajority: leaderAckIndex(s, 'simpleMajority'), all: leaderAckIndex(s, 'all'), none: leaderAckIndex(s, 'none') }
        : null,
    divergence: s.divergence,
    rollbackRequested: s.rollbackRequested,
    history: s.history.newestFirst(),
    counters: { ...s.history.counters },
  };
}
