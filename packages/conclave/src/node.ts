// openNode(): the embedded replicated store. One event loop drives the pure core with
// LevelDB storage and the WebSocket transport: ticks from a timer, a Ready loop with group
// commit (every proposal of a turn lands in one batch and one fsync), and waiters that
// resolve writes by their ack policy and reads by their consistency policy.
import { EventEmitter } from 'node:events';
import {
  checkConfChange,
  ConfChangePendingError,
  overrideRefusal,
  electableIds,
  initialGroup,
  InvalidArgumentError,
  NotLeaderError,
  ProposalDroppedError,
  RaftNode,
  RequestTooLargeError,
  seededRandom,
  validateOverride,
  type AckPolicy,
  type ConfChange,
  type Entry,
  type GroupMetadata,
  type Member,
  type MemberType,
  type Message,
  type NodeId,
  type OverrideChange,
  type RaftStatus,
  type Ready,
  type Role,
} from '@conclave/core';
import { encodeCommand, type NodeStorage, type ApplyResult, type CommandOutcome, type KvBatchOp, type KvCommand, type ScanOptions } from '@conclave/storage';
import { AdminRemoteError } from '@conclave/transport';
import { registerAdminHandlers } from './admin-handlers.js';
import { FORWARD_POOL_LIMITS, ForwardPool } from './forward-pool.js';
import {
  InsufficientAcksError,
  InsufficientReplicasError,
  NodeClosedError,
  ReplicaConsistencyError,
  RollbackProhibitedError,
  DivergedWithoutOverrideError,
  WriteOutcomeUnknownError,
  WriteReplacedError,
} from './errors.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { WriteTracker } from './write-tracker.js';
import { decideRollback, describeLoss, type RollbackReport } from './rollback.js';
import { syncForWrite } from './local-sync.js';
import { resolveDurability, resolveOptions, validateConsistency, type CommitToken, type Consistency, type Durability, type OpenNodeOptions, type ResolvedOptions } from './options.js';
import { IndexWaiters } from './waiters.js';
import { explainNoLeader, overrideHint, roleName } from './election-diagnosis.js';
import { ConfChangeError, LeaderTransferError, UnknownMemberError } from './errors.js';
import { mostCaughtUp, trueMajorityCaughtUp } from './member-choice.js';
import { checkSizeLimits, SIZE_LIMITS } from './size-limits.js';
import { stateOf, type NodeState, type NodeStatus, type OverrideSource, type RollbackStatus } from './status.js';

export type { NodeState, NodeStatus, OverrideSource, RollbackStatus } from './status.js';
import { PRODUCTION_SEAMS, sleepOn, type Clock, type LeaderRpcClient, type NodeSeams, type PeerTransport, type Timer } from './seams.js';

export interface WriteResult {
  readonly token: CommitToken;
}

export interface CasResult extends WriteResult {
  readonly succeeded: boolean;
  /** The value before the compare-and-set (undefined when the key was absent). */
  readonly current: unknown;
}

export interface NodeEvents {
  stateChange: [state: NodeState, previous: NodeState];
  leaderChange: [leaderId: NodeId | null, leaderAddress: string | null];
  memberAdded: [member: Member];
  memberRemoved: [member: Member];
  overrideChanged: [change: { previous: number; current: number; electableGroupSize: number }];
  /** This node replaced diverged committed writes with the leader's state; `file` lists them. */
  rollback: [report: RollbackReport & { file: string }];
  /** This node diverged by more than rollbackLimit writes and stays out until an operator accepts. */
  rollbackProhibited: [error: RollbackProhibitedError];
  /** A divergence no override explains (damaged data): the node keeps its data and stays out. */
  divergedWithoutOverride: [error: DivergedWithoutOverrideError];
  error: [error: Error];
}

type RollbackState =
  | { state: 'none' }
  | { state: 'prohibited'; report: RollbackReport; error: RollbackProhibitedError }
  | { state: 'divergedWithoutOverride'; report: RollbackReport; error: DivergedWithoutOverrideError }
  | { state: 'rollingBack'; report: RollbackReport; file: string };

interface PendingRead {
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  readonly timer: Timer;
}

const MAX_PENDING_WRITES = 100_000;
const MAX_PENDING_READS = 100_000;
const OVERRIDE_WARNING_INTERVAL_MS = 30_000;
/** Readies handled per loop turn before yielding to the event loop. */
const MAX_READIES_PER_TURN = 256;

export class ConclaveNode extends EventEmitter<NodeEvents> {
  readonly id: NodeId;
  readonly groupId: string;
  private readonly opts: ResolvedOptions;
  private raft!: RaftNode;
  private storage!: NodeStorage;
  private transport!: PeerTransport;
  private readonly seams: NodeSeams;
  private readonly clock: Clock;
  private tickTimer: Timer | null = null;
  private overrideTimer: Timer | null = null;
  private loopScheduled = false;
  private loopRunning: Promise<void> | null = null;
  private closed = false;
  private failure: Error | null = null;
  /** The leader's writes waiting for their outcome, by (term, index): write-tracker.ts. */
  private readonly writes: WriteTracker;
  private readonly pendingReads = new Map<string, PendingRead>();
  private readonly appliedWaiters: IndexWaiters;
  private readonly adminClients = new Map<string, Promise<LeaderRpcClient>>();
  /** Forwarded requests to the leader, per address (forward-pool.ts). */
  private readonly forwardPools = new Map<string, ForwardPool>();
  private readonly snapshotsSending = new Set<NodeId>();
  private snapshots!: SnapshotReceiver;
  /**
   * Read contexts are `${readContextPrefix}:${seq}`: random per process, so that a late
   * readIndexResp to a read from before a restart never answers a new one.
   */
  private readonly readContextPrefix: string;
  private readSeq = 0;
  private lastState: NodeState = 'follower';
  private rollback: RollbackState = { state: 'none' };
  private divergenceTask: Promise<void> | null = null;
  private lastLeader: NodeId | null = null;

  private constructor(opts: ResolvedOptions, seams: NodeSeams) {
    super();
    this.opts = opts;
    this.id = opts.id;
    this.groupId = opts.groupId;
    this.seams = seams;
    this.clock = seams.clock;
    this.readContextPrefix = `${opts.id}:${seams.random.bytes(8).toString('hex')}`;
    this.writes = new WriteTracker(
      {
        role: () => this.raft.currentRole,
        termAt: (i) => this.raft.termAt(i),
        ackIndex: (policy) => this.raft.ackIndex(policy),
      },
      MAX_PENDING_WRITES,
      seams.clock,
    );
    this.appliedWaiters = new IndexWaiters('applied index', MAX_PENDING_READS, seams.clock);
  }

  /**
   * Opens (bootstrapping, restarting or joining) a node. See OpenNodeOptions.
   * `seams`: @internal, for the simulation (see openNodeWith in internal.ts).
   */
  static async open(options: OpenNodeOptions, seams: NodeSeams = PRODUCTION_SEAMS): Promise<ConclaveNode> {
    const node = new ConclaveNode(resolveOptions(options), seams);
    await node.start();
    return node;
  }

  // ------------------------------------------------------------------ start and stop

