// The consensus state machine. Pure and deterministic: every input is a method call
// (step, tick, propose, ...), every output accumulates until the driver takes it with
// ready() and acknowledges it with advance(). No I/O, no timers, no clock, no ambient randomness.
// The class holds the state (raft-state.ts) and dispatches to the modules that implement its
// parts: election.ts, replication.ts (the leader's side), follower.ts (the follower's side and
// divergence), read-index.ts, membership.ts, ready.ts and raft-status.ts.
import { resolveConfig, type RaftConfig } from './config.js';
import { assert, InvalidArgumentError, NotLeaderError, ProposalDroppedError } from './errors.js';
import { activeMembers, isElectable } from './group.js';
import { nextOverrideSpan, type Divergence, type OverrideSpan } from './divergence.js';
import { historyRole } from './history.js';
import { RaftState, type DurableState } from './raft-state.js';
import { becomeFollower, campaignIfSoleVoter, handleVoteRequest, hup, pollVotes, transferLeadership, TRANSFER_CONTEXT } from './election.js';
import { handleAppendResp, handleHeartbeatResp, propose, quorumActive, reportSnapshot, reportUnreachable } from './replication.js';
import { handleAppend, handleSnapshot, heardFromLeader } from './follower.js';
import { broadcastHeartbeat, handleReadRequest } from './read-index.js';
import { proposeConfChange, setOverride, type OverrideChange } from './membership.js';
import { hasReady, onDurable, takeReady } from './ready.js';
import { activeElectableCount, leaderAckIndex, raftStatus, type RaftStatus } from './raft-status.js';
import type { AckPolicy, ConfChange, Entry, GroupMetadata, Message, NodeId, Ready, Role, SnapshotMeta } from './types.js';

export type { DurableState } from './raft-state.js';
export type { PeerStatus, RaftStatus } from './raft-status.js';
export { applyCommittedConfChange, type OverrideChange } from './membership.js';

export class RaftNode {
  readonly id: NodeId;
  /** Everything this node knows; the modules that implement its parts work on it. */
  private readonly s: RaftState;

