// The state a RaftNode holds, shared by the modules that implement its parts (election.ts,
// replication.ts, follower.ts, read-index.ts, membership.ts, ready.ts): each is a set of
// functions over this state, and RaftNode (raft.ts) dispatches its inputs to them. Not
// exported from the package: only RaftNode's methods change it.
import { resolveConfig, type RaftConfig, type ResolvedConfig } from './config.js';
import { findMember, electableIds } from './group.js';
import { nextOverrideSpan, type Divergence, type OverrideSpan } from './divergence.js';
import { ElectionHistory, type HistoryEntry, type HistoryEvent } from './history.js';
import { RaftLog } from './log.js';
import type { Progress } from './progress.js';
import { quorumSize } from './quorum.js';
import { ReadOnlyQueue, type PendingRead } from './read-only.js';
import { HeartbeatRounds } from './lease.js';
import { randomInt } from './random.js';
import { emptyMessage, type Entry, type GroupMetadata, type HardState, type Message, type MessageType, type NodeId, type ReadState, type Ready, type Role, type SoftState } from './types.js';

/** What a node has on disk when it starts (see RaftNode.restore). */
export interface DurableState {
  readonly hardState: HardState;
  /** The group metadata as of `applied`. */
  readonly group: GroupMetadata;
  /** Index and term of the last compacted entry (0/0 when nothing was compacted). */
  readonly compactedIndex: number;
  readonly compactedTerm: number;
  /** Every log entry after the compaction point, in order. */
  readonly entries: readonly Entry[];
  readonly applied: number;
}

export class RaftState {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  group: GroupMetadata;

  term: number;
  vote: NodeId;
  role: Role = 'follower';
  leader: NodeId | null = null;
  override: number;

  ticks = 0;
  nowMs: number;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  readonly progress = new Map<NodeId, Progress>();
  /** Peers to send appends to at the next ready(); the value says whether an empty append is wanted. */
  readonly dirty = new Map<NodeId, boolean>();
  readonly votes = new Map<NodeId, boolean>();
  leadTransferee: NodeId | null = null;
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  readonly readOnly: ReadOnlyQueue;
  /**
   * ReadIndex batching, as etcd's server does it: one heartbeat round for reads at a time. Reads
   * that arrive while it is out wait for it to end; the next round (at the next ready(), with
   * the newest read's context) then confirms all of them at once.
   */
  readRoundWanted = false;
  readRoundOut = false;
  /** Reads that arrived before the leader committed an entry of its term. */
  readsAwaitingCommit: PendingRead[] = [];
  divergence: Divergence | null = null;
  rollbackRequested = false;
  /** Send times of heartbeat rounds: the lease counts each ack from its heartbeat's send. */
  readonly heartbeatRounds = new HeartbeatRounds();
  /** Tick of the last timeoutNow sent: its target may win at once, so no lease for a while. */
  timeoutNowTick = -Infinity;
  /**
   * A restarted node refuses votes (but a transfer's) until this tick: before the restart it
   * may have acked a leader whose lease still runs, and it no longer knows that leader.
   */
  readonly refuseVotesUntilTick: number;
  /** Lowest committed index at which the current leader's probe disagreed with us (0: none). */
  committedMismatch = 0;
  /** The leader that sent that probe, and its override span. */
  mismatchLeader: { id: NodeId; term: number; override: OverrideSpan | null } | null = null;
  /** Indexes this node may have committed under an override (durable through the driver). */
  overrideSpanValue: OverrideSpan | null;

  outbox: Message[] = [];
  readStates: ReadState[] = [];
  prevHardState: HardState;
  prevSoftState: SoftState;
  outstanding: Ready | null = null;
  /** Term and vote known durable (persisted()); messages under newer ones wait for their write. */
  durableTerm: number;
  durableVote: NodeId;
  readonly history: ElectionHistory;

  constructor(config: RaftConfig, state: DurableState, restarted: boolean) {
    this.cfg = resolveConfig(config);
    this.refuseVotesUntilTick = restarted ? this.cfg.electionTicks : 0;
    this.id = this.cfg.id;
    this.nowMs = this.cfg.nowMs;
    this.override = this.cfg.electableGroupSizeOverride;
    this.history = new ElectionHistory(this.cfg.historySize);
    this.readOnly = new ReadOnlyQueue(this.cfg.maxPendingReads);
    this.group = state.group;
    this.term = state.hardState.term;
    this.vote = state.hardState.vote;
    this.log = new RaftLog({
      snapshotIndex: state.compactedIndex,
      snapshotTerm: state.compactedTerm,
      entries: state.entries,
      committed: state.hardState.commit,
      applied: state.applied,
    });
    const storedSpan = this.cfg.overrideSpan;
    // Started with an override: entries after our commit may be committed under it.
    this.overrideSpanValue = this.override > 0 && (storedSpan === null || storedSpan.to !== 0) ? nextOverrideSpan(storedSpan, 0, this.override, this.log.committed, this.log.lastIndex()) : storedSpan;
    this.prevHardState = state.hardState;
    this.durableTerm = state.hardState.term;
    this.durableVote = state.hardState.vote;
    this.prevSoftState = this.softState();
    this.resetRandomizedElectionTimeout();
  }

  msg(type: MessageType, to: NodeId): Message {
    return emptyMessage(type, this.id, to, this.term);
  }

  send(m: Message): void {
    this.outbox.push(m);
  }

  record(from: HistoryEntry['from'], event: HistoryEvent, to: HistoryEntry['to'], detail: string): void {
    this.history.record({ at: this.nowMs, from, event, to, term: this.term, detail });
  }

  quorum(): number {
    return quorumSize(this.electableGroupSize(), this.override);
  }

  electableGroupSize(): number {
    return electableIds(this.group).length;
  }

  /** Electable, not removed, priority > 0. */
  promotable(): boolean {
    const me = findMember(this.group, this.id);
    return me !== undefined && !me.removed && me.type === 'electable' && me.priority > 0;
  }

  softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = randomInt(this.cfg.random, this.cfg.electionTicks, 2 * this.cfg.electionTicks);
  }
}