  private async start(): Promise<void> {
    const o = this.opts;
    this.storage = await this.seams.openStorage({
      path: o.dataDir,
      groupId: o.groupId,
      syncPolicy: o.syncPolicy,
      // Applies and commit-only hard states ride with the next log write: the log is durable,
      // so a crash only re-applies them; this takes two fsyncs off every commit (bench/README.md).
      deferApplyWrites: true,
      timers: this.clock,
      ...(o.snapshotIntervalEntries !== undefined ? { snapshotIntervalEntries: o.snapshotIntervalEntries } : {}),
      ...(o.entriesKeptAfterSnapshot !== undefined ? { entriesKeptAfterSnapshot: o.entriesKeptAfterSnapshot } : {}),
      ...(o.snapshotIntervalBytes !== undefined ? { snapshotIntervalBytes: o.snapshotIntervalBytes } : {}),
      ...(o.bytesKeptAfterSnapshot !== undefined ? { bytesKeptAfterSnapshot: o.bytesKeptAfterSnapshot } : {}),
    });
    this.snapshots = new SnapshotReceiver(this.storage);
    try {
      await this.startWithStorage();
    } catch (err) {
      await this.closeQuietly();
      throw err;
    }
  }

  private async startWithStorage(): Promise<void> {
    const o = this.opts;
    const loaded = await this.storage.load();
    let override = loaded.settings.electableGroupSizeOverride;
    if (o.electableGroupSizeOverride !== undefined && o.electableGroupSizeOverride !== override) {
      override = o.electableGroupSizeOverride;
      await this.storage.setSettings({ electableGroupSizeOverride: override });
    }
    checkSizeLimits(SIZE_LIMITS);
    const raftConfig = {
      id: o.id,
      maxMsgBytes: SIZE_LIMITS.maxMsgBytes,
      maxProposalBytes: SIZE_LIMITS.maxProposalBytes,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      random: seededRandom(this.seams.random.bytes(4).readUInt32LE(0)),
      electableGroupSizeOverride: override,
      overrideSpan: loaded.settings.overrideSpan,
      nowMs: this.clock.nowMs(),
      // Half the election timeout: margin for the heartbeat's transit and clock drift.
      leaseMs: Math.floor((o.tickMs * o.electionTicks) / 2),
    };
    // A directory whose group has no member and no log never got past its first write.
    const fresh = loaded.group === null || (loaded.group.members.length === 0 && loaded.lastIndex === 0);
    let joining = false;
    if (fresh) {
      if (o.peers) {
        const group = initialGroup(o.groupId, o.peers);
        if (loaded.group === null) await this.storage.initializeGroup({ groupId: o.groupId, members: [] });
        this.raft = RaftNode.bootstrap(raftConfig, group);
      } else if (o.join) {
        if (loaded.group === null) await this.storage.initializeGroup({ groupId: o.groupId, members: [] });
        this.raft = RaftNode.join(raftConfig, o.groupId);
        joining = true;
      } else {
        throw new InvalidArgumentError(`data directory ${o.dataDir} is empty: give peers to bootstrap a new group, or join to join a running one`);
      }
    } else {
      if (o.join) o.logger.info(`data directory ${o.dataDir} already belongs to group ${loaded.group!.groupId}; join is ignored`);
      this.raft = RaftNode.restore(raftConfig, {
        hardState: loaded.hardState,
        group: loaded.group!,
        compactedIndex: loaded.compacted.index,
        compactedTerm: loaded.compacted.term,
        entries: loaded.entries,
        applied: loaded.applied,
      });
    }
    const peers = fresh && o.peers ? o.peers : this.addressesOf(this.raft.groupMetadata);
    this.transport = this.seams.network.createTransport({
      id: o.id,
      groupId: o.groupId,
      listen: o.listen,
      peers,
      ...(o.secret !== undefined ? { secret: o.secret } : {}),
      ...(o.adminSecret !== undefined ? { adminSecret: o.adminSecret } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
      maxPayloadBytes: SIZE_LIMITS.maxPayloadBytes,
    });
    this.transport.onMessage((m) => this.onMessage(m));
    this.transport.onSnapshot((from, meta, chunks) => this.receiveSnapshot(from, meta.index, meta, chunks));
    this.transport.on('unreachable', (peer, reason) => {
      // size-limits.ts makes this impossible; should it happen, the core backs off and says so.
      if (reason === 'tooLarge') o.logger.error(`the transport refused a message to ${peer} as larger than its frame limit (counted in droppedTooLarge)`);
      this.guarded(() => this.raft.reportUnreachable(peer));
    });
    this.transport.on('handlerError', (err) => o.logger.warn(`transport handler failed: ${(err as Error)?.message ?? String(err)}`));
    registerAdminHandlers(this.transport, this, this.clock);
    await this.transport.start();
    this.tickTimer = this.clock.setInterval(() => {
      if (!this.closed) this.guarded(() => this.raft.tick(this.clock.nowMs()));
    }, o.tickMs);
    if (override > 0) this.startOverrideWarnings();
    const span = this.raft.overrideSpan;
    if (JSON.stringify(span) !== JSON.stringify(loaded.settings.overrideSpan)) await this.storage.setSettings({ overrideSpan: span });
    this.schedule();
    if (joining) await this.requestJoin(o.join!);
  }

  /** Asks a running member to add this node as a secondary; retries until the deadline. */
  private async requestJoin(address: string): Promise<void> {
    const deadline = this.clock.nowMs() + 30_000;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 100 && this.clock.nowMs() < deadline; attempt++) {
      try {
        const client = await this.adminClient(address);
        const res = (await client.request(
          'group.change',
          { change: { op: 'addSecondary', id: this.id, address: this.opts.listen } satisfies ConfChange },
          { timeoutMs: Math.max(1000, deadline - this.clock.nowMs()) },
        )) as { group: GroupMetadata };
        this.transport.setPeers(this.addressesOf(res.group));
        this.opts.logger.info(`joined group ${this.groupId} through ${address} as a secondary`);
        return;
      } catch (err) {
        lastError = err;
        const code = (err as { code?: string }).code;
        // A refused change (removed id, already a member, ...) will not get better by retrying.
        if (code === 'CONF_CHANGE_REFUSED' || code === 'INVALID_ARGUMENT' || code === 'ADMIN_AUTH_FAILED') throw reviveError(err);
        this.dropAdminClient(address);
        await this.sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    throw new WriteOutcomeUnknownError(`could not join through ${address} within 30 s: ${(lastError as Error)?.message ?? 'no answer'}`);
  }

  /** Stops the node: pending operations fail with NodeClosedError; data stays on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new NodeClosedError(this.id);
    this.failAll(err, `node ${this.id} closed`);
    if (this.loopRunning) await this.loopRunning.catch(() => {});
    await this.closeQuietly();
  }

  private async closeQuietly(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) this.clock.clearInterval(this.tickTimer);
    if (this.overrideTimer) this.clock.clearInterval(this.overrideTimer);
    this.tickTimer = null;
    this.overrideTimer = null;
    for (const p of this.adminClients.values()) p.then((c) => c.close()).catch(() => {});
    for (const pool of this.forwardPools.values()) pool.close();
    this.forwardPools.clear();
    this.adminClients.clear();
    await this.transport?.close().catch(() => {});
    await this.storage?.close().catch(() => {});
  }

  /** Writes in flight may have happened whatever stopped them (`why`); reads have no effect and fail with `err`. */
  private failAll(err: Error, why: string): void {
    this.writes.failAll(why, err);
    for (const [ctx, r] of this.pendingReads) {
      this.clock.clearTimeout(r.timer);
      r.reject(err);
      this.pendingReads.delete(ctx);
    }
    this.appliedWaiters.rejectAll(err);
  }

  /** A storage failure breaks the Ready contract: stop, as etcd does, rather than go on wrong. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.opts.logger.error(`stopping node ${this.id}: ${err.message}`);
    this.failAll(err, `node ${this.id} failed (${err.message})`);
    void this.closeQuietly();
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private sleep(ms: number): Promise<void> {
    return sleepOn(this.clock, ms);
  }

  private checkOpen(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new NodeClosedError(this.id);
  }

  // ------------------------------------------------------------------ the Ready loop

  private onMessage(m: Message): void {
    if (this.closed) return;
    // Step a snapshot only once exactly its data is staged; otherwise the leader will resend it.
    if (m.type === 'snap' && !this.snapshots.isStaged(m.snapshot)) return;
    try {
      this.raft.setNow(this.clock.nowMs()); // lease reads time what a quorum said on the monotonic clock
      this.raft.step(m);
    } catch (err) {
      // The core failed an assertion (or worse) half-way through a step: its state cannot be
      // trusted. Stop, as the Ready loop does; the transport would only log it and go on.
      this.fail(asError(err));
      return;
    }
    if (m.type === 'snap') this.snapshots.afterStep(m.snapshot!, this.raft.pendingSnapshot).catch((err) => this.fail(asError(err)));
    this.schedule();
  }

  /** Runs `f` on the core from an event handler, failing the node if it throws (as the Ready loop does). */
  private guarded(f: () => void): void {
    if (this.closed) return;
    try {
      f();
    } catch (err) {
      this.fail(asError(err));
      return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.loopScheduled || this.closed) return;
    this.loopScheduled = true;
    // setImmediate: everything that arrives in this turn joins one Ready (group commit).
    this.clock.setImmediate(() => {
      this.loopScheduled = false;
      if (this.loopRunning || this.closed) return;
      this.loopRunning = this.runLoop().finally(() => {
        this.loopRunning = null;
        if (!this.closed && this.raft.hasReady()) this.schedule();
      });
    });
  }

  private async runLoop(): Promise<void> {
    try {
      for (let i = 0; i < MAX_READIES_PER_TURN && !this.closed && this.raft.hasReady(); i++) {
        await this.handleReady(this.raft.ready());
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState();
    for (const m of rd.messages) this.sendMessage(m);
    if (rd.entries.length > 0 || rd.hardState || rd.snapshot) {
      await this.storage.writeReady(rd);
      if (rd.snapshot) {
        this.snapshots.installed();
        this.onGroupChanged(this.raft.groupMetadata);
      }
    }
    for (const m of rd.messagesAfterPersist) this.sendMessage(m);
    if (rd.committedEntries.length > 0) {
      const results = await this.storage.applyEntries(rd.committedEntries);
      this.onApplied(rd.committedEntries, results);
    }
    for (const rs of rd.readStates) {
      const r = this.pendingReads.get(rs.context);
      if (!r) continue;
      this.pendingReads.delete(rs.context);
      this.clock.clearTimeout(r.timer);
      r.resolve(rs.index);
    }
    this.raft.advance(rd);
    if (rd.snapshot && this.rollback.state === 'rollingBack') {
      const { report, file } = this.rollback;
      this.rollback = { state: 'none' };
      this.opts.logger.warn(`rolled back to the leader's state at index ${rd.snapshot.index}; ${report.lostWriteCount} lost writes are listed in ${file}`);
      this.emit('rollback', { ...report, file });
    }
    this.checkDivergence();
    this.writes.settleByAckIndex();
    this.appliedWaiters.advance(this.storage.applied);
    await this.snapshots.dropPassedOver(this.raft.commitIndex);
    if (rd.committedEntries.length > 0) {
      const snap = await this.storage.maybeSnapshot();
      if (snap) {
        const compacted = this.storage.compacted.index;
        if (compacted > 0 && compacted <= this.raft.appliedIndex) this.raft.compact(compacted);
      }
    }
  }

  private sendMessage(m: Message): void {
    if (m.type === 'snap') {
      void this.sendSnapshot(m);
      return;
    }
    this.transport.send(m);
  }

  private onSoftState(): void {
    const st = this.raft.status();
    const member = st.group.members.some((m) => m.id === this.id && !m.removed);
    const state = stateOf(st.role, st.promotable, member);
    if (state !== this.lastState) {
      const prev = this.lastState;
      this.lastState = state;
      this.emit('stateChange', state, prev);
    }
    if (st.leader !== this.lastLeader) {
      this.lastLeader = st.leader;
      this.emit('leaderChange', st.leader, st.leader ? this.addressOf(st.leader) : null);
    }
    if (st.role !== 'leader') this.writes.onLeadershipLost();
  }

  private onApplied(entries: readonly Entry[], results: readonly ApplyResult[]): void {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const r = results[i];
      if (r?.outcome?.op === 'conf') this.onGroupChanged(r.outcome.group, e);
    }
    // 'none' and 'all' writes are settled by settleByAckIndex after advance(), once.
    this.writes.onApplied(entries, results);
  }

  private onGroupChanged(group: GroupMetadata, e?: Entry): void {
    this.transport.setPeers(this.addressesOf(group));
    const change = e?.change;
    if (change && (change.op === 'addElectable' || change.op === 'addSecondary') && e.term > 1) {
      const m = group.members.find((x) => x.id === change.id);
      if (m) this.emit('memberAdded', m);
    }
    if (change?.op === 'promote') {
      const m = group.members.find((x) => x.id === change.id);
      if (m) this.emit('memberAdded', m);
    }
    if (change?.op === 'remove') {
      const m = group.members.find((x) => x.id === change.id);
      if (m) this.emit('memberRemoved', m);
    }
    this.onSoftState();
  }

  // ------------------------------------------------------------------ snapshots

  private async sendSnapshot(m: Message): Promise<void> {
    if (this.snapshotsSending.has(m.to)) return;
    this.snapshotsSending.add(m.to);
    try {
      const stream = await this.storage.openSnapshot();
      try {
        await this.transport.sendSnapshot(m.to, stream.meta, stream);
      } finally {
        await stream.close().catch(() => {});
      }
      this.transport.send({ ...m, snapshot: stream.meta });
      this.raft.reportSnapshot(m.to, true, stream.meta.index);
    } catch (err) {
      this.opts.logger.warn(`snapshot to ${m.to} failed: ${(err as Error).message}`);
      this.raft.reportSnapshot(m.to, false);
    } finally {
      this.snapshotsSending.delete(m.to);
      this.schedule();
    }
  }

  private async receiveSnapshot(from: NodeId, index: number, meta: Parameters<NodeStorage['beginInstall']>[0], chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.closed) return;
    await this.snapshots.receive(meta, chunks, { rollback: this.rollback.state === 'rollingBack' });
    this.opts.logger.info(`staged snapshot at index ${index} from ${from}`);
  }

  // ------------------------------------------------------------------ rollback (JE hard recovery)

  /** A leader exposed committed entries of ours it does not have: decide once per divergence. */
  private checkDivergence(): void {
    const d = this.raft.currentDivergence;
    if (!d || this.divergenceTask || this.rollback.state !== 'none' || this.raft.status().rollbackRequested) return;
    this.divergenceTask = this.onDivergence(false)
      .catch((err) => this.fail(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        this.divergenceTask = null;
      });
  }

  private async onDivergence(accepted: boolean): Promise<void> {
    const d = this.raft.currentDivergence;
    if (!d) return;
    const report = await describeLoss(this.storage, d, this.id, this.groupId, this.raft.overrideSpan, this.clock.wallNowMs());
    const decision = decideRollback(report, { rollbackLimit: this.opts.acceptRollback ? Infinity : this.opts.rollbackLimit, accepted });
    if (decision.action !== 'rollBack') {
      const err = decision.error;
      this.rollback = decision.action === 'prohibit' ? { state: 'prohibited', report, error: decision.error } : { state: 'divergedWithoutOverride', report, error: decision.error };
      this.raft.noteRollbackRefused(`${err.code}: ${report.exact ? '' : 'up to '}${report.lostWriteCount} committed writes [${report.fromIndex}, ${report.toIndex}] differ from leader ${d.leader}`);
      this.opts.logger.error(err.message);
      if (decision.action === 'prohibit') this.emit('rollbackProhibited', decision.error);
      else this.emit('divergedWithoutOverride', decision.error);
      return;
    }
    // The record for the operator goes to disk before anything is lost.
    const file = await this.seams.reports.saveRollbackReport(this.opts.dataDir, report);
    this.opts.logger.warn(
      `diverged from leader ${d.leader} at index ${d.index}${d.exact ? '' : ' or later'}: rolling back ${report.exact ? '' : 'up to '}${report.lostWriteCount} committed writes [${d.index}, ${d.committed}] to follow it; they are saved in ${file}`,
    );
    this.rollback = { state: 'rollingBack', report, file };
    this.raft.requestRollback();
    this.schedule();
  }

  /** The operator's answer to RollbackProhibitedError or DivergedWithoutOverrideError: roll back whatever the size. */
  async acceptRollback(): Promise<{ lostWriteCount: number; fromIndex: number; toIndex: number; file: string }> {
    this.checkOpen();
    if (this.rollback.state !== 'prohibited' && this.rollback.state !== 'divergedWithoutOverride') {
      throw new InvalidArgumentError(`node ${this.id} has no prohibited rollback to accept (rollback state: ${this.rollback.state})`);
    }
    this.rollback = { state: 'none' };
    await this.onDivergence(true);
    const r = this.rollback as RollbackState;
    if (r.state !== 'rollingBack') throw new InvalidArgumentError(`node ${this.id} no longer has diverged entries to roll back`);
    return { lostWriteCount: r.report.lostWriteCount, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, file: r.file };
  }

  // ------------------------------------------------------------------ writes

  /** Stores `value` (a Buffer or any msgpack value) under `key`. */
  async put(key: string, value: unknown, opts: { durability?: Partial<Durability> } = {}): Promise<WriteResult> {
    const r = await this.write({ op: 'put', key, value }, opts.durability);
    return { token: r.token };
  }

  async delete(key: string, opts: { durability?: Partial<Durability> } = {}): Promise<WriteResult> {
    const r = await this.write({ op: 'del', key }, opts.durability);
    return { token: r.token };
  }

  /** Several puts and deletes, applied atomically. */
  async batch(ops: readonly KvBatchOp[], opts: { durability?: Partial<Durability> } = {}): Promise<WriteResult> {
    const r = await this.write({ op: 'batch', ops }, opts.durability);
    return { token: r.token };
  }

  /** Writes `next` (undefined deletes) if the key's value equals `expected` (undefined = absent). */
  async compareAndSet(key: string, expected: unknown, next: unknown, opts: { durability?: Partial<Durability> } = {}): Promise<CasResult> {
    const r = await this.write({ op: 'cas', key, expected, value: next } as KvCommand, opts.durability, true);
    const outcome = r.outcome;
    return { token: r.token, succeeded: outcome?.op === 'cas' ? outcome.succeeded : false, current: outcome?.op === 'cas' ? outcome.current : undefined };
  }

  private async write(cmd: KvCommand, d: Partial<Durability> | undefined, needsOutcome = false): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    this.checkOpen();
    const durability = resolveDurability(d, this.opts.durability);
    const data = encodeCommand(cmd);
    if (this.raft.currentRole === 'leader') return this.proposeLocal(data, durability, needsOutcome);
    if (!this.opts.forwardWrites) throw new NotLeaderError(this.leaderHint());
    const res = (await this.callLeader('kv.write', { data, durability, needsOutcome }, durability.ackTimeoutMs + this.opts.insufficientReplicasTimeoutMs + 2000)) as {
      token: CommitToken;
      outcome: CommandOutcome | null;
    };
    // Relay the ack once this member has applied the write too (its commit index, written
    // before the apply, then covers what it acknowledged: rollback accounting counts on it,
    // and a read here right after sees the write). The leader's commit message is sent with
    // its ack, so this costs little; a member cut off meanwhile answers after one election
    // timeout anyway, as the write is committed.
    if (durability.replicaAck !== 'none') {
      const waitMs = this.opts.tickMs * this.opts.electionTicks;
      await this.waitApplied(res.token.index, this.clock.nowMs() + waitMs, () => `index ${res.token.index} not applied here within ${waitMs} ms`).catch(() => {});
    }
    return res;
  }

  /** The leader's half of a write (also serves writes forwarded by followers). */
  async proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    this.checkOpen();
    if (this.raft.currentRole !== 'leader') throw new NotLeaderError(this.leaderHint());
    if (this.writes.size >= MAX_PENDING_WRITES) throw new ProposalDroppedError(`${MAX_PENDING_WRITES} writes are already pending on this leader`);
    await this.waitForReplicas(durability.replicaAck);
    this.checkOpen(); // closed while waiting: nothing was proposed
    const { index, term } = this.raft.propose(data);
    this.schedule();
    const r = await this.writes.track(term, index, durability.replicaAck, needsOutcome, durability.ackTimeoutMs);
    if (durability.localSync) await syncForWrite(this.storage, r.index);
    return { token: { groupId: this.groupId, term: r.term, index: r.index }, outcome: r.outcome };
  }

