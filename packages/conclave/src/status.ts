// What a node says about itself: its status (conclave node status, election status) and
// the types in it. Plain data: the admin CLI reads the same shape over the wire.
import type { Member, NodeId, RaftStatus, Role } from '@conclave/core';

export type NodeState = 'leader' | 'follower' | 'candidate' | 'detached';

/** Where a node's override comes from: off, the start option, the setting stored by an earlier run, or a change while running. */
export type OverrideSource = 'none' | 'option' | 'stored' | 'runtime';

export type RollbackStatus =
  | { readonly state: 'none' }
  | { readonly state: 'prohibited'; readonly lostWriteCount: number; readonly rollbackLimit: number; readonly fromIndex: number; readonly toIndex: number; readonly leader: NodeId; readonly exact: boolean }
  | { readonly state: 'divergedWithoutOverride'; readonly lostWriteCount: number; readonly fromIndex: number; readonly toIndex: number; readonly leader: NodeId; readonly message: string }
  | { readonly state: 'rollingBack'; readonly lostWriteCount: number; readonly file: string; readonly leader: NodeId };

export interface NodeStatus {
  readonly id: NodeId;
  readonly groupId: string;
  readonly address: string;
  readonly state: NodeState;
  readonly role: Role;
  readonly term: number;
  readonly leader: { readonly id: NodeId; readonly address: string | null } | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly electableGroupSize: number;
  readonly electableGroupSizeOverride: number;
  readonly effectiveGroupSize: number;
  readonly electionQuorum: number;
  readonly commitQuorum: number;
  readonly overrideSource: OverrideSource;
  /** The override clears itself once a true majority of electable members is connected and caught up. */
  readonly overrideUntilMajority: boolean;
  readonly members: readonly Member[];
  /** Leader only: each member's replication progress. */
  readonly peers: readonly { id: NodeId; address: string | null; type: string; matchIndex: number; lag: number; active: boolean; state: string }[];
  readonly history: RaftStatus['history'];
  readonly counters: RaftStatus['counters'];
  readonly divergence: RaftStatus['divergence'];
  readonly rollback: RollbackStatus;
  /** This node's clock when it made this status (ms since the epoch): ages in it are relative to this, not to the reader's clock. */
  readonly nowMs: number;
}

/** The state a node reports, from its core's role, whether it may campaign, and whether it is a member. */
export function stateOf(role: Role, promotable: boolean, member: boolean): NodeState {
  if (!member) return 'detached';
  if (role === 'leader') return 'leader';
  if (role === 'candidate' || (role === 'preCandidate' && promotable)) return 'candidate';
  return 'follower';
}

/** What a node's status is made of (the facade gathers it from its rooms). */
export interface StatusParts {
  readonly id: NodeId;
  readonly groupId: string;
  readonly address: string;
  readonly raft: RaftStatus;
  readonly appliedIndex: number;
  readonly addressOf: (id: NodeId) => string | null;
  readonly overrideOrigin: { overrideSource: OverrideSource; overrideUntilMajority: boolean };
  readonly rollback: RollbackStatus;
  /** The wall clock, ms since the epoch. */
  readonly wallNowMs: number;
}

export function nodeStatus(p: StatusParts): NodeStatus {
  const st = p.raft;
  const member = st.group.members.some((m) => m.id === p.id && !m.removed);
  return {
    id: p.id,
    groupId: p.groupId,
    address: p.address,
    state: stateOf(st.role, st.promotable, member),
    role: st.role,
    term: st.term,
    leader: st.leader ? { id: st.leader, address: p.addressOf(st.leader) } : null,
    commitIndex: st.commitIndex,
    appliedIndex: p.appliedIndex,
    lastIndex: st.lastIndex,
    electableGroupSize: st.electableGroupSize,
    electableGroupSizeOverride: st.electableGroupSizeOverride,
    effectiveGroupSize: st.effectiveGroupSize,
    electionQuorum: st.electionQuorum,
    commitQuorum: st.commitQuorum,
    ...p.overrideOrigin,
    members: st.group.members,
    peers: st.peers.map((peer) => ({
      id: peer.id,
      address: p.addressOf(peer.id),
      type: peer.type,
      matchIndex: peer.match,
      lag: Math.max(0, st.lastIndex - peer.match),
      active: peer.active,
      state: peer.state,
    })),
    history: st.history,
    counters: st.counters,
    divergence: st.divergence,
    rollback: p.rollback,
    nowMs: p.wallNowMs,
  };
}
