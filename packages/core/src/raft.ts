// The consensus state machine. Pure and deterministic: every input is a method call
// (step, tick, propose, ...), every output accumulates until the driver takes it with
// ready() and acknowledges it with advance(). No I/O, no timers, no clock, no ambient randomness.
import { resolveConfig, type RaftConfig, type ResolvedConfig } from './config.js';
import { assert, ConfChangeError, ConfChangePendingError, InvalidArgumentError, NotLeaderError, ProposalDroppedError, RequestTooLargeError } from './errors.js';
import { activeMembers, applyConfChange, checkConfChange, confChangeRefusal, electableIds, findMember, isElectable } from './group.js';
import { checkCommitted, mergeLeaderSpan, nextOverrideSpan, overrideContext, parseOverrideContext, spanOverlaps, type Divergence, type OverrideSpan } from './divergence.js';
import { ElectionHistory, historyRole, type ElectionCounters, type HistoryEntry, type HistoryEvent } from './history.js';
import { entrySizeBytes, RaftLog } from './log.js';
import { Progress, type ProgressState } from './progress.js';
import { ackIndex, effectiveGroupSize, overrideRefusal, quorumIndex, quorumSize, validateOverride, voteResult } from './quorum.js';
import { ReadOnlyQueue, type PendingRead } from './read-only.js';
import { HeartbeatRounds } from './lease.js';
import { randomInt } from './random.js';
import {
  emptyMessage,
  type AckPolicy,
  type ConfChange,
  type Entry,
  type GroupMetadata,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type SnapshotMeta,
  type SoftState,
} from './types.js';

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

export interface OverrideChange {
  readonly previous: number;
  readonly current: number;
  readonly electableGroupSize: number;
}

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

const TRANSFER_CONTEXT = 'transfer';
/** appResp context of a follower that needs a snapshot to roll back its diverged state. */
const SNAPSHOT_REQUEST_CONTEXT = 'snapshot';
/** appResp context of a follower that refused to truncate committed entries. */
const DIVERGED_CONTEXT = 'diverged';

export class RaftNode {
  readonly id: NodeId;
  private readonly cfg: ResolvedConfig;
  private readonly log: RaftLog;
  private group: GroupMetadata;

  private term: number;
  private vote: NodeId;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private override: number;

  private ticks = 0;
  private nowMs: number;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private readonly progress = new Map<NodeId, Progress>();
  /** Peers to send appends to at the next ready(); the value says whether an empty append is wanted. */
  private readonly dirty = new Map<NodeId, boolean>();
  private readonly votes = new Map<NodeId, boolean>();
  private leadTransferee: NodeId | null = null;
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private readonly readOnly: ReadOnlyQueue;
  /**
   * ReadIndex batching, as etcd's server does it: one heartbeat round for reads at a time. Reads
   * that arrive while it is out wait for it to end; the next round (at the next ready(), with
   * the newest read's context) then confirms all of them at once.
   */
  private readRoundWanted = false;
  private readRoundOut = false;
  /** Reads that arrived before the leader committed an entry of its term. */
  private readsAwaitingCommit: PendingRead[] = [];
  private divergence: Divergence | null = null;
  private rollbackRequested = false;
  /** Send times of heartbeat rounds: the lease counts each ack from its heartbeat's send. */
  private readonly heartbeatRounds = new HeartbeatRounds();
  /** Tick of the last timeoutNow sent: its target may win at once, so no lease for a while. */
  private timeoutNowTick = -Infinity;
  /**
   * A restarted node refuses votes (but a transfer's) until this tick: before the restart it
   * may have acked a leader whose lease still runs, and it no longer knows that leader.
   */
  private readonly refuseVotesUntilTick: number;
  /** Lowest committed index at which the current leader's probe disagreed with us (0: none). */
  private committedMismatch = 0;
  /** The leader that sent that probe, and its override span. */
  private mismatchLeader: { id: NodeId; term: number; override: OverrideSpan | null } | null = null;
  /** Indexes this node may have committed under an override (durable through the driver). */
  private overrideSpanValue: OverrideSpan | null;

  private outbox: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Ready | null = null;
  /** Term and vote known durable (persisted()); messages under newer ones wait for their write. */
  private durableTerm: number;
  private durableVote: NodeId;
  private readonly history: ElectionHistory;

  private constructor(config: RaftConfig, state: DurableState, restarted = false) {
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
    this.campaignIfSoleVoter();
  }