  /** Electable members (leader included) the policy needs connected before a write is attempted. */
  private requiredReplicas(policy: AckPolicy): number {
    if (policy === 'none') return 1;
    if (policy === 'all') return this.raft.electableCount;
    return this.raft.quorumSize;
  }

  private async waitForReplicas(policy: AckPolicy): Promise<void> {
    const deadline = this.clock.nowMs() + this.opts.insufficientReplicasTimeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const required = this.requiredReplicas(policy);
      const active = this.raft.activeElectableCount();
      if (active >= required) return;
      if (this.clock.nowMs() >= deadline || this.raft.currentRole !== 'leader') {
        throw new InsufficientReplicasError(required, active, `the write needs ${required} electable members connected under '${policy}', ${active} are (waited ${this.opts.insufficientReplicasTimeoutMs} ms); nothing was written`);
      }
      await this.sleep(Math.min(this.opts.tickMs, Math.max(1, deadline - this.clock.nowMs())));
    }
  }

  // ------------------------------------------------------------------ reads

  /** The value of `key` (undefined if absent) under the given consistency (default linearizable). */
  async get(key: string, opts: { consistency?: Consistency; timeoutMs?: number } = {}): Promise<unknown> {
    this.checkOpen();
    if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string');
    await this.readBarrier(validateConsistency(opts.consistency ?? 'linearizable'), opts.timeoutMs ?? this.opts.readTimeoutMs);
    return this.storage.get(key);
  }

  /** Key/value pairs in a key range, in key order, under the given consistency. */
  async *scan(range: ScanOptions = {}, opts: { consistency?: Consistency; timeoutMs?: number } = {}): AsyncGenerator<[string, unknown], void, undefined> {
    this.checkOpen();
    await this.readBarrier(validateConsistency(opts.consistency ?? 'linearizable'), opts.timeoutMs ?? this.opts.readTimeoutMs);
    yield* this.storage.scan(range);
  }

  /** Waits until a read under `c` may be served from this node's state machine. */
  async readBarrier(c: Consistency, timeoutMs: number): Promise<void> {
    if (c === 'none') return;
    const deadline = this.clock.nowMs() + timeoutMs;
    if (c === 'linearizable' || c === 'lease') {
      const index = await this.readIndex(c === 'lease', deadline);
      await this.waitApplied(index, deadline, () => `applied index did not reach the read index ${index} within ${timeoutMs} ms`);
      return;
    }
    if ('atLeast' in c) {
      if (c.atLeast.groupId !== this.groupId) throw new InvalidArgumentError(`commit token of group '${c.atLeast.groupId}' used on group '${this.groupId}'`);
      await this.waitApplied(c.atLeast.index, deadline, () => `this node did not apply index ${c.atLeast.index} within ${timeoutMs} ms`);
      return;
    }
    // { maxLagMs }: JE's time consistency: heard from the leader recently and applied what it said was committed.
    for (let i = 0; i < 100_000; i++) {
      const contact = this.raft.lastLeaderContactAt;
      const now = this.clock.nowMs(); // the core's clock (lastLeaderContactAt is on it)
      const fresh = contact !== null && now - contact <= c.maxLagMs;
      if (fresh && this.storage.applied >= this.raft.commitIndex) return;
      if (this.clock.nowMs() >= deadline) {
        throw new ReplicaConsistencyError(`this node is more than ${c.maxLagMs} ms behind the leader (last contact ${contact === null ? 'never' : `${Math.round(now - contact)} ms ago`})`);
      }
      await this.sleep(Math.min(this.opts.tickMs, Math.max(1, deadline - this.clock.nowMs())));
    }
  }

  private async readIndex(lease: boolean, deadline: number): Promise<number> {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const ctx = `${this.readContextPrefix}:${++this.readSeq}`;
      try {
        if (this.pendingReads.size >= MAX_PENDING_READS) throw new ReplicaConsistencyError(`${MAX_PENDING_READS} reads already pending`);
        const p = new Promise<number>((resolve, reject) => {
          const wait = Math.max(1, Math.min(deadline - this.clock.nowMs(), this.opts.tickMs * this.opts.electionTicks));
          const timer = this.clock.setTimeout(() => {
            this.pendingReads.delete(ctx);
            reject(new ReplicaConsistencyError('read index not confirmed in time'));
          }, wait);
          this.pendingReads.set(ctx, { resolve, reject, timer });
        });
        this.raft.setNow(this.clock.nowMs());
        this.raft.readIndex(ctx, { lease });
        this.schedule();
        return await p;
      } catch (err) {
        const r = this.pendingReads.get(ctx);
        if (r) {
          this.clock.clearTimeout(r.timer);
          this.pendingReads.delete(ctx);
        }
        if (err instanceof NodeClosedError || this.closed) throw err;
        if (this.clock.nowMs() >= deadline) {
          throw new ReplicaConsistencyError(`could not confirm a linearizable read point: ${(err as Error).message} (no leader with a quorum?)`);
        }
        await this.sleep(Math.min(this.opts.tickMs, Math.max(1, deadline - this.clock.nowMs())));
      }
    }
    throw new ReplicaConsistencyError('could not confirm a linearizable read point');
  }

  private waitApplied(index: number, deadline: number, why: () => string): Promise<void> {
    return this.appliedWaiters.wait(index, this.storage.applied, Math.max(1, deadline - this.clock.nowMs()), () => new ReplicaConsistencyError(why()));
  }

  // ------------------------------------------------------------------ membership, override, leadership

  /**
   * Proposes one membership change through the leader; resolves once it is applied here.
   * Adding an electable member while this node or the leader runs with an override is
   * refused unless `force` (the override would fall below a true majority of the new E).
   */
  async changeMembership(change: ConfChange, timeoutMs = 10_000, opts: { force?: boolean } = {}): Promise<GroupMetadata> {
    this.checkOpen();
    checkConfChange(change);
    const force = opts.force === true;
    if (this.raft.currentRole === 'leader') return this.changeMembershipLocal(change, timeoutMs, force);
    this.checkOverrideAllows(change, force);
    const res = (await this.callLeader('group.change', { change, force }, timeoutMs)) as { group: GroupMetadata };
    return res.group;
  }

  /** This node's own override, checked before the change goes to the leader (which checks its own). */
  private checkOverrideAllows(change: ConfChange, force: boolean): void {
    const refusal = force ? null : overrideRefusal(this.id, this.raft.electableGroupSizeOverride, this.raft.electableCount, change);
    if (refusal) throw new ConfChangeError(refusal);
  }

  async changeMembershipLocal(change: ConfChange, timeoutMs: number, force = false): Promise<GroupMetadata> {
    const { index } = this.raft.proposeConfChange(checkConfChange(change), { force });
    this.schedule();
    await this.waitApplied(index, this.clock.nowMs() + timeoutMs, () => `membership change at index ${index} not applied within ${timeoutMs} ms`);
    return this.raft.groupMetadata;
  }

  /**
   * Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE (0 = off). Local, persisted in this node's
   * settings, never replicated. Larger than the electable group size only with `force`.
   */
  async setElectableGroupSizeOverride(n: number, opts: { force?: boolean } = {}): Promise<{ previous: number; current: number; electableGroupSize: number }> {
    this.checkOpen();
    // One change at a time, so that what is stored is what the core uses.
    const run = this.overrideChanges.then(() => this.changeOverride(n, opts));
    this.overrideChanges = run.catch(() => {});
    return run;
  }

  private overrideChanges: Promise<unknown> = Promise.resolve();

  /** Stores the override, then applies it: a failed store leaves the node as it was (issue 11, item 12). */
  private async changeOverride(n: number, opts: { force?: boolean }): Promise<{ previous: number; current: number; electableGroupSize: number }> {
    this.checkOpen();
    const previous = this.raft.electableGroupSizeOverride;
    validateOverride(n, this.raft.electableCount, opts.force === true);
    // The span of indexes that may commit under the override is stored with it, then
    // again once the core has applied it (the commit may have moved meanwhile).
    const previousSpan = this.raft.overrideSpan;
    const span = this.raft.overrideSpanAfter(n);
    await this.storage.setSettings({ electableGroupSizeOverride: n, overrideSpan: span });
    let change: OverrideChange;
    try {
      change = this.raft.setElectableGroupSizeOverride(n, opts);
    } catch (err) {
      // E changed while the setting was stored: put the stored values back.
      await this.storage.setSettings({ electableGroupSizeOverride: previous, overrideSpan: previousSpan });
      throw err;
    }
    this.noteOverrideChange();
    const applied = this.raft.overrideSpan;
    if (JSON.stringify(applied) !== JSON.stringify(span)) await this.storage.setSettings({ overrideSpan: applied });
    this.opts.logger.warn(
      n > 0
        ? `electable group size override set to ${n} (was ${change.previous}; electable group size ${change.electableGroupSize}): quorums now come from ${n}. Two leaders are possible if the rest of the group is alive; clear it as soon as a true majority is back.`
        : `electable group size override cleared (was ${change.previous}); quorums come from the electable group size ${change.electableGroupSize}`,
    );
    if (n > 0) this.startOverrideWarnings();
    else if (this.overrideTimer) {
      this.clock.clearInterval(this.overrideTimer);
      this.overrideTimer = null;
    }
    this.schedule();
    this.emit('overrideChanged', change);
    return change;
  }

  private startOverrideWarnings(): void {
    if (this.overrideTimer) return;
    this.overrideTimer = this.clock.setInterval(() => {
      const o = this.raft.electableGroupSizeOverride;
      if (o > 0) this.opts.logger.warn(`running with electable group size override ${o} (electable group size ${this.raft.status().electableGroupSize})`);
    }, OVERRIDE_WARNING_INTERVAL_MS);
    this.overrideTimer.unref();
  }

  /** Hands leadership to `target` (leader only); resolves when `target` leads or the timeout passes. */
  async transferLeadership(target: NodeId, timeoutMs = 5000): Promise<void> {
    this.checkOpen();
    this.raft.transferLeadership(target);
    this.schedule();
    const deadline = this.clock.nowMs() + timeoutMs;
    for (let i = 0; i < 100_000 && this.clock.nowMs() < deadline; i++) {
      if (this.raft.leaderId === target && this.raft.currentRole !== 'leader') return;
      await this.sleep(this.opts.tickMs / 2);
    }
    throw new ProposalDroppedError(`leadership did not move to ${target} within ${timeoutMs} ms`);
  }

  /** OpenIO's `election leave`: step out of the election (or leadership) and start over. */
  leaveElection(): void {
    this.checkOpen();
    this.raft.leaveElection();
    this.schedule();
  }

  // ------------------------------------------------------------------ status

  status(): NodeStatus {
    const st = this.raft.status();
    const member = st.group.members.some((m) => m.id === this.id && !m.removed);
    return {
      id: this.id,
      groupId: this.groupId,
      address: this.transport?.listenAddress ?? this.opts.listen,
      state: stateOf(st.role, st.promotable, member),
      role: st.role,
      term: st.term,
      leader: st.leader ? { id: st.leader, address: this.addressOf(st.leader) } : null,
      commitIndex: st.commitIndex,
      appliedIndex: this.storage.applied,
      lastIndex: st.lastIndex,
      electableGroupSize: st.electableGroupSize,
      electableGroupSizeOverride: st.electableGroupSizeOverride,
      effectiveGroupSize: st.effectiveGroupSize,
      electionQuorum: st.electionQuorum,
      commitQuorum: st.commitQuorum,
      ...this.overrideOrigin(),
      members: st.group.members,
      peers: st.peers.map((p) => ({
        id: p.id,
        address: this.addressOf(p.id),
        type: p.type,
        matchIndex: p.match,
        lag: Math.max(0, st.lastIndex - p.match),
        active: p.active,
        state: p.state,
      })),
      history: st.history,
      counters: st.counters,
      divergence: st.divergence,
      rollback: this.rollbackStatus(),
      nowMs: this.clock.wallNowMs(),
    };
  }

  private rollbackStatus(): RollbackStatus {
    const r = this.rollback;
    if (r.state === 'prohibited') {
      return { state: 'prohibited', lostWriteCount: r.report.lostWriteCount, rollbackLimit: this.opts.rollbackLimit, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, leader: r.report.leader, exact: r.report.exact };
    }
    if (r.state === 'divergedWithoutOverride') {
      return { state: 'divergedWithoutOverride', lostWriteCount: r.report.lostWriteCount, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, leader: r.report.leader, message: r.error.message };
    }
    if (r.state === 'rollingBack') return { state: 'rollingBack', lostWriteCount: r.report.lostWriteCount, file: r.file, leader: r.report.leader };
    return { state: 'none' };
  }

  get isLeader(): boolean {
    return this.raft.currentRole === 'leader';
  }

  /** The address the transport listens on (useful with port 0). */
  get address(): string {
    return this.transport.listenAddress ?? this.opts.listen;
  }

  /** Fault injection for tests and the nemesis (the transport's own hook). */
  get faults() {
    return this.transport.faults;
  }

  /** Whether the `test.faults` admin method acts (openNode's enableFaultInjection). */
  get faultInjectionEnabled(): boolean {
    return this.opts.enableFaultInjection;
  }

  // ------------------------------------------------------------------ helpers

  private addressesOf(group: GroupMetadata): Record<NodeId, string> {
    const out: Record<NodeId, string> = {};
    for (const m of group.members) if (!m.removed) out[m.id] = m.address;
    return out;
  }

  addressOf(id: NodeId): string | null {
    return this.raft.groupMetadata.members.find((m) => m.id === id)?.address ?? null;
  }

  private leaderHint(): string | null {
    const l = this.raft.leaderId;
    return l ? `${l}@${this.addressOf(l) ?? '?'}` : null;
  }

  electableIds(): NodeId[] {
    return electableIds(this.raft.groupMetadata);
  }

  private adminClient(address: string): Promise<LeaderRpcClient> {
    let p = this.adminClients.get(address);
    if (!p) {
      p = this.connectAdmin(address);
      p.catch(() => this.adminClients.delete(address));
      this.adminClients.set(address, p);
    }
    return p;
  }

  private dropAdminClient(address: string): void {
    const p = this.adminClients.get(address);
    this.adminClients.delete(address);
    p?.then((c) => c.close()).catch(() => {});
  }

  private connectAdmin(address: string): Promise<LeaderRpcClient> {
    return this.seams.network.connectAdmin(address, {
      ...(this.opts.adminSecret !== undefined ? { credential: this.opts.adminSecret } : {}),
      ...(this.opts.tls ? { tls: { caFile: this.opts.tls.caFile } } : {}),
      connectTimeoutMs: 2000,
    });
  }

  private forwardPool(address: string): ForwardPool {
    let pool = this.forwardPools.get(address);
    if (!pool) {
      pool = new ForwardPool(address, () => this.connectAdmin(address), FORWARD_POOL_LIMITS, this.clock);
      this.forwardPools.set(address, pool);
    }
    return pool;
  }

  /** Calls `method` on the current leader, following leader changes, within `timeoutMs`. */
  private async callLeader(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const deadline = this.clock.nowMs() + timeoutMs;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 200 && this.clock.nowMs() < deadline; attempt++) {
      this.checkOpen();
      const leader = this.raft.leaderId;
      if (leader === this.id) {
        if (method === 'kv.write') {
          const p = params as { data: Uint8Array; durability: Durability; needsOutcome: boolean };
          return this.proposeLocal(p.data, p.durability, p.needsOutcome);
        }
        if (method === 'group.change') {
          const p = params as { change: ConfChange; force?: boolean };
          return { group: await this.changeMembershipLocal(p.change, deadline - this.clock.nowMs(), p.force === true) };
        }
      }
      const address = leader ? this.addressOf(leader) : null;
      if (!address) {
        await this.sleep(this.opts.tickMs);
        continue;
      }
      try {
        return await this.forwardPool(address).request(method, params, Math.max(1, deadline - this.clock.nowMs()));
      } catch (err) {
        lastError = err;
        const code = (err as { code?: string }).code;
        if (err instanceof WriteOutcomeUnknownError) throw err; // sent, unanswered: never send twice
        if (err instanceof AdminRemoteError && code !== 'NOT_LEADER') throw reviveError(err);
        if (code !== 'NOT_LEADER') this.dropAdminClient(address);
        await this.sleep(this.opts.tickMs);
      }
    }
    if (lastError) throw reviveError(lastError);
    throw new NotLeaderError(null, `no leader answered within ${timeoutMs} ms`);
  }

  // ------------------------------------------------------------------ operator tools: the CLI's group, override and election commands

  /** Set once the override changes while running; until then it came from the start option or the stored setting. */
  private overrideChangedAtRuntime = false;
  private untilMajorityTimer: Timer | null = null;

  /** Where this node's override comes from, and whether it will clear itself (`--until-majority`). */
  overrideOrigin(): { overrideSource: OverrideSource; overrideUntilMajority: boolean } {
    const o = this.raft.electableGroupSizeOverride;
    const overrideSource: OverrideSource =
      o === 0 ? 'none' : this.overrideChangedAtRuntime ? 'runtime' : this.opts.electableGroupSizeOverride !== undefined ? 'option' : 'stored';
    return { overrideSource, overrideUntilMajority: this.untilMajorityTimer !== null };
  }

  /** Every change of the override, whoever makes it, ends an `--until-majority` watch. */
  private noteOverrideChange(): void {
    this.overrideChangedAtRuntime = true;
    this.stopUntilMajority();
  }

  /**
   * `conclave override set|clear` on this node. With `untilMajority`, the node clears its own
   * override once a true majority of the electable members is connected and caught up: the
   * JE procedure's last step, automated. The watch is not persisted: a restart ends it.
   */
  async setOverrideByAdmin(n: number, opts: { untilMajority?: boolean } = {}): Promise<{ previous: number; current: number; electableGroupSize: number; overrideSource: OverrideSource; overrideUntilMajority: boolean }> {
    const change = await this.setElectableGroupSizeOverride(n);
    if (opts.untilMajority === true && n > 0) this.startUntilMajority();
    return { ...change, ...this.overrideOrigin() };
  }

  private stopUntilMajority(): void {
    if (this.untilMajorityTimer) this.clock.clearInterval(this.untilMajorityTimer);
    this.untilMajorityTimer = null;
  }

  private startUntilMajority(): void {
    this.stopUntilMajority();
    const intervalMs = Math.max(100, this.opts.tickMs * this.opts.electionTicks);
    // The commit index of the previous check is the bar for "caught up", so that a member a
    // few in-flight entries behind under load still counts; the condition must hold on two
    // checks in a row, so that a member that just died (still "active" for an election
    // timeout) does not count.
    let seen: { leader: NodeId; term: number; commitIndex: number; met: boolean } | null = null;
    let busy = false;
    const timer: Timer = this.clock.setInterval(() => {
      if (this.closed) return this.stopUntilMajority();
      if (busy) return;
      busy = true;
      this.leaderStatus(intervalMs)
        .then(async (view) => {
          if (this.untilMajorityTimer !== timer) return;
          if (!view) {
            seen = null;
            return;
          }
          const prev: typeof seen = seen;
          const check = prev && prev.leader === view.id && prev.term === view.term ? trueMajorityCaughtUp(view, prev.commitIndex) : null;
          seen = { leader: view.id, term: view.term, commitIndex: view.commitIndex, met: check?.met === true };
          const override = this.raft.electableGroupSizeOverride;
          if (!check?.met || !prev?.met || override === 0) return;
          this.opts.logger.warn(
            `until-majority: clearing override ${override}: ${check.caughtUp.length} of ${check.electableGroupSize} electable members are connected and caught up (${check.caughtUp.join(', ')}), a true majority is ${check.needed}`,
          );
          await this.setElectableGroupSizeOverride(0);
        })
        .catch((err) => this.opts.logger.warn(`until-majority check failed: ${(err as Error).message}`))
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    timer.unref();
    this.untilMajorityTimer = timer;
    this.opts.logger.warn(`override ${this.raft.electableGroupSizeOverride} will be cleared once a true majority of the electable members is connected and caught up`);
  }

  /** The leader's status: this node's own, or asked of the leader; null when no leader answers. */
  private async leaderStatus(timeoutMs: number): Promise<NodeStatus | null> {
    if (this.raft.currentRole === 'leader') return this.status();
    const leader = this.raft.leaderId;
    const address = leader ? this.addressOf(leader) : null;
    if (!address) return null;
    try {
      const client = await this.adminClient(address);
      return (await client.request('node.status', {}, { timeoutMs })) as NodeStatus;
    } catch {
      this.dropAdminClient(address);
      return null;
    }
  }

  /** Runs `local` on the leader: here when this node leads, else through the leader's admin method. */
  private async onLeader<T>(method: string, params: Record<string, unknown>, timeoutMs: number, local: () => Promise<T>): Promise<T> {
    if (this.raft.currentRole === 'leader') return local();
    return (await this.callLeader(method, params, timeoutMs)) as T;
  }

  /** A new leader (or an unapplied change) makes the core refuse membership changes for a moment: retry until the deadline. */
  private async changeMembershipWhenReady(change: ConfChange, deadline: number, force = false): Promise<GroupMetadata> {
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 1000 && this.clock.nowMs() < deadline; attempt++) {
      try {
        return await this.changeMembershipLocal(change, Math.max(1, deadline - this.clock.nowMs()), force);
      } catch (err) {
        lastError = err;
        if (!(err instanceof ConfChangePendingError)) throw err;
        await this.sleep(this.opts.tickMs);
      }
    }
    throw lastError ?? new ConfChangeError(`membership change ${change.op} ${change.id} not accepted before the deadline`);
  }

  private memberOrThrow(id: NodeId): Member {
    const members = this.raft.groupMetadata.members;
    const m = members.find((x) => x.id === id);
    if (!m || m.removed) {
      if (m?.removed) throw new ConfChangeError(`member ${id} was removed; a removed id can never come back`);
      throw new UnknownMemberError(id, members.filter((x) => !x.removed).map((x) => x.id));
    }
    return m;
  }

  /**
   * `conclave group remove-member`: a committed change through the leader. The leader itself
   * is refused unless `transfer`, which first hands leadership to the most caught-up electable member.
   */
  async removeMember(id: NodeId, opts: { transfer?: boolean; timeoutMs?: number } = {}): Promise<{ group: GroupMetadata; removed: NodeId; transferredTo: NodeId | null }> {
    this.checkOpen();
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = this.clock.nowMs() + timeoutMs;
    this.memberOrThrow(id);
    const transfer = opts.transfer === true;
    return this.onLeader('group.removeMember', { id, transfer, timeoutMs }, timeoutMs, async () => {
      if (id !== this.id) return { group: await this.changeMembershipWhenReady({ op: 'remove', id }, deadline), removed: id, transferredTo: null };
      if (!transfer) throw new ConfChangeError(`${id} is the leader: transfer leadership first (conclave group transfer-leader ID...), or pass --transfer`);
      const others = this.electableIds().filter((x) => x !== id);
      const target = mostCaughtUp(this.status(), others);
      if (!target) throw new LeaderTransferError(`cannot remove the leader ${id}: no other electable member can take over`);
      await this.transferLeaderTo([target], { timeoutMs: Math.max(1, deadline - this.clock.nowMs()) });
      const left = Math.max(1, deadline - this.clock.nowMs());
      const res = (await this.callLeader('group.removeMember', { id, transfer: false, timeoutMs: left }, left)) as { group: GroupMetadata };
      return { group: res.group, removed: id, transferredTo: target };
    });
  }

  /**
   * `conclave group add-member`: a new id enters as `type`; a secondary already at `address`
   * is promoted when `type` is electable. A removed id is refused (the core checks too).
   */
  async addMember(id: NodeId, address: string, type: MemberType, timeoutMs = 10_000, opts: { force?: boolean } = {}): Promise<{ group: GroupMetadata; change: ConfChange['op'] }> {
    this.checkOpen();
    const deadline = this.clock.nowMs() + timeoutMs;
    const m = this.raft.groupMetadata.members.find((x) => x.id === id);
    let change: ConfChange;
    if (!m) change = type === 'electable' ? { op: 'addElectable', id, address } : { op: 'addSecondary', id, address };
    else if (m.removed) throw new ConfChangeError(`member ${id} was removed; a removed id can never rejoin`);
    else if (m.address !== address) throw new ConfChangeError(`member ${id} is already in the group at ${m.address}, not ${address}`);
    else if (m.type === 'secondary' && type === 'electable') change = { op: 'promote', id };
    else throw new ConfChangeError(`member ${id} is already ${m.type === 'electable' ? 'an electable member' : 'a secondary'} at ${m.address}`);
    const force = opts.force === true;
    this.checkOverrideAllows(change, force);
    return this.onLeader('group.addMember', { id, address, type, timeoutMs, force }, timeoutMs, async () => ({
      group: await this.changeMembershipWhenReady(change, deadline, force),
      change: change.op,
    }));
  }

  /**
   * JE's transferMaster: leadership goes to the most caught-up of `ids` (a no-op when this
   * leader is one of them). A transfer already under way is superseded only with `force`.
   */
  async transferLeaderTo(ids: readonly NodeId[], opts: { force?: boolean; timeoutMs?: number } = {}): Promise<{ previous: NodeId; leader: NodeId; address: string | null; alreadyLeader: boolean }> {
    this.checkOpen();
    if (ids.length === 0) throw new InvalidArgumentError('name at least one member to transfer leadership to');
    for (const id of ids) {
      const m = this.memberOrThrow(id);
      if (m.type !== 'electable') throw new InvalidArgumentError(`${id} is a secondary: leadership can only go to an electable member`);
      if (m.priority === 0) throw new InvalidArgumentError(`${id} has priority 0: it never campaigns, so it cannot lead`);
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const force = opts.force === true;
    return this.onLeader('group.transferLeader', { ids, force, timeoutMs }, timeoutMs, async () => {
      if (ids.includes(this.id)) return { previous: this.id, leader: this.id, address: this.address, alreadyLeader: true };
      const pending = this.raft.status().leadTransferee;
      if (pending !== null && !force) throw new LeaderTransferError(`a leadership transfer to ${pending} is under way; pass --force to supersede it`);
      const deadline = this.clock.nowMs() + timeoutMs;
      // The core abandons a transfer after an election timeout: try again, with the then most caught-up member.
      const attemptMs = 3 * this.opts.tickMs * this.opts.electionTicks;
      let lastError: unknown = null;
      for (let attempt = 0; attempt < 100 && this.clock.nowMs() < deadline; attempt++) {
        const target = this.raft.currentRole === 'leader' ? mostCaughtUp(this.status(), ids) : null;
        if (target) {
          try {
            await this.transferLeadership(target, Math.max(1, Math.min(attemptMs, deadline - this.clock.nowMs())));
          } catch (err) {
            lastError = err;
          }
        }
        const now = this.raft.leaderId;
        if (now !== null && ids.includes(now)) return { previous: this.id, leader: now, address: this.addressOf(now), alreadyLeader: false };
        if (this.raft.currentRole !== 'leader') await this.sleep(this.opts.tickMs);
      }
      throw new LeaderTransferError(transferFailure(ids, timeoutMs, this.raft.currentRole === 'leader' ? this.status().peers : null, lastError));
    });
  }

  /** OpenIO's `election ping`: start an election now if no leader is known; never waits for its result. */
  pingElection(): { action: 'campaign' | 'none'; reason: string } {
    this.checkOpen();
    const role = this.raft.currentRole;
    const leader = this.raft.leaderId;
    if (role === 'leader') return { action: 'none', reason: 'this node is the leader; check-quorum confirms it every election timeout' };
    if (leader !== null) return { action: 'none', reason: `follows ${leader}` };
    if (role !== 'follower') return { action: 'none', reason: `an election is already under way (${roleName(role)})` };
    if (!this.raft.status().promotable) return { action: 'none', reason: 'no leader known, and this node never campaigns (secondary, priority 0, or not a member)' };
    this.raft.campaign();
    this.schedule();
    return { action: 'campaign', reason: 'no leader known: election started (pre-vote first)' };
  }

  /** Why a client request could not finish before its deadline, said the way an operator can act on. */
  deadlineError(what: 'write' | 'read', timeoutMs: number): Error {
    const st = this.status();
    if (st.leader === null) {
      const peers = this.transport.stats().peers;
      const reachable = [this.id, ...Object.keys(peers).filter((id) => peers[id]!.connected && peers[id]!.inboundConnected)];
      const why = `${explainNoLeader(st, this.clock.nowMs())}`;
      const hint = overrideHint(st, reachable);
      if (what === 'read') return new NotLeaderError(null, `the read did not finish within ${timeoutMs} ms: ${why}${hint}`);
      // The write goes on after this answer (proposed here, or on its way to a leader that
      // may yet be elected): it may still commit.
      return new WriteOutcomeUnknownError(`the write did not finish within ${timeoutMs} ms: ${why}; it may still commit once a leader is elected${hint}`);
    }
    if (what === 'read') return new ReplicaConsistencyError(`the read was not served within ${timeoutMs} ms (leader ${st.leader.id})`);
    return new WriteOutcomeUnknownError(`the write was not acknowledged within ${timeoutMs} ms (leader ${st.leader.id}); it may or may not commit`);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Why leadership did not move, once: the targets that do not answer, else the last attempt's reason. */
function transferFailure(ids: readonly NodeId[], timeoutMs: number, peers: NodeStatus['peers'] | null, lastError: unknown): string {
  const head = `leadership did not move to ${ids.length === 1 ? ids[0] : `any of ${ids.join(', ')}`} within ${timeoutMs} ms`;
  const silent = peers === null ? [] : ids.filter((id) => peers.find((p) => p.id === id)?.active !== true);
  if (silent.length > 0) return `${head}: ${silent.join(', ')} ${silent.length === 1 ? 'does' : 'do'} not answer the leader (stopped, or cut off from it)`;
  const reason = (lastError as Error | null)?.message;
  // The last attempt's error often says the same thing again: only add a different reason.
  return reason && !reason.startsWith('leadership did not move') ? `${head}: ${reason}` : head;
}

/** Turns an error that came over admin RPC back into our typed error, keeping its code. */
export function reviveError(err: unknown): Error {
  if (!(err instanceof AdminRemoteError)) return err instanceof Error ? err : new Error(String(err));
  const d = err.data;
  switch (err.code) {
    case 'NOT_LEADER':
      return new NotLeaderError(typeof d.leaderHint === 'string' ? d.leaderHint : null, err.message);
    case 'INSUFFICIENT_REPLICAS':
      return new InsufficientReplicasError(Number(d.required ?? 0), Number(d.active ?? 0), err.message);
    case 'INSUFFICIENT_ACKS':
      return new InsufficientAcksError(Number(d.index ?? 0), String(d.policy ?? ''), Number(d.timeoutMs ?? 0), err.message);
    case 'WRITE_REPLACED':
      return new WriteReplacedError(Number(d.index ?? 0), Number(d.term ?? 0), err.message);
    case 'REPLICA_CONSISTENCY':
      return new ReplicaConsistencyError(err.message);
    case 'WRITE_OUTCOME_UNKNOWN':
      return new WriteOutcomeUnknownError(err.message);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(err.message);
    case 'PROPOSAL_DROPPED':
      return new ProposalDroppedError(err.message);
    case 'REQUEST_TOO_LARGE':
      return new RequestTooLargeError(Number(d.sizeBytes ?? 0), Number(d.limitBytes ?? 0));
    default:
      return err;
  }
}

/** Opens a node: see OpenNodeOptions and the README's embedding example. */
export function openNode(options: OpenNodeOptions): Promise<ConclaveNode> {
  return ConclaveNode.open(options);
}