  private constructor(config: RaftConfig, state: DurableState, restarted = false) {
    this.s = new RaftState(config, state, restarted);
    this.id = this.s.id;
    campaignIfSoleVoter(this.s);
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
    node.s.log.appendLocal(entries);
    node.s.term = 1;
    node.s.log.commitTo(entries.length);
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

  // ---------------------------------------------------------------- inputs

  /** One unit of logical time. `nowMs` (optional) is the driver's clock (see setNow). */
  tick(nowMs?: number): void {
    if (nowMs !== undefined) this.setNow(nowMs);
    this.s.ticks++;
    if (this.s.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.s.electionElapsed++;
    if (this.s.electionElapsed >= this.s.randomizedElectionTimeout) {
      this.s.electionElapsed = 0;
      if (this.s.promotable()) hup(this.s, 'ELECTION_TIMEOUT', false);
    }
  }

  private tickLeader(): void {
    this.s.heartbeatElapsed++;
    this.s.electionElapsed++;
    if (this.s.electionElapsed >= this.s.cfg.electionTicks) {
      this.s.electionElapsed = 0;
      if (this.s.cfg.checkQuorum && !quorumActive(this.s)) {
        becomeFollower(this.s, this.s.term, null, 'CHECK_QUORUM_LOST');
        return;
      }
      if (this.s.leadTransferee !== null) {
        const target = this.s.leadTransferee;
        this.s.leadTransferee = null;
        this.s.record('LEADER', 'TRANSFER_ABORTED', 'LEADER', `transfer to ${target} timed out`);
      }
    }
    if (this.s.heartbeatElapsed >= this.s.cfg.heartbeatTicks) {
      this.s.heartbeatElapsed = 0;
      broadcastHeartbeat(this.s, this.s.readOnly.newestContext() ?? '');
    }
  }

  /**
   * The driver's clock, in ms. It stamps the election history and times the read lease; a
   * driver with lease reads sets it before each step and read. It never goes backwards.
   */
  setNow(nowMs: number): void {
    if (nowMs > this.s.nowMs) this.s.nowMs = nowMs;
  }

  /** Starts an election now (as if the election timeout fired), if this node may campaign. */
  campaign(): void {
    if (this.s.role === 'leader') return;
    if (!this.s.promotable()) throw new InvalidArgumentError(`node ${this.id} may not campaign: it is not an electable member with priority > 0`);
    hup(this.s, 'CAMPAIGN_REQUESTED', false);
  }

  /** Proposes application data; returns where it will be committed, if it is. Leader only. */
  propose(data: Uint8Array): { index: number; term: number } {
    return propose(this.s, data);
  }

  /**
   * Proposes one membership change. One at a time: refused while another is unapplied.
   * Growing E while this leader runs with an override is refused unless `force` (see
   * overrideRefusal).
   */
  proposeConfChange(change: ConfChange, opts: { force?: boolean } = {}): { index: number; term: number } {
    return proposeConfChange(this.s, change, opts);
  }

  /**
   * Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE. Local and never replicated. 0 turns it off.
   * Larger than the electable group size is refused unless `force`.
   */
  setElectableGroupSizeOverride(n: number, opts: { force?: boolean } = {}): OverrideChange {
    return setOverride(this.s, n, opts);
  }

  /** Hands leadership to `target` once it has caught up (JE's transferMaster, etcd's MsgTransferLeader). */
  transferLeadership(target: NodeId): void {
    transferLeadership(this.s, target);
  }

  /** OpenIO's `election leave`: drop out of the current election or leadership and start over. */
  leaveElection(): void {
    becomeFollower(this.s, this.s.term, null, 'LEAVE_REQUESTED');
  }

  /**
   * Requests a linearizable read point for `context` (unique per request). The answer comes
   * as a ReadState in a later Ready. `lease` lets a leader answer at once while check-quorum
   * holds its lease (JE/etcd lease reads: relies on bounded clock drift).
   */
  readIndex(context: string, opts: { lease?: boolean } = {}): void {
    if (typeof context !== 'string' || context.length === 0) throw new InvalidArgumentError('read context must be a non-empty string');
    if (this.s.role === 'leader') {
      const refusal = handleReadRequest(this.s, context, this.id, opts.lease === true);
      if (refusal) throw new ProposalDroppedError(`read refused: ${refusal}`);
      return;
    }
    if (this.s.role !== 'follower' || this.s.leader === null) throw new NotLeaderError(this.s.leader);
    const m = this.s.msg('readIndex', this.s.leader);
    m.context = context;
    this.s.send(m);
  }

  /**
   * The driver accepts rolling back the divergence it was told about: the next append from
   * the leader is answered with a snapshot request, and that snapshot replaces this node's
   * state, committed entries included. Throws if there is no divergence.
   */
  requestRollback(): Divergence {
    if (this.s.divergence === null) throw new InvalidArgumentError(`node ${this.id} has no diverged entries to roll back`);
    this.s.rollbackRequested = true;
    return this.s.divergence;
  }

  /** The driver refused to roll back a divergence (over the limit, or not from an override): recorded in the history. */
  noteRollbackRefused(detail: string): void {
    this.s.record(historyRole(this.s.role), 'ROLLBACK_PROHIBITED', historyRole(this.s.role), detail);
  }

  /** Indexes this node may have committed under an override; the driver stores it when it changes. */
  get overrideSpan(): OverrideSpan | null {
    return this.s.overrideSpanValue;
  }

  /** The override span this node would have with override `n` set now (what the driver stores first). */
  overrideSpanAfter(n: number): OverrideSpan | null {
    return nextOverrideSpan(this.s.overrideSpanValue, this.s.override, n, this.s.log.committed, this.s.log.lastIndex());
  }

  /** The divergence a leader exposed, if any (see Divergence). */
  get currentDivergence(): Divergence | null {
    return this.s.divergence;
  }

  /** The transport could not reach `id`: stop streaming to it optimistically. */
  reportUnreachable(id: NodeId): void {
    reportUnreachable(this.s, id);
  }

  /** The driver finished (or failed) streaming a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean, snapshotIndex = 0): void {
    reportSnapshot(this.s, id, ok, snapshotIndex);
  }

  /** Drops log entries up to `index` (applied and durable) once the driver has a snapshot covering them. */
  compact(index: number): void {
    this.s.log.compact(index);
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.s.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease =
          this.s.cfg.checkQuorum && ((this.s.leader !== null && this.s.electionElapsed < this.s.cfg.electionTicks) || this.s.ticks < this.s.refuseVotesUntilTick);
        // A node that hears from a live leader ignores disruptive candidates (thesis 4.2.3);
        // so does one that just started, for the lease of a leader it may have acked.
        if (inLease && !force) return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes carry a future term; they change nothing here.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        becomeFollower(this.s, m.term, m.from, 'HIGHER_TERM');
      } else {
        becomeFollower(this.s, m.term, null, 'HIGHER_TERM');
      }
    } else if (m.term < this.s.term) {
      if ((this.s.cfg.checkQuorum || this.s.cfg.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // Tell a stale leader about the newer term so it steps down.
        this.s.send(this.s.msg('appResp', m.from));
      } else if (m.type === 'preVote') {
        const r = this.s.msg('preVoteResp', m.from);
        r.reject = true;
        this.s.send(r);
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      handleVoteRequest(this.s, m);
      return;
    }
    switch (this.s.role) {
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

  private stepLeader(m: Message): void {
    const pr = this.s.progress.get(m.from);
    switch (m.type) {
      case 'appResp':
        if (pr) handleAppendResp(this.s, m, pr);
        return;
      case 'heartbeatResp':
        if (pr) handleHeartbeatResp(this.s, m, pr);
        return;
      case 'readIndex':
        handleReadRequest(this.s, m.context, m.from, false);
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
        becomeFollower(this.s, m.term, m.from, 'LEADER_SEEN');
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp':
        if ((m.type === 'preVoteResp') !== (this.s.role === 'preCandidate')) return;
        if (!isElectable(this.s.group, m.from)) return;
        if (!this.s.votes.has(m.from)) this.s.votes.set(m.from, !m.reject);
        pollVotes(this.s);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        heardFromLeader(this.s, m.from);
        handleAppend(this.s, m);
        return;
      case 'heartbeat': {
        heardFromLeader(this.s, m.from);
        this.s.log.commitTo(Math.min(m.commit, this.s.log.lastIndex()));
        const r = this.s.msg('heartbeatResp', m.from);
        r.context = m.context;
        r.index = m.index; // the heartbeat's round: the leader's lease counts from its send time
        this.s.send(r);
        return;
      }
      case 'snap':
        heardFromLeader(this.s, m.from);
        handleSnapshot(this.s, m);
        return;
      case 'timeoutNow':
        if (this.s.promotable()) hup(this.s, 'TIMEOUT_NOW', true);
        return;
      case 'readIndexResp':
        if (!m.reject) this.s.readStates.push({ index: m.index, context: m.context });
        return;
      case 'readIndex':
        // We are not the leader: the requester will time out and retry on the right node.
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- output

  hasReady(): boolean {
    return hasReady(this.s);
  }

  /** Takes the accumulated output. Call advance() with it once it is persisted, sent and applied. */
  ready(): Ready {
    return takeReady(this.s);
  }

  /**
   * The driver has sent and applied `rd`, and persisted it, or (asyncStorageWrites) handed
   * its write to storage, to be reported by persisted(rd) once durable.
   */
  advance(rd: Ready): void {
    assert(rd === this.s.outstanding, 'advance() must be given the Ready that ready() returned');
    this.s.outstanding = null;
    if (rd.committedEntries.length > 0) {
      this.s.log.applied = Math.max(this.s.log.applied, rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
    if (!this.s.cfg.asyncStorageWrites) onDurable(this.s, rd);
    campaignIfSoleVoter(this.s);
  }

  /** asyncStorageWrites: `rd`'s write is durable. Called once per Ready, in the order ready() gave them. */
  persisted(rd: Ready): void {
    assert(this.s.cfg.asyncStorageWrites, 'persisted() is for asyncStorageWrites; advance() reports the write otherwise');
    onDurable(this.s, rd);
    campaignIfSoleVoter(this.s);
  }

  // ---------------------------------------------------------------- queries

  /** The highest index acknowledged under `policy`; 0 when this node is not the leader. */
  ackIndex(policy: AckPolicy): number {
    return leaderAckIndex(this.s, policy);
  }

  /** Electable members (this one included) heard from within an election timeout. Leader only; 0 otherwise. */
  activeElectableCount(): number {
    return activeElectableCount(this.s);
  }

  /** The term of the entry at `index`, if this node still has it. */
  termAt(index: number): number | undefined {
    return this.s.log.term(index);
  }

  /** The snapshot a step restored the log to, until ready() hands it to the driver to install. */
  get pendingSnapshot(): SnapshotMeta | null {
    return this.s.log.pendingSnapshot;
  }

  get groupMetadata(): GroupMetadata {
    return this.s.group;
  }

  get currentRole(): Role {
    return this.s.role;
  }

  get currentTerm(): number {
    return this.s.term;
  }

  get leaderId(): NodeId | null {
    return this.s.leader;
  }

  get commitIndex(): number {
    return this.s.log.committed;
  }

  get appliedIndex(): number {
    return this.s.log.applied;
  }

  get electableGroupSizeOverride(): number {
    return this.s.override;
  }

  /** E: non-removed electable members in the group metadata. */
  get electableCount(): number {
    return this.s.electableGroupSize();
  }

  /** Votes an election needs and electable members a commit needs, from the override or E. */
  get quorumSize(): number {
    return this.s.quorum();
  }

  /** Driver time of the last message from a leader (null if none): replica lag for time-based reads. */
  get lastLeaderContactAt(): number | null {
    return this.s.role === 'leader' ? this.s.nowMs : this.s.history.counters.lastLeaderContactAt;
  }


  status(): RaftStatus {
    return raftStatus(this.s);
  }
}