  /**
   * A new group: every member starts from the same metadata, written into the log as one
   * committed `addElectable` entry per member (sorted by id, so every node writes the same
   * entries), so that the log alone tells a later joiner the whole membership history.
   */
  static bootstrap(config: RaftConfig, group: GroupMetadata): RaftNode {
    resolveConfig(config);
    const members = [...activeMembers(group)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (!members.some((m) => m.id === config.id)) {
      throw new InvalidArgumentError(`this node's id '${config.id}' is not among the bootstrap members (${members.map((m) => m.id).join(', ')})`);
    }
    const entries: Entry[] = members.map((m, i) => ({
      index: i + 1,
      term: 1,
      type: 'conf',
      data: new Uint8Array(0),
      change: m.type === 'electable'
        ? { op: 'addElectable', id: m.id, address: m.address, priority: m.priority }
        : { op: 'addSecondary', id: m.id, address: m.address, priority: m.priority },
    }));
    const node = new RaftNode(config, {
      hardState: { term: 0, vote: '', commit: 0 },
      group: { groupId: group.groupId, members: [] },
      compactedIndex: 0,
      compactedTerm: 0,
      entries: [],
      applied: 0,
    });
    node.log.appendLocal(entries);
    node.term = 1;
    node.log.commitTo(entries.length);
    return node;
  }

  /** A node restarting from its data directory. */
  static restore(config: RaftConfig, state: DurableState): RaftNode {
    return new RaftNode(config, state, true);
  }

  /** A new member with an empty data directory; it learns the group from the leader. */
  static join(config: RaftConfig, groupId: string): RaftNode {
    return new RaftNode(config, {
      hardState: { term: 0, vote: '', commit: 0 },
      group: { groupId, members: [] },
      compactedIndex: 0,
      compactedTerm: 0,
      entries: [],
      applied: 0,
    });
  }

  // ---------------------------------------------------------------- quorum

  private electableGroupSize(): number {
    return electableIds(this.group).length;
  }

  private quorum(): number {
    return quorumSize(this.electableGroupSize(), this.override);
  }

  /** Electable, not removed, priority > 0. */
  private promotable(): boolean {
    const me = findMember(this.group, this.id);
    return me !== undefined && !me.removed && me.type === 'electable' && me.priority > 0;
  }

  // ---------------------------------------------------------------- inputs

  /** One unit of logical time. `nowMs` (optional) is the driver's clock (see setNow). */
  tick(nowMs?: number): void {
    if (nowMs !== undefined) this.setNow(nowMs);
    this.ticks++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      if (this.promotable()) this.hup('ELECTION_TIMEOUT', false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null, 'CHECK_QUORUM_LOST');
        return;
      }
      if (this.leadTransferee !== null) {
        const target = this.leadTransferee;
        this.leadTransferee = null;
        this.record('LEADER', 'TRANSFER_ABORTED', 'LEADER', `transfer to ${target} timed out`);
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.readOnly.newestContext() ?? '');
    }
  }

  /**
   * The driver's clock, in ms. It stamps the election history and times the read lease; a
   * driver with lease reads sets it before each step and read. It never goes backwards.
   */
  setNow(nowMs: number): void {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
  }

  /** Starts an election now (as if the election timeout fired), if this node may campaign. */
  campaign(): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) throw new InvalidArgumentError(`node ${this.id} may not campaign: it is not an electable member with priority > 0`);
    this.hup('CAMPAIGN_REQUESTED', false);
  }

  /** Proposes application data; returns where it will be committed, if it is. Leader only. */
  propose(data: Uint8Array): { index: number; term: number } {
    this.checkCanPropose();
    // Bounds every entry, hence every append (see maxMsgBytes): nothing the transport refuses.
    if (data.byteLength > this.cfg.maxProposalBytes) throw new RequestTooLargeError(data.byteLength, this.cfg.maxProposalBytes, 'the proposal');
    const size = data.byteLength + 24;
    if (this.uncommittedBytes + size > this.cfg.maxUncommittedBytes && this.uncommittedBytes > 0) {
      throw new ProposalDroppedError(`the leader's uncommitted log exceeds ${this.cfg.maxUncommittedBytes} bytes; retry once writes commit`);
    }
    return this.appendAsLeader('normal', data);
  }

  /**
   * Proposes one membership change. One at a time: refused while another is unapplied.
   * Growing E while this leader runs with an override is refused unless `force` (see
   * overrideRefusal).
   */
  proposeConfChange(change: ConfChange, opts: { force?: boolean } = {}): { index: number; term: number } {
    checkConfChange(change);
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.applying) {
      throw new ConfChangePendingError(this.pendingConfIndex);
    }
    const refusal = confChangeRefusal(this.group, change) ?? (opts.force === true ? null : overrideRefusal(this.id, this.override, this.electableGroupSize(), change));
    if (refusal) throw new ConfChangeError(refusal);
    const at = this.appendAsLeader('conf', new Uint8Array(0), change);
    this.pendingConfIndex = at.index;
    return at;
  }

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader);
    if (this.leadTransferee !== null) {
      throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}; retry on the new leader`);
    }
  }

  private appendAsLeader(type: Entry['type'], data: Uint8Array, change?: ConfChange): { index: number; term: number } {
    const entry: Entry = change
      ? { index: this.log.lastIndex() + 1, term: this.term, type, data, change }
      : { index: this.log.lastIndex() + 1, term: this.term, type, data };
    this.log.appendLocal([entry]);
    this.uncommittedBytes += entrySizeBytes(entry);
    for (const id of this.progress.keys()) this.markDirty(id, false);
    return { index: entry.index, term: entry.term };
  }

  /**
   * Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE. Local and never replicated. 0 turns it off.
   * Larger than the electable group size is refused unless `force`.
   */
  setElectableGroupSizeOverride(n: number, opts: { force?: boolean } = {}): OverrideChange {
    const e = this.electableGroupSize();
    validateOverride(n, e, opts.force === true);
    const previous = this.override;
    this.override = n;
    this.overrideSpanValue = nextOverrideSpan(this.overrideSpanValue, previous, n, this.log.committed, this.log.lastIndex());
    const role = historyRole(this.role);
    this.record(role, 'OVERRIDE_SET', role, `override ${previous} -> ${n} (electable group size ${e})`);
    if (this.role === 'leader') {
      if (this.maybeCommit()) this.markAllDirty(true);
    } else if (this.role === 'candidate' || this.role === 'preCandidate') {
      this.pollVotes();
    }
    return { previous, current: n, electableGroupSize: e };
  }

  /** Hands leadership to `target` once it has caught up (JE's transferMaster, etcd's MsgTransferLeader). */
  transferLeadership(target: NodeId): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader);
    if (target === this.id) return;
    const m = findMember(this.group, target);
    if (!m || m.removed || m.type !== 'electable') throw new InvalidArgumentError(`cannot transfer leadership to ${target}: not an electable member`);
    if (m.priority === 0) throw new InvalidArgumentError(`cannot transfer leadership to ${target}: its priority is 0, so it never campaigns`);
    if (this.leadTransferee === target) return;
    this.leadTransferee = target;
    this.electionElapsed = 0;
    const pr = this.progress.get(target)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.markDirty(target, true);
  }

  /** OpenIO's `election leave`: drop out of the current election or leadership and start over. */
  leaveElection(): void {
    this.becomeFollower(this.term, null, 'LEAVE_REQUESTED');
  }

  /**
   * Requests a linearizable read point for `context` (unique per request). The answer comes
   * as a ReadState in a later Ready. `lease` lets a leader answer at once while check-quorum
   * holds its lease (JE/etcd lease reads: relies on bounded clock drift).
   */
  readIndex(context: string, opts: { lease?: boolean } = {}): void {
    if (typeof context !== 'string' || context.length === 0) throw new InvalidArgumentError('read context must be a non-empty string');
    if (this.role === 'leader') {
      const refusal = this.handleReadRequest(context, this.id, opts.lease === true);
      if (refusal) throw new ProposalDroppedError(`read refused: ${refusal}`);
      return;
    }
    if (this.role !== 'follower' || this.leader === null) throw new NotLeaderError(this.leader);
    const m = this.msg('readIndex', this.leader);
    m.context = context;
    this.send(m);
  }

  /**
   * The driver accepts rolling back the divergence it was told about: the next append from
   * the leader is answered with a snapshot request, and that snapshot replaces this node's
   * state, committed entries included. Throws if there is no divergence.
   */
  requestRollback(): Divergence {
    if (this.divergence === null) throw new InvalidArgumentError(`node ${this.id} has no diverged entries to roll back`);
    this.rollbackRequested = true;
    return this.divergence;
  }

  /** The driver refused to roll back a divergence (over the limit, or not from an override): recorded in the history. */
  noteRollbackRefused(detail: string): void {
    this.record(historyRole(this.role), 'ROLLBACK_PROHIBITED', historyRole(this.role), detail);
  }

  /** Indexes this node may have committed under an override; the driver stores it when it changes. */
  get overrideSpan(): OverrideSpan | null {
    return this.overrideSpanValue;
  }

  /** The override span this node would have with override `n` set now (what the driver stores first). */
  overrideSpanAfter(n: number): OverrideSpan | null {
    return nextOverrideSpan(this.overrideSpanValue, this.override, n, this.log.committed, this.log.lastIndex());
  }

  /** The divergence a leader exposed, if any (see Divergence). */
  get currentDivergence(): Divergence | null {
    return this.divergence;
  }

  /** The transport could not reach `id`: stop streaming to it optimistically. */
  reportUnreachable(id: NodeId): void {
    const pr = this.progress.get(id);
    if (this.role === 'leader' && pr?.state === 'replicate') pr.becomeProbe();
  }

  /** The driver finished (or failed) streaming a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean, snapshotIndex = 0): void {
    const pr = this.progress.get(id);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    pr.becomeProbe();
    // Only the follower's own answer may move `match`: it can still crash before persisting.
    if (ok) pr.next = Math.max(pr.next, Math.min(snapshotIndex, this.log.lastIndex()) + 1);
    // Wait for the follower's answer (or the next heartbeat) before probing again.
    pr.probeSent = true;
  }

  /** Drops log entries up to `index` (applied and durable) once the driver has a snapshot covering them. */
  compact(index: number): void {
    this.log.compact(index);
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease =
          this.cfg.checkQuorum && ((this.leader !== null && this.electionElapsed < this.cfg.electionTicks) || this.ticks < this.refuseVotesUntilTick);
        // A node that hears from a live leader ignores disruptive candidates (thesis 4.2.3);
        // so does one that just started, for the lease of a leader it may have acked.
        if (inLease && !force) return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes carry a future term; they change nothing here.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from, 'HIGHER_TERM');
      } else {
        this.becomeFollower(m.term, null, 'HIGHER_TERM');
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // Tell a stale leader about the newer term so it steps down.
        this.send(this.msg('appResp', m.from));
      } else if (m.type === 'preVote') {
        const r = this.msg('preVoteResp', m.from);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === 'preVote';
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.leader === null) ||
      (isPre && m.term > this.term);
    const resp = this.msg(isPre ? 'preVoteResp' : 'voteResp', m.from);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted vote answers in the candidate's term; a pre-vote must not change ours.
      resp.term = m.term;
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      this.history.counters.votesGranted++;
    } else {
      resp.reject = true;
      this.history.counters.votesRefused++;
    }
    this.send(resp);
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'appResp': {
        if (!pr) return;
        pr.lastHeardTick = this.ticks;
        if (m.reject && m.context === SNAPSHOT_REQUEST_CONTEXT) {
          pr.diverged = false;
          if (pr.state !== 'snapshot') this.sendSnapshot(m.from, pr);
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
          if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
          if (pr.maybeDecrTo(m.index, hint)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.markDirty(m.from, false);
          }
          return;
        }
        const oldPaused = pr.isPaused();
        pr.diverged = false;
        if (pr.maybeUpdate(m.index)) {
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match >= this.log.firstIndex() - 1) pr.becomeProbe();
          else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
          if (this.maybeCommit()) this.markAllDirty(true);
          else if (oldPaused) this.markDirty(m.from, false);
          if (pr.match < this.log.lastIndex()) this.markDirty(m.from, false);
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        }
        return;
      }
      case 'heartbeatResp': {
        if (!pr) return;
        pr.lastHeardTick = this.ticks;
        const sentAtMs = this.heartbeatRounds.sentAt(m.index);
        if (sentAtMs !== undefined && sentAtMs > pr.leaseAckSentAtMs) pr.leaseAckSentAtMs = sentAtMs;
        pr.probeSent = false;
        // Appends in a full window may have been lost: free one slot so replication retries.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        // Even an empty append exposes a gap left by a lost append (its prev index mismatches).
        if (pr.match < this.log.lastIndex()) this.markDirty(m.from, true);
        if (m.context) this.handleReadAck(m.context, m.from);
        return;
      }
      case 'readIndex':
        this.handleReadRequest(m.context, m.from, false);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        // A leader exists in our term: we lost this election.
        this.becomeFollower(m.term, m.from, 'LEADER_SEEN');
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp':
        if ((m.type === 'preVoteResp') !== (this.role === 'preCandidate')) return;
        if (!isElectable(this.group, m.from)) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        this.pollVotes();
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat': {
        this.heardFromLeader(m.from);
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        const r = this.msg('heartbeatResp', m.from);
        r.context = m.context;
        r.index = m.index; // the heartbeat's round: the leader's lease counts from its send time
        this.send(r);
        return;
      }
      case 'snap':
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        if (this.promotable()) this.hup('TIMEOUT_NOW', true);
        return;
      case 'readIndexResp':
        if (!m.reject) this.readStates.push({ index: m.index, context: m.context });
        return;
      case 'readIndex':
        // We are not the leader: the requester will time out and retry on the right node.
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.history.counters.lastLeaderContactAt = this.nowMs;
    if (this.leader !== from) {
      this.leader = from;
      this.history.counters.leaderChanges++;
      this.record('FOLLOWER', 'LEADER_FOUND', 'FOLLOWER', from);
    }
  }

  private handleAppend(m: Message): void {
    const resp = this.msg('appResp', m.from);
    if (this.rollbackRequested) {
      // Rolling back: our committed state must be replaced whole by the leader's snapshot.
      resp.reject = true;
      resp.index = m.index;
      resp.rejectHint = Math.min(m.index, this.log.lastIndex());
      resp.context = SNAPSHOT_REQUEST_CONTEXT;
      this.send(resp);
      return;
    }
    // Never truncate what this node has committed: that only happens when the override was
    // used (or storage was damaged). Find where the logs really part, then report (JE hard recovery).
    const check = checkCommitted(this.log, m.index, m.logTerm, m.entries);
    if (check.kind === 'ok' && this.divergence !== null) {
      // A leader whose log holds our last committed entry proves there is no divergence after all.
      if (m.index >= this.log.committed && this.log.matchTerm(m.index, m.logTerm)) this.clearDivergence();
      else if (this.divergence.leader === m.from) {
        this.refuseDiverged(resp, m);
        return;
      }
    }
    if (check.kind === 'diverged') {
      this.noteDivergence(m, check.index, true);
      this.refuseDiverged(resp, m);
      return;
    }
    if (check.kind === 'mismatch') {
      // Back off like any conflict: the leader probes lower until its entry matches ours.
      if (this.committedMismatch === 0 || check.index < this.committedMismatch) this.committedMismatch = check.index;
      this.mismatchLeader = { id: m.from, term: m.term, override: parseOverrideContext(m.context) };
      const hintIndex = this.log.findConflictByTerm(check.index - 1, m.logTerm);
      resp.reject = true;
      resp.index = m.index;
      resp.rejectHint = hintIndex;
      resp.logTerm = this.log.term(hintIndex) ?? 0;
      this.send(resp);
      return;
    }
    if (m.index < this.log.committed) {
      // Answer only what this append showed to match: under an override, committed entries
      // beyond it are not known to be the leader's.
      resp.index = Math.min(this.log.committed, m.index + m.entries.length);
      this.send(resp);
      return;
    }
    if (!this.log.matchTerm(m.index, m.logTerm)) {
      // Never below our commit index at first: the leader then probes it, so a divergence of
      // committed entries shows up while the leader still holds them (not only in a snapshot).
      const hintIndex = Math.max(this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm), Math.min(this.log.committed, m.index - 1));
      resp.reject = true;
      resp.index = m.index;
      resp.rejectHint = hintIndex;
      resp.logTerm = this.log.term(hintIndex) ?? 0;
      this.send(resp);
      return;
    }
    const lastNew = this.log.appendFromLeader(m.index, m.entries);
    const before = this.log.committed;
    this.log.commitTo(Math.min(m.commit, lastNew));
    this.noteLeaderSpan(m, before);
    resp.index = lastNew;
    this.send(resp);
  }

  /**
   * Entries we just committed under a leader's override are recorded in our own span (the
   * driver stores it before the commit): otherwise, after a split brain, this node could not
   * tell them from damaged data when the other side's leader asks it to give them up.
   */
  private noteLeaderSpan(m: Message, before: number): void {
    if (this.log.committed <= before || m.context === '') return;
    this.overrideSpanValue = mergeLeaderSpan(this.overrideSpanValue, parseOverrideContext(m.context), before, this.log.committed);
  }

  private refuseDiverged(resp: Message, m: Message): void {
    resp.reject = true;
    resp.index = m.index;
    resp.rejectHint = Math.min(m.index, this.log.committed);
    resp.logTerm = this.log.term(resp.rejectHint) ?? 0;
    resp.context = DIVERGED_CONTEXT;
    this.send(resp);
  }

  private clearDivergence(): void {
    this.divergence = null;
    this.committedMismatch = 0;
    this.mismatchLeader = null;
  }

  /**
   * Whether committed entries we still hold may differ from a leader's that can no longer
   * show its own (it compacted them): only if either of us ran with an override since.
   */
  private mayHaveDiverged(leaderOverride: OverrideSpan | null): boolean {
    const first = this.log.firstIndex();
    if (this.log.committed < first) return false;
    return spanOverlaps(this.overrideSpanValue, first, this.log.committed) || spanOverlaps(leaderOverride, first, Infinity);
  }

  /**
   * The lowest index at which our committed entries may differ when the leader can no longer
   * show where the logs part: entries committed before either side set an override were
   * committed by a true majority, so they are the same on both sides.
   */
  private divergenceLowerBound(leaderOverride: OverrideSpan | null): number {
    const spansFrom = Math.min(this.overrideSpanValue?.from ?? Infinity, leaderOverride?.from ?? Infinity);
    const upper = this.committedMismatch > 0 ? this.committedMismatch : this.log.committed;
    return Math.min(upper, Math.max(this.log.firstIndex(), spansFrom === Infinity ? 0 : spansFrom));
  }

  private noteDivergence(m: Message, index: number, exact: boolean): void {
    const d = this.divergence;
    if (d === null || d.index !== index || d.term !== m.term || d.leader !== m.from) {
      const leaderOverride = parseOverrideContext(m.context) ?? (this.mismatchLeader?.id === m.from ? this.mismatchLeader.override : null);
      this.divergence = { index, leader: m.from, term: m.term, committed: this.log.committed, exact, leaderOverride };
      this.record('FOLLOWER', 'DIVERGED', 'FOLLOWER', `from leader ${m.from} (term ${m.term}) at index ${index}${exact ? '' : ' or earlier'}: committed [${index}, ${this.log.committed}] differ`);
    }
  }

  private handleSnapshot(m: Message): void {
    const meta = m.snapshot;
    const resp = this.msg('appResp', m.from);
    if (!meta) {
      resp.index = this.log.committed;
      this.send(resp);
      return;
    }
    // After a rollback every entry we hold is the leader's: its span counts from the start.
    const before = this.rollbackRequested ? 0 : this.log.committed;
    if (this.rollbackRequested) {
      // JE hard recovery: replace everything, committed entries included, with the leader's state.
      const lost = this.divergence;
      this.log.restore(meta);
      this.group = meta.group;
      this.pendingConfIndex = 0;
      this.rollbackRequested = false;
      this.clearDivergence();
      this.record('FOLLOWER', 'ROLLED_BACK', 'FOLLOWER', `to index ${meta.index} term ${meta.term}${lost ? `; lost [${lost.index}, ${lost.committed}]` : ''}`);
      resp.index = meta.index;
    } else if (this.log.matchTerm(meta.index, meta.term)) {
      // Our entry at the snapshot's index is the leader's, hence so is everything before it.
      this.log.commitTo(meta.index);
      if (meta.index >= this.log.committed) this.clearDivergence();
      resp.index = this.divergence === null && this.committedMismatch === 0 ? this.log.committed : meta.index;
    } else if (this.divergence !== null || this.committedMismatch > 0 || (meta.index > this.log.committed && this.mayHaveDiverged(parseOverrideContext(m.context)))) {
      // Installing it would discard committed entries that differ (or, with an override on
      // either side, may differ) from the leader's: never without a rollback under the rules
      // (report first, within the limit or accepted).
      if (this.divergence === null) {
        const leaderOverride = parseOverrideContext(m.context) ?? this.mismatchLeader?.override ?? null;
        this.noteDivergence(m, this.divergenceLowerBound(leaderOverride), false);
      }
      this.refuseDiverged(resp, m);
      return;
    } else if (meta.index <= this.log.committed) {
      resp.index = this.log.committed;
    } else {
      this.log.restore(meta);
      this.group = meta.group;
      this.pendingConfIndex = 0;
      this.record('FOLLOWER', 'SNAPSHOT_INSTALLED', 'FOLLOWER', `index ${meta.index} term ${meta.term}`);
      resp.index = meta.index;
    }
    this.noteLeaderSpan(m, before);
    this.send(resp);
  }

  // ---------------------------------------------------------------- elections

  private hup(event: HistoryEvent, transfer: boolean): void {
    if (this.role === 'leader') return;
    if (this.hasUnappliedConfChange()) return;
    if (this.role === 'candidate') this.history.counters.electionsLost++;
    if (this.cfg.preVote && !transfer) this.becomePreCandidate(event);
    else this.becomeCandidate(event, transfer);
  }

  /**
   * The only electable member, able to win on its own vote, wins at once: nobody else can
   * lead, so waiting an election timeout only delays the first write (an embedded
   * single-member store opens in milliseconds). The pre-vote and vote still run, and are
   * recorded, as in any election.
   */
  private campaignIfSoleVoter(): void {
    // A leader we still know of cannot be legitimate: it is not electable (removed).
    if (this.role === 'leader' || !this.promotable()) return;
    const electable = electableIds(this.group);
    if (electable.length !== 1 || electable[0] !== this.id || this.quorum() !== 1) return;
    this.hup('SOLE_VOTER', false);
  }

  private hasUnappliedConfChange(): boolean {
    for (let i = this.log.applying + 1; i <= this.log.committed; i++) {
      if (this.log.entryAt(i)?.type === 'conf') return true;
    }
    return false;
  }

  private becomePreCandidate(event: HistoryEvent): void {
    const from = this.role;
    this.role = 'preCandidate';
    this.leader = null;
    this.votes.clear();
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.history.counters.preVotesStarted++;
    this.record(historyRole(from), event, 'PRE_CANDIDATE', `term ${this.term + 1}`);
    this.votes.set(this.id, true);
    this.requestVotes('preVote', this.term + 1, '');
    this.pollVotes();
  }

  private becomeCandidate(event: HistoryEvent, transfer: boolean): void {
    const from = this.role;
    this.reset(this.term + 1);
    this.role = 'candidate';
    this.vote = this.id;
    this.history.counters.electionsStarted++;
    this.record(historyRole(from), event, 'CANDIDATE', `term ${this.term}`);
    this.votes.set(this.id, true);
    this.requestVotes('vote', this.term, transfer ? TRANSFER_CONTEXT : '');
    this.pollVotes();
  }

  private requestVotes(type: 'vote' | 'preVote', term: number, context: string): void {
    for (const id of electableIds(this.group)) {
      if (id === this.id) continue;
      const m = this.msg(type, id);
      m.term = term;
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      m.context = context;
      this.send(m);
    }
  }

  private pollVotes(): void {
    let granted = 0;
    let rejected = 0;
    for (const [id, g] of this.votes) {
      if (!isElectable(this.group, id)) continue;
      if (g) granted++;
      else rejected++;
    }
    const result = voteResult(granted, rejected, this.electableGroupSize(), this.quorum());
    if (result === 'pending') return;
    if (this.role === 'preCandidate') {
      if (result === 'won') this.becomeCandidate('PREVOTE_GRANTED', false);
      else {
        this.history.counters.preVotesRejected++;
        this.becomeFollower(this.term, null, 'PREVOTE_REJECTED');
      }
    } else if (this.role === 'candidate') {
      if (result === 'won') {
        this.history.counters.electionsWon++;
        this.becomeLeader();
      } else {
        this.becomeFollower(this.term, null, 'VOTE_REJECTED');
      }
    }
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    this.dirty.clear();
    this.progress.clear();
    this.readOnly.clear();
    this.readRoundOut = false;
    this.readRoundWanted = false;
    this.readsAwaitingCommit = [];
  }

  private becomeFollower(term: number, leader: NodeId | null, event: HistoryEvent): void {
    const from = this.role;
    const termChanged = term !== this.term;
    if (from === 'candidate') this.history.counters.electionsLost++;
    // A leader heard a leader (itself) until now: its old "last heard" would read as minutes.
    if (from === 'leader') this.history.counters.lastLeaderContactAt = this.nowMs;
    this.reset(term);
    this.role = 'follower';
    if (leader !== null) {
      this.leader = leader;
      this.history.counters.leaderChanges++;
      this.history.counters.lastLeaderContactAt = this.nowMs;
    }
    if (from !== 'follower' || termChanged || event === 'LEAVE_REQUESTED') {
      this.record(historyRole(from), event, 'FOLLOWER', leader !== null ? `term ${term} leader ${leader}` : `term ${term}`);
    }
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.role = 'leader';
    this.leader = this.id;
    this.history.counters.leaderChanges++;
    this.record('CANDIDATE', 'VOTE_QUORUM', 'LEADER', `term ${this.term}`);
    this.progress.clear();
    for (const m of activeMembers(this.group)) {
      if (m.id !== this.id) this.addProgress(m.id);
    }
    // Conservatively: no membership change until everything in our log is applied.
    this.pendingConfIndex = this.log.lastIndex();
    this.uncommittedBytes = 0;
    this.appendAsLeader('noop', new Uint8Array(0));
    this.markAllDirty(true);
  }

  private addProgress(id: NodeId): void {
    const pr = new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMsgs);
    pr.lastHeardTick = this.ticks; // a grace period of one election timeout before check-quorum counts it out
    this.progress.set(id, pr);
  }

  // ---------------------------------------------------------------- replication

  private markDirty(id: NodeId, sendIfEmpty: boolean): void {
    this.dirty.set(id, (this.dirty.get(id) ?? false) || sendIfEmpty);
  }

  private markAllDirty(sendIfEmpty: boolean): void {
    for (const id of this.progress.keys()) this.markDirty(id, sendIfEmpty);
  }

  private flushAppends(): void {
    if (this.role !== 'leader') {
      this.dirty.clear();
      return;
    }
    for (const [id, sendIfEmpty] of this.dirty) this.sendAppend(id, sendIfEmpty);
    this.dirty.clear();
  }

  /** Sends as many appends as the window allows (pipelining), or a snapshot request. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): void {
    const pr = this.progress.get(to);
    if (!pr) return;
    let first = true;
    // Bounded by the inflight window: each loop either sends or stops.
    for (let round = 0; round <= this.cfg.maxInflightMsgs; round++) {
      if (pr.isPaused()) return;
      let prevIndex = pr.next - 1;
      let prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined && pr.diverged) {
        // A snapshot would only be refused: probe at our compaction point, where a follower
        // that accepted the rollback asks for the snapshot.
        prevIndex = this.log.firstIndex() - 1;
        prevTerm = this.log.term(prevIndex)!;
        const m = this.msg('app', to);
        m.index = prevIndex;
        m.logTerm = prevTerm;
        m.commit = this.log.committed;
        m.context = overrideContext(this.overrideSpanValue);
        this.send(m);
        pr.probeSent = true;
        return;
      }
      if (prevTerm === undefined) {
        this.sendSnapshot(to, pr);
        return;
      }
      const last = this.log.lastIndex();
      const entries = pr.next <= last ? this.log.slice(pr.next, last + 1, this.cfg.maxMsgBytes) : [];
      if (entries.length === 0 && !(first && sendIfEmpty)) return;
      const m = this.msg('app', to);
      m.index = prevIndex;
      m.logTerm = prevTerm;
      m.entries = entries;
      m.commit = this.log.committed;
      m.context = overrideContext(this.overrideSpanValue);
      this.send(m);
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
  private sendSnapshot(to: NodeId, pr: Progress): void {
    pr.becomeSnapshot();
    const m = this.msg('snap', to);
    m.index = this.log.firstIndex() - 1;
    m.context = overrideContext(this.overrideSpanValue);
    this.send(m);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.timeoutNowTick = this.ticks;
    this.send(this.msg('timeoutNow', to));
  }

  private broadcastReadRound(): void {
    this.readRoundWanted = false;
    const context = this.readOnly.newestContext();
    if (context === null) return; // released meanwhile (by a periodic heartbeat's acks)
    this.readRoundOut = true;
    this.broadcastHeartbeat(context);
  }

  private broadcastHeartbeat(context: string): void {
    const round = this.heartbeatRounds.next(this.nowMs);
    for (const [id, pr] of this.progress) {
      const m = this.msg('heartbeat', id);
      m.commit = Math.min(pr.match, this.log.committed);
      m.context = context;
      m.index = round;
      this.send(m);
    }
  }

  /** Leader: advances the commit index to what the commit quorum has durably; current-term entries only. */
  private maybeCommit(): boolean {
    const matches = electableIds(this.group).map((id) => (id === this.id ? this.log.stableIndex : this.progress.get(id)?.match ?? 0));
    const idx = quorumIndex(matches, this.quorum());
    if (idx <= this.log.committed || this.log.term(idx) !== this.term) return false;
    for (let i = this.log.committed + 1; i <= idx; i++) {
      const e = this.log.entryAt(i);
      if (e) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entrySizeBytes(e));
    }
    this.log.commitTo(idx);
    this.releaseReadsAwaitingCommit();
    return true;
  }

  /**
   * The read lease, in the driver's (monotonic) time rather than ticks: a leader paused for a
   * while must not trust what it heard before the pause, however few ticks it has run since.
   * Each ack counts from its heartbeat's send time. No lease while leadership may be moving:
   * the transfer target's vote requests pass the followers' lease check.
   */
  private leaseHolds(): boolean {
    if (this.cfg.leaseMs <= 0 || !this.cfg.checkQuorum) return false;
    if (this.leadTransferee !== null || this.ticks - this.timeoutNowTick < this.cfg.electionTicks) return false;
    let fresh = 0;
    for (const id of electableIds(this.group)) {
      if (id === this.id) fresh++;
      else {
        const pr = this.progress.get(id);
        if (pr && this.nowMs - pr.leaseAckSentAtMs < this.cfg.leaseMs) fresh++;
      }
    }
    return fresh >= this.quorum();
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of electableIds(this.group)) {
      if (id === this.id) active++;
      else {
        const pr = this.progress.get(id);
        if (pr && this.ticks - pr.lastHeardTick < this.cfg.electionTicks) active++;
      }
    }
    return active >= this.quorum();
  }

  // ---------------------------------------------------------------- reads

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Queues or answers a read; returns why it was refused, or null. */
  private handleReadRequest(context: string, from: NodeId, lease: boolean): string | null {
    const read: PendingRead = { context, index: 0, from, acks: new Set([this.id]) };
    if (!this.committedInCurrentTerm()) {
      if (this.readsAwaitingCommit.length >= this.cfg.maxPendingReads) return this.refuseRead(read, 'too many reads wait for the new leader to commit');
      this.readsAwaitingCommit.push(read);
      return null;
    }
    const index = this.log.committed;
    if (this.quorum() <= 1 || (lease && this.leaseHolds())) {
      this.answerRead({ ...read, index });
      return null;
    }
    if (this.readOnly.full()) return this.refuseRead(read, 'too many reads pending');
    this.readOnly.add({ ...read, index });
    // Its quorum of acks releases every read queued before its context (releaseThrough).
    if (this.readRoundOut) this.readRoundWanted = true;
    else this.broadcastReadRound();
    return null;
  }

  private releaseReadsAwaitingCommit(): void {
    const waiting = this.readsAwaitingCommit;
    if (waiting.length === 0) return;
    this.readsAwaitingCommit = [];
    // A refused read of our own is dropped here; its caller's deadline reports it.
    for (const r of waiting) this.handleReadRequest(r.context, r.from, false);
  }

  private handleReadAck(context: string, from: NodeId): void {
    if (!isElectable(this.group, from)) return;
    const acks = this.readOnly.ack(context, from);
    if (!acks) return;
    let electableAcks = 0;
    for (const id of acks) if (isElectable(this.group, id)) electableAcks++;
    if (electableAcks < this.quorum()) return;
    for (const r of this.readOnly.releaseThrough(context)) this.answerRead(r);
    this.readRoundOut = false;
    // The reads that came meanwhile: their round goes at the next ready().
    this.readRoundWanted = this.readOnly.length > 0;
  }

  private answerRead(r: PendingRead): void {
    if (r.from === this.id) {
      this.readStates.push({ index: r.index, context: r.context });
      return;
    }
    const m = this.msg('readIndexResp', r.from);
    m.index = r.index;
    m.context = r.context;
    this.send(m);
  }

  private refuseRead(r: PendingRead, why: string): string {
    if (r.from !== this.id) {
      const m = this.msg('readIndexResp', r.from);
      m.reject = true;
      m.context = r.context;
      this.send(m);
    }
    return why;
  }

  // ---------------------------------------------------------------- membership

  /** A committed conf entry is handed to the driver: it takes effect here and now (etcd's model). */
  private applyConf(e: Entry): void {
    const change = e.change;
    assert(change !== undefined, () => `conf entry ${e.index} carries no change`);
    this.group = applyCommittedConfChange(this.group, change);
    if (this.role !== 'leader') {
      if (change.op === 'remove' && change.id === this.id) this.record('FOLLOWER', 'REMOVED', 'FOLLOWER', `index ${e.index}`);
      return;
    }
    if (change.op === 'remove' && change.id === this.id) {
      // Tell the others the removal committed before stepping down, or they learn it only
      // from the next leader, an election timeout or two later.
      this.broadcastHeartbeat('');
      this.becomeFollower(this.term, null, 'REMOVED');
      return;
    }
    for (const m of activeMembers(this.group)) {
      if (m.id !== this.id && !this.progress.has(m.id)) {
        this.addProgress(m.id);
        this.markDirty(m.id, true);
      }
    }
    for (const id of [...this.progress.keys()]) {
      if (!findMember(this.group, id) || findMember(this.group, id)!.removed) this.progress.delete(id);
    }
    if (this.leadTransferee !== null && !isElectable(this.group, this.leadTransferee)) this.leadTransferee = null;
    if (this.maybeCommit()) this.markAllDirty(true);
  }

  // ---------------------------------------------------------------- output

  private msg(type: MessageType, to: NodeId): Message {
    return emptyMessage(type, this.id, to, this.term);
  }

  private send(m: Message): void {
    this.outbox.push(m);
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const hs = this.prevHardState;
    const ss = this.prevSoftState;
    return (
      this.outbox.length > 0 ||
      (this.role === 'leader' && (this.dirty.size > 0 || (this.readRoundWanted && !this.readRoundOut))) ||
      this.log.unstableFrom <= this.log.lastIndex() ||
      this.log.pendingSnapshot !== null ||
      this.log.applicableTo(this.cfg.asyncStorageWrites) > this.log.applying ||
      this.readStates.length > 0 ||
      hs.term !== this.term ||
      hs.vote !== this.vote ||
      hs.commit !== this.log.committed ||
      ss.role !== this.role ||
      ss.leader !== this.leader ||
      ss.term !== this.term
    );
  }

  /** Takes the accumulated output. Call advance() with it once it is persisted, sent and applied. */
  ready(): Ready {
    assert(this.outstanding === null, 'ready() called again before advance() of the previous Ready');
    const snapshot = this.log.pendingSnapshot;
    this.log.pendingSnapshot = null;
    const committedEntries = this.log.nextCommitted(this.cfg.maxApplyBytesPerReady, this.cfg.asyncStorageWrites);
    if (committedEntries.length > 0) {
      this.log.applying = committedEntries[committedEntries.length - 1]!.index;
      for (const e of committedEntries) if (e.type === 'conf') this.applyConf(e);
      // A membership that makes this node the sole voter (a new group of one: its bootstrap
      // entries) lets it win now, so that its term, vote and first entry go in this Ready's
      // one synced write with the bootstrap's, rather than in the next one.
      this.campaignIfSoleVoter();
    }
    // A round lost on the way is retried by the periodic heartbeat, which carries the newest read too.
    if (this.readRoundWanted && !this.readRoundOut && this.role === 'leader') this.broadcastReadRound();
    this.flushAppends();
    const entries = this.log.unstableEntries();
    this.log.markHandedForPersist();

    const hs = this.hardState();
    const prev = this.prevHardState;
    const hsChanged = hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit;
    const termOrVoteChanged = hs.term !== prev.term || hs.vote !== prev.vote;
    // With asynchronous writes an earlier Ready's new term or vote may still be on its way to disk.
    const termOrVoteNotDurable = termOrVoteChanged || hs.term !== this.durableTerm || hs.vote !== this.durableVote;
    this.prevHardState = hs;
    const ss = this.softState();
    const pss = this.prevSoftState;
    const ssChanged = ss.role !== pss.role || ss.leader !== pss.leader || ss.term !== pss.term;
    this.prevSoftState = ss;

    const messages: Message[] = [];
    const messagesAfterPersist: Message[] = [];
    for (const m of this.outbox) {
      // A new term or vote must be durable before anything goes out under it.
      if (!termOrVoteNotDurable && SEND_BEFORE_PERSIST.has(m.type)) messages.push(m);
      else messagesAfterPersist.push(m);
    }
    this.outbox = [];
    const readStates = this.readStates;
    this.readStates = [];

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
    this.outstanding = rd;
    return rd;
  }

  /**
   * The driver has sent and applied `rd`, and persisted it, or (asyncStorageWrites) handed
   * its write to storage, to be reported by persisted(rd) once durable.
   */
  advance(rd: Ready): void {
    assert(rd === this.outstanding, 'advance() must be given the Ready that ready() returned');
    this.outstanding = null;
    if (rd.committedEntries.length > 0) {
      this.log.applied = Math.max(this.log.applied, rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
    if (!this.cfg.asyncStorageWrites) this.onDurable(rd);
    this.campaignIfSoleVoter();
  }

  /** asyncStorageWrites: `rd`'s write is durable. Called once per Ready, in the order ready() gave them. */
  persisted(rd: Ready): void {
    assert(this.cfg.asyncStorageWrites, 'persisted() is for asyncStorageWrites; advance() reports the write otherwise');
    this.onDurable(rd);
    this.campaignIfSoleVoter();
  }

  private onDurable(rd: Ready): void {
    if (rd.hardState) {
      this.durableTerm = rd.hardState.term;
      this.durableVote = rd.hardState.vote;
    }
    if (rd.entries.length > 0) {
      this.log.stableTo(rd.entries);
      // The leader's own durable write counts towards the commit quorum only now.
      if (this.role === 'leader' && this.maybeCommit()) this.markAllDirty(true);
    }
  }

  // ---------------------------------------------------------------- queries

  /** The highest index acknowledged under `policy`; 0 when this node is not the leader. */
  ackIndex(policy: AckPolicy): number {
    if (this.role !== 'leader') return 0;
    return ackIndex(policy, {
      commitIndex: this.log.committed,
      leaderDurableIndex: this.log.stableIndex,
      electableMatchIndexes: electableIds(this.group).map((id) => (id === this.id ? this.log.stableIndex : this.progress.get(id)?.match ?? 0)),
    });
  }

  /** Electable members (this one included) heard from within an election timeout. Leader only; 0 otherwise. */
  activeElectableCount(): number {
    if (this.role !== 'leader') return 0;
    let n = 0;
    for (const id of electableIds(this.group)) {
      if (id === this.id) n++;
      else {
        const pr = this.progress.get(id);
        if (pr && this.ticks - pr.lastHeardTick < this.cfg.electionTicks) n++;
      }
    }
    return n;
  }

  /** The term of the entry at `index`, if this node still has it. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** The snapshot a step restored the log to, until ready() hands it to the driver to install. */
  get pendingSnapshot(): SnapshotMeta | null {
    return this.log.pendingSnapshot;
  }

  get groupMetadata(): GroupMetadata {
    return this.group;
  }

  get currentRole(): Role {
    return this.role;
  }

  get currentTerm(): number {
    return this.term;
  }

  get leaderId(): NodeId | null {
    return this.leader;
  }

  get commitIndex(): number {
    return this.log.committed;
  }

  get appliedIndex(): number {
    return this.log.applied;
  }

  get electableGroupSizeOverride(): number {
    return this.override;
  }

  /** E: non-removed electable members in the group metadata. */
  get electableCount(): number {
    return this.electableGroupSize();
  }

  /** Votes an election needs and electable members a commit needs, from the override or E. */
  get quorumSize(): number {
    return this.quorum();
  }

  /** Driver time of the last message from a leader (null if none): replica lag for time-based reads. */
  get lastLeaderContactAt(): number | null {
    return this.role === 'leader' ? this.nowMs : this.history.counters.lastLeaderContactAt;
  }

  status(): RaftStatus {
    const e = this.electableGroupSize();
    const q = this.quorum();
    const peers: PeerStatus[] = [];
    if (this.role === 'leader') {
      for (const [id, pr] of this.progress) {
        peers.push({
          id,
          type: findMember(this.group, id)?.type ?? 'secondary',
          match: pr.match,
          next: pr.next,
          state: pr.state,
          active: this.ticks - pr.lastHeardTick < this.cfg.electionTicks,
          inflight: pr.inflights.count,
        });
      }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      durableIndex: this.log.stableIndex,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      group: this.group,
      electableGroupSize: e,
      electableGroupSizeOverride: this.override,
      effectiveGroupSize: effectiveGroupSize(e, this.override),
      electionQuorum: q,
      commitQuorum: q,
      promotable: this.promotable(),
      leadTransferee: this.leadTransferee,
      peers,
      ackIndex:
        this.role === 'leader'
          ? { simpleMajority: this.ackIndex('simpleMajority'), all: this.ackIndex('all'), none: this.ackIndex('none') }
          : null,
      divergence: this.divergence,
      rollbackRequested: this.rollbackRequested,
      history: this.history.newestFirst(),
      counters: { ...this.history.counters },
    };
  }

  // ---------------------------------------------------------------- helpers

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = randomInt(this.cfg.random, this.cfg.electionTicks, 2 * this.cfg.electionTicks);
  }

  private record(from: HistoryEntry['from'], event: HistoryEvent, to: HistoryEntry['to'], detail: string): void {
    this.history.record({ at: this.nowMs, from, event, to, term: this.term, detail });
  }
}

/**
 * Applies a committed change. A change that is not valid for the group (which the leader's
 * checks make impossible in practice) is a deterministic no-op on every node.
 */
export function applyCommittedConfChange(group: GroupMetadata, change: ConfChange): GroupMetadata {
  return confChangeRefusal(group, change) === null ? applyConfChange(group, change) : group;
}

export type { SnapshotMeta };
