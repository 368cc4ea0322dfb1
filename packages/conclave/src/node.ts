// openNode(): the embedded replicated store. One event loop drives the pure core with
// LevelDB storage and the WebSocket transport: ticks from a timer, a Ready loop with group
// commit (every proposal of a turn lands in one batch and one fsync), and waiters that
// resolve writes by their ack policy and reads by their consistency policy.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import {
  checkConfChange,
  ConfChangePendingError,
  electableIds,
  initialGroup,
  InvalidArgumentError,
  NotLeaderError,
  ProposalDroppedError,
  RaftNode,
  seededRandom,
  type AckPolicy,
  type ConfChange,
  type Entry,
  type GroupMetadata,
  type Member,
  type MemberType,
  type Message,
  type NodeId,
  type RaftStatus,
  type Ready,
  type Role,
} from '@conclave/core';
import { encodeCommand, NodeStorage, type ApplyResult, type CommandOutcome, type KvBatchOp, type KvCommand, type ScanOptions } from '@conclave/storage';
import { AdminRpcClient, AdminRemoteError, Transport } from '@conclave/transport';
import { registerAdminHandlers } from './admin-handlers.js';
import { ForwardPool } from './forward-pool.js';
import {
  InsufficientAcksError,
  InsufficientReplicasError,
  NodeClosedError,
  ReplicaConsistencyError,
  RollbackProhibitedError,
  WriteOutcomeUnknownError,
} from './errors.js';
import { describeLoss, saveRollbackReport, type RollbackReport } from './rollback.js';
import { syncForWrite } from './local-sync.js';
import { resolveDurability, resolveOptions, validateConsistency, type CommitToken, type Consistency, type Durability, type OpenNodeOptions, type ResolvedOptions } from './options.js';
import { IndexWaiters, sleep } from './waiters.js';
import { explainNoLeader, roleName } from './election-diagnosis.js';
import { ConfChangeError, LeaderTransferError, UnknownMemberError } from './errors.js';
import { mostCaughtUp, trueMajorityCaughtUp } from './member-choice.js';

export type NodeState = 'leader' | 'follower' | 'candidate' | 'detached';

/** Where a node's override comes from: off, the start option, the setting stored by an earlier run, or a change while running. */
export type OverrideSource = 'none' | 'option' | 'stored' | 'runtime';

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
  error: [error: Error];
}

export type RollbackStatus =
  | { readonly state: 'none' }
  | { readonly state: 'prohibited'; readonly lostWriteCount: number; readonly rollbackLimit: number; readonly fromIndex: number; readonly toIndex: number; readonly leader: NodeId }
  | { readonly state: 'rollingBack'; readonly lostWriteCount: number; readonly file: string; readonly leader: NodeId };

type RollbackState =
  | { state: 'none' }
  | { state: 'prohibited'; report: RollbackReport; error: RollbackProhibitedError }
  | { state: 'rollingBack'; report: RollbackReport; file: string };

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
}

interface PendingWrite {
  readonly term: number;
  readonly policy: AckPolicy;
  readonly waitForApply: boolean;
  readonly timeoutMs: number;
  readonly resolve: (r: { outcome: CommandOutcome | null; index: number; term: number }) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  outcome: CommandOutcome | null;
  applied: boolean;
}

interface PendingRead {
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const MAX_PENDING_WRITES = 100_000;
const MAX_PENDING_READS = 100_000;
const OVERRIDE_WARNING_INTERVAL_MS = 30_000;
/** Readies handled per loop turn before yielding to the event loop. */
const MAX_READIES_PER_TURN = 256;

function stateOf(role: Role, promotable: boolean, member: boolean): NodeState {
  if (!member) return 'detached';
  if (role === 'leader') return 'leader';
  if (role === 'candidate' || (role === 'preCandidate' && promotable)) return 'candidate';
  return 'follower';
}

export class ConclaveNode extends EventEmitter<NodeEvents> {
  readonly id: NodeId;
  readonly groupId: string;
  private readonly opts: ResolvedOptions;
  private raft!: RaftNode;
  private storage!: NodeStorage;
  private transport!: Transport;
  private tickTimer: NodeJS.Timeout | null = null;
  private overrideTimer: NodeJS.Timeout | null = null;
  private loopScheduled = false;
  private loopRunning: Promise<void> | null = null;
  private closed = false;
  private failure: Error | null = null;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private readonly appliedWaiters = new IndexWaiters('applied index', MAX_PENDING_READS);
  private readonly adminClients = new Map<string, Promise<AdminRpcClient>>();
  /** Forwarded requests to the leader, per address (forward-pool.ts). */
  private readonly forwardPools = new Map<string, ForwardPool>();
  private readonly snapshotsSending = new Set<NodeId>();
  private stagedSnapshotIndex = 0;
  private readSeq = 0;
  private lastState: NodeState = 'follower';
  private rollback: RollbackState = { state: 'none' };
  private divergenceTask: Promise<void> | null = null;
  private lastLeader: NodeId | null = null;

  private constructor(opts: ResolvedOptions) {
    super();
    this.opts = opts;
    this.id = opts.id;
    this.groupId = opts.groupId;
  }

  /** Opens (bootstrapping, restarting or joining) a node. See OpenNodeOptions. */
  static async open(options: OpenNodeOptions): Promise<ConclaveNode> {
    const node = new ConclaveNode(resolveOptions(options));
    await node.start();
    return node;
  }

  // ------------------------------------------------------------------ start and stop

  private async start(): Promise<void> {
    const o = this.opts;
    this.storage = await NodeStorage.open({
      path: o.dataDir,
      groupId: o.groupId,
      syncPolicy: o.syncPolicy,
      // Applies and commit-only hard states ride with the next log write: the log is durable,
      // so a crash only re-applies them; this takes two fsyncs off every commit (bench/README.md).
      deferApplyWrites: true,
      ...(o.snapshotIntervalEntries !== undefined ? { snapshotIntervalEntries: o.snapshotIntervalEntries } : {}),
      ...(o.entriesKeptAfterSnapshot !== undefined ? { entriesKeptAfterSnapshot: o.entriesKeptAfterSnapshot } : {}),
      ...(o.snapshotIntervalBytes !== undefined ? { snapshotIntervalBytes: o.snapshotIntervalBytes } : {}),
      ...(o.bytesKeptAfterSnapshot !== undefined ? { bytesKeptAfterSnapshot: o.bytesKeptAfterSnapshot } : {}),
    });
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
    const raftConfig = {
      id: o.id,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      random: seededRandom(randomBytes(4).readUInt32LE(0)),
      electableGroupSizeOverride: override,
      nowMs: Date.now(),
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
    this.transport = new Transport({
      id: o.id,
      groupId: o.groupId,
      listen: o.listen,
      peers,
      ...(o.secret !== undefined ? { secret: o.secret } : {}),
      ...(o.adminSecret !== undefined ? { adminSecret: o.adminSecret } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
    });
    this.transport.onMessage((m) => this.onMessage(m));
    this.transport.onSnapshot((from, meta, chunks) => this.receiveSnapshot(from, meta.index, meta, chunks));
    this.transport.on('unreachable', (peer) => {
      this.raft.reportUnreachable(peer);
      this.schedule();
    });
    this.transport.on('handlerError', (err) => o.logger.warn(`transport handler failed: ${(err as Error)?.message ?? String(err)}`));
    registerAdminHandlers(this.transport, this);
    await this.transport.start();
    this.tickTimer = setInterval(() => {
      if (this.closed) return;
      this.raft.tick(Date.now());
      this.schedule();
    }, o.tickMs);
    if (override > 0) this.startOverrideWarnings();
    this.schedule();
    if (joining) await this.requestJoin(o.join!);
  }

  /** Asks a running member to add this node as a secondary; retries until the deadline. */
  private async requestJoin(address: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 100 && Date.now() < deadline; attempt++) {
      try {
        const client = await this.adminClient(address);
        const res = (await client.request(
          'group.change',
          { change: { op: 'addSecondary', id: this.id, address: this.opts.listen } satisfies ConfChange },
          { timeoutMs: Math.max(1000, deadline - Date.now()) },
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
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    throw new WriteOutcomeUnknownError(`could not join through ${address} within 30 s: ${(lastError as Error)?.message ?? 'no answer'}`);
  }

  /** Stops the node: pending operations fail with NodeClosedError; data stays on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new NodeClosedError(this.id);
    this.failAll(err);
    if (this.loopRunning) await this.loopRunning.catch(() => {});
    await this.closeQuietly();
  }

  private async closeQuietly(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.overrideTimer) clearInterval(this.overrideTimer);
    this.tickTimer = null;
    this.overrideTimer = null;
    for (const p of this.adminClients.values()) p.then((c) => c.close()).catch(() => {});
    for (const pool of this.forwardPools.values()) pool.close();
    this.forwardPools.clear();
    this.adminClients.clear();
    await this.transport?.close().catch(() => {});
    await this.storage?.close().catch(() => {});
  }

  private failAll(err: Error): void {
    for (const [index, p] of this.pendingWrites) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pendingWrites.delete(index);
    }
    for (const [ctx, r] of this.pendingReads) {
      clearTimeout(r.timer);
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
    this.failAll(err);
    void this.closeQuietly();
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private checkOpen(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new NodeClosedError(this.id);
  }

  // ------------------------------------------------------------------ the Ready loop

  private onMessage(m: Message): void {
    if (this.closed) return;
    if (m.type === 'snap') {
      // Step a snapshot only once its data is staged; otherwise the leader will resend it.
      if (!m.snapshot || this.stagedSnapshotIndex !== m.snapshot.index) return;
    }
    this.raft.setNow(Date.now()); // lease reads time what a quorum said by the wall clock
    this.raft.step(m);
    this.schedule();
  }

  private schedule(): void {
    if (this.loopScheduled || this.closed) return;
    this.loopScheduled = true;
    // setImmediate: everything that arrives in this turn joins one Ready (group commit).
    setImmediate(() => {
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
        this.stagedSnapshotIndex = 0;
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
      clearTimeout(r.timer);
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
    this.resolveByAckIndex();
    this.appliedWaiters.advance(this.storage.applied);
    if (this.stagedSnapshotIndex > 0 && this.raft.commitIndex >= this.stagedSnapshotIndex) {
      // The core passed over the staged snapshot: it will never be installed.
      this.stagedSnapshotIndex = 0;
      await this.storage.abortInstall();
    }
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
    if (st.role !== 'leader') {
      // Writes waiting on ack indexes only a leader can see now wait for their apply instead.
      for (const p of this.pendingWrites.values()) if (p.policy !== 'simpleMajority') (p as { waitForApply: boolean }).waitForApply = true;
    }
  }

  private onApplied(entries: readonly Entry[], results: readonly ApplyResult[]): void {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const r = results[i];
      if (r?.outcome?.op === 'conf') this.onGroupChanged(r.outcome.group, e);
      const p = this.pendingWrites.get(e.index);
      if (!p) continue;
      if (e.term !== p.term) {
        this.settleWrite(e.index, new WriteOutcomeUnknownError(`leadership changed before index ${e.index} committed; the write was not applied`));
        continue;
      }
      p.applied = true;
      p.outcome = r?.outcome ?? null;
      if (r?.error) {
        this.settleWrite(e.index, r.error);
        continue;
      }
      if (p.policy === 'simpleMajority' || p.waitForApply) this.settleWrite(e.index, null);
    }
    // 'none' and 'all' writes are settled by resolveByAckIndex after advance(), once.
  }

  /** `none` resolves at the leader's durable write, `all` once every electable member has it. */
  private resolveByAckIndex(): void {
    if (this.pendingWrites.size === 0 || this.raft.currentRole !== 'leader') return;
    const none = this.raft.ackIndex('none');
    const all = this.raft.ackIndex('all');
    for (const [index, p] of this.pendingWrites) {
      if (p.policy === 'all' && p.applied && all >= index) this.settleWrite(index, null);
      else if (p.policy === 'none' && !p.waitForApply && none >= index && this.raft.termAt(index) === p.term) this.settleWrite(index, null);
    }
  }

  private settleWrite(index: number, err: Error | null): void {
    const p = this.pendingWrites.get(index);
    if (!p) return;
    this.pendingWrites.delete(index);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve({ outcome: p.outcome, index, term: p.term });
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
    this.stagedSnapshotIndex = 0;
    await this.storage.beginInstall(meta, { rollback: this.rollback.state === 'rollingBack' });
    for await (const chunk of chunks) await this.storage.installChunk(chunk);
    this.stagedSnapshotIndex = index;
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
    const report = await describeLoss(this.storage, d, this.id, this.groupId);
    const limit = this.opts.rollbackLimit;
    if (!accepted && !this.opts.acceptRollback && report.lostWriteCount > limit) {
      const err = new RollbackProhibitedError(
        report.lostWriteCount,
        limit,
        `node ${this.id} diverged from leader ${d.leader} (term ${d.term}) at index ${d.index}: rejoining would roll back ${report.lostWriteCount} committed writes, more than rollbackLimit ${limit}. ` +
          `It stays out of the group. To accept the loss, restart it with --accept-rollback (conclave node start ... --accept-rollback) or call acceptRollback() on it.`,
      );
      this.rollback = { state: 'prohibited', report, error: err };
      this.opts.logger.error(err.message);
      this.emit('rollbackProhibited', err);
      return;
    }
    // The record for the operator goes to disk before anything is lost.
    const file = await saveRollbackReport(this.opts.dataDir, report);
    this.opts.logger.warn(
      `diverged from leader ${d.leader} at index ${d.index}: rolling back ${report.lostWriteCount} committed writes [${d.index}, ${d.committed}] to follow it; they are saved in ${file}`,
    );
    this.rollback = { state: 'rollingBack', report, file };
    this.raft.requestRollback();
    this.schedule();
  }

  /** The operator's answer to RollbackProhibitedError: roll back whatever the size. */
  async acceptRollback(): Promise<void> {
    this.checkOpen();
    if (this.rollback.state !== 'prohibited') throw new InvalidArgumentError(`node ${this.id} has no prohibited rollback to accept`);
    this.rollback = { state: 'none' };
    await this.onDivergence(true);
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
      await this.waitApplied(res.token.index, Date.now() + waitMs, () => `index ${res.token.index} not applied here within ${waitMs} ms`).catch(() => {});
    }
    return res;
  }

  /** The leader's half of a write (also serves writes forwarded by followers). */
  async proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    this.checkOpen();
    if (this.raft.currentRole !== 'leader') throw new NotLeaderError(this.leaderHint());
    if (this.pendingWrites.size >= MAX_PENDING_WRITES) throw new ProposalDroppedError(`${MAX_PENDING_WRITES} writes are already pending on this leader`);
    await this.waitForReplicas(durability.replicaAck);
    const { index, term } = this.raft.propose(data);
    this.schedule();
    const r = await new Promise<{ outcome: CommandOutcome | null; index: number; term: number }>((resolve, reject) => {
      const timer = setTimeout(() => this.onAckTimeout(index), durability.ackTimeoutMs);
      this.pendingWrites.set(index, {
        term,
        policy: durability.replicaAck,
        waitForApply: needsOutcome,
        timeoutMs: durability.ackTimeoutMs,
        resolve,
        reject,
        timer,
        outcome: null,
        applied: false,
      });
    });
    if (durability.localSync) await syncForWrite(this.storage, r.index);
    return { token: { groupId: this.groupId, term: r.term, index: r.index }, outcome: r.outcome };
  }

  private onAckTimeout(index: number): void {
    const p = this.pendingWrites.get(index);
    if (!p) return;
    const durableHere = this.raft.termAt(index) === p.term && this.raft.ackIndex('none') >= index;
    this.settleWrite(
      index,
      durableHere
        ? new InsufficientAcksError(index, p.policy, p.timeoutMs)
        : new WriteOutcomeUnknownError(`write at index ${index} was not acknowledged within ${p.timeoutMs} ms and this node is no longer the leader`),
    );
  }

  /** Electable members (leader included) the policy needs connected before a write is attempted. */
  private requiredReplicas(policy: AckPolicy): number {
    if (policy === 'none') return 1;
    if (policy === 'all') return this.raft.electableCount;
    return this.raft.quorumSize;
  }

  private async waitForReplicas(policy: AckPolicy): Promise<void> {
    const deadline = Date.now() + this.opts.insufficientReplicasTimeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const required = this.requiredReplicas(policy);
      const active = this.raft.activeElectableCount();
      if (active >= required) return;
      if (Date.now() >= deadline || this.raft.currentRole !== 'leader') {
        throw new InsufficientReplicasError(required, active, `the write needs ${required} electable members connected under '${policy}', ${active} are (waited ${this.opts.insufficientReplicasTimeoutMs} ms); nothing was written`);
      }
      await sleep(Math.min(this.opts.tickMs, Math.max(1, deadline - Date.now())));
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
    const deadline = Date.now() + timeoutMs;
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
      const fresh = contact !== null && Date.now() - contact <= c.maxLagMs;
      if (fresh && this.storage.applied >= this.raft.commitIndex) return;
      if (Date.now() >= deadline) {
        throw new ReplicaConsistencyError(`this node is more than ${c.maxLagMs} ms behind the leader (last contact ${contact === null ? 'never' : `${Date.now() - contact} ms ago`})`);
      }
      await sleep(Math.min(this.opts.tickMs, Math.max(1, deadline - Date.now())));
    }
  }

  private async readIndex(lease: boolean, deadline: number): Promise<number> {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const ctx = `${this.id}:${++this.readSeq}`;
      try {
        if (this.pendingReads.size >= MAX_PENDING_READS) throw new ReplicaConsistencyError(`${MAX_PENDING_READS} reads already pending`);
        const p = new Promise<number>((resolve, reject) => {
          const wait = Math.max(1, Math.min(deadline - Date.now(), this.opts.tickMs * this.opts.electionTicks));
          const timer = setTimeout(() => {
            this.pendingReads.delete(ctx);
            reject(new ReplicaConsistencyError('read index not confirmed in time'));
          }, wait);
          this.pendingReads.set(ctx, { resolve, reject, timer });
        });
        this.raft.setNow(Date.now());
        this.raft.readIndex(ctx, { lease });
        this.schedule();
        return await p;
      } catch (err) {
        const r = this.pendingReads.get(ctx);
        if (r) {
          clearTimeout(r.timer);
          this.pendingReads.delete(ctx);
        }
        if (err instanceof NodeClosedError || this.closed) throw err;
        if (Date.now() >= deadline) {
          throw new ReplicaConsistencyError(`could not confirm a linearizable read point: ${(err as Error).message} (no leader with a quorum?)`);
        }
        await sleep(Math.min(this.opts.tickMs, Math.max(1, deadline - Date.now())));
      }
    }
    throw new ReplicaConsistencyError('could not confirm a linearizable read point');
  }

  private waitApplied(index: number, deadline: number, why: () => string): Promise<void> {
    return this.appliedWaiters.wait(index, this.storage.applied, Math.max(1, deadline - Date.now()), () => new ReplicaConsistencyError(why()));
  }

  // ------------------------------------------------------------------ membership, override, leadership

  /** Proposes one membership change through the leader; resolves once it is applied here. */
  async changeMembership(change: ConfChange, timeoutMs = 10_000): Promise<GroupMetadata> {
    this.checkOpen();
    checkConfChange(change);
    if (this.raft.currentRole === 'leader') return this.changeMembershipLocal(change, timeoutMs);
    const res = (await this.callLeader('group.change', { change }, timeoutMs)) as { group: GroupMetadata };
    return res.group;
  }

  async changeMembershipLocal(change: ConfChange, timeoutMs: number): Promise<GroupMetadata> {
    const { index } = this.raft.proposeConfChange(checkConfChange(change));
    this.schedule();
    await this.waitApplied(index, Date.now() + timeoutMs, () => `membership change at index ${index} not applied within ${timeoutMs} ms`);
    return this.raft.groupMetadata;
  }

  /**
   * Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE (0 = off). Local, persisted in this node's
   * settings, never replicated. Larger than the electable group size only with `force`.
   */
  async setElectableGroupSizeOverride(n: number, opts: { force?: boolean } = {}): Promise<{ previous: number; current: number; electableGroupSize: number }> {
    this.checkOpen();
    const change = this.raft.setElectableGroupSizeOverride(n, opts);
    this.noteOverrideChange();
    await this.storage.setSettings({ electableGroupSizeOverride: n });
    this.opts.logger.warn(
      n > 0
        ? `electable group size override set to ${n} (was ${change.previous}; electable group size ${change.electableGroupSize}): quorums now come from ${n}. Two leaders are possible if the rest of the group is alive; clear it as soon as a true majority is back.`
        : `electable group size override cleared (was ${change.previous}); quorums come from the electable group size ${change.electableGroupSize}`,
    );
    if (n > 0) this.startOverrideWarnings();
    else if (this.overrideTimer) {
      clearInterval(this.overrideTimer);
      this.overrideTimer = null;
    }
    this.schedule();
    this.emit('overrideChanged', change);
    return change;
  }

  private startOverrideWarnings(): void {
    if (this.overrideTimer) return;
    this.overrideTimer = setInterval(() => {
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
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      if (this.raft.leaderId === target && this.raft.currentRole !== 'leader') return;
      await sleep(this.opts.tickMs / 2);
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
    };
  }

  private rollbackStatus(): RollbackStatus {
    const r = this.rollback;
    if (r.state === 'prohibited') {
      return { state: 'prohibited', lostWriteCount: r.report.lostWriteCount, rollbackLimit: this.opts.rollbackLimit, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, leader: r.report.leader };
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

  private adminClient(address: string): Promise<AdminRpcClient> {
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

  private connectAdmin(address: string): Promise<AdminRpcClient> {
    return AdminRpcClient.connect(address, {
      ...(this.opts.adminSecret !== undefined ? { credential: this.opts.adminSecret } : {}),
      ...(this.opts.tls ? { tls: { caFile: this.opts.tls.caFile } } : {}),
      connectTimeoutMs: 2000,
    });
  }

  private forwardPool(address: string): ForwardPool {
    let pool = this.forwardPools.get(address);
    if (!pool) {
      pool = new ForwardPool(address, () => this.connectAdmin(address));
      this.forwardPools.set(address, pool);
    }
    return pool;
  }

  /** Calls `method` on the current leader, following leader changes, within `timeoutMs`. */
  private async callLeader(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
      this.checkOpen();
      const leader = this.raft.leaderId;
      if (leader === this.id) {
        if (method === 'kv.write') {
          const p = params as { data: Uint8Array; durability: Durability; needsOutcome: boolean };
          return this.proposeLocal(p.data, p.durability, p.needsOutcome);
        }
        if (method === 'group.change') return { group: await this.changeMembershipLocal((params as { change: ConfChange }).change, deadline - Date.now()) };
      }
      const address = leader ? this.addressOf(leader) : null;
      if (!address) {
        await sleep(this.opts.tickMs);
        continue;
      }
      try {
        return await this.forwardPool(address).request(method, params, Math.max(1, deadline - Date.now()));
      } catch (err) {
        lastError = err;
        const code = (err as { code?: string }).code;
        if (err instanceof WriteOutcomeUnknownError) throw err; // sent, unanswered: never send twice
        if (err instanceof AdminRemoteError && code !== 'NOT_LEADER') throw reviveError(err);
        if (code !== 'NOT_LEADER') this.dropAdminClient(address);
        await sleep(this.opts.tickMs);
      }
    }
    if (lastError) throw reviveError(lastError);
    throw new NotLeaderError(null, `no leader answered within ${timeoutMs} ms`);
  }

  // ------------------------------------------------------------------ operator tools: the CLI's group, override and election commands

  /** Set once the override changes while running; until then it came from the start option or the stored setting. */
  private overrideChangedAtRuntime = false;
  private untilMajorityTimer: NodeJS.Timeout | null = null;

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
    if (this.untilMajorityTimer) clearInterval(this.untilMajorityTimer);
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
    const timer: NodeJS.Timeout = setInterval(() => {
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
  private async changeMembershipWhenReady(change: ConfChange, deadline: number): Promise<GroupMetadata> {
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt++) {
      try {
        return await this.changeMembershipLocal(change, Math.max(1, deadline - Date.now()));
      } catch (err) {
        lastError = err;
        if (!(err instanceof ConfChangePendingError)) throw err;
        await sleep(this.opts.tickMs);
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
    const deadline = Date.now() + timeoutMs;
    this.memberOrThrow(id);
    const transfer = opts.transfer === true;
    return this.onLeader('group.removeMember', { id, transfer, timeoutMs }, timeoutMs, async () => {
      if (id !== this.id) return { group: await this.changeMembershipWhenReady({ op: 'remove', id }, deadline), removed: id, transferredTo: null };
      if (!transfer) throw new ConfChangeError(`${id} is the leader: transfer leadership first (conclave group transfer-leader ID...), or pass --transfer`);
      const others = this.electableIds().filter((x) => x !== id);
      const target = mostCaughtUp(this.status(), others);
      if (!target) throw new LeaderTransferError(`cannot remove the leader ${id}: no other electable member can take over`);
      await this.transferLeaderTo([target], { timeoutMs: Math.max(1, deadline - Date.now()) });
      const left = Math.max(1, deadline - Date.now());
      const res = (await this.callLeader('group.removeMember', { id, transfer: false, timeoutMs: left }, left)) as { group: GroupMetadata };
      return { group: res.group, removed: id, transferredTo: target };
    });
  }

  /**
   * `conclave group add-member`: a new id enters as `type`; a secondary already at `address`
   * is promoted when `type` is electable. A removed id is refused (the core checks too).
   */
  async addMember(id: NodeId, address: string, type: MemberType, timeoutMs = 10_000): Promise<{ group: GroupMetadata; change: ConfChange['op'] }> {
    this.checkOpen();
    const deadline = Date.now() + timeoutMs;
    const m = this.raft.groupMetadata.members.find((x) => x.id === id);
    let change: ConfChange;
    if (!m) change = type === 'electable' ? { op: 'addElectable', id, address } : { op: 'addSecondary', id, address };
    else if (m.removed) throw new ConfChangeError(`member ${id} was removed; a removed id can never rejoin`);
    else if (m.address !== address) throw new ConfChangeError(`member ${id} is already in the group at ${m.address}, not ${address}`);
    else if (m.type === 'secondary' && type === 'electable') change = { op: 'promote', id };
    else throw new ConfChangeError(`member ${id} is already ${m.type === 'electable' ? 'an electable member' : 'a secondary'} at ${m.address}`);
    return this.onLeader('group.addMember', { id, address, type, timeoutMs }, timeoutMs, async () => ({
      group: await this.changeMembershipWhenReady(change, deadline),
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
      const deadline = Date.now() + timeoutMs;
      // The core abandons a transfer after an election timeout: try again, with the then most caught-up member.
      const attemptMs = 3 * this.opts.tickMs * this.opts.electionTicks;
      let lastError: unknown = null;
      for (let attempt = 0; attempt < 100 && Date.now() < deadline; attempt++) {
        const target = this.raft.currentRole === 'leader' ? mostCaughtUp(this.status(), ids) : null;
        if (target) {
          try {
            await this.transferLeadership(target, Math.max(1, Math.min(attemptMs, deadline - Date.now())));
          } catch (err) {
            lastError = err;
          }
        }
        const now = this.raft.leaderId;
        if (now !== null && ids.includes(now)) return { previous: this.id, leader: now, address: this.addressOf(now), alreadyLeader: false };
        if (this.raft.currentRole !== 'leader') await sleep(this.opts.tickMs);
      }
      throw new LeaderTransferError(`leadership did not move to any of ${ids.join(', ')} within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
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
    if (st.leader === null) return new NotLeaderError(null, `the ${what} did not finish within ${timeoutMs} ms: ${explainNoLeader(st, Date.now())}`);
    if (what === 'read') return new ReplicaConsistencyError(`the read was not served within ${timeoutMs} ms (leader ${st.leader.id})`);
    return new WriteOutcomeUnknownError(`the write was not acknowledged within ${timeoutMs} ms (leader ${st.leader.id}); it may or may not commit`);
  }
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
      return new InsufficientAcksError(Number(d.index ?? 0), String(d.policy ?? ''), Number(d.timeoutMs ?? 0));
    case 'REPLICA_CONSISTENCY':
      return new ReplicaConsistencyError(err.message);
    case 'WRITE_OUTCOME_UNKNOWN':
      return new WriteOutcomeUnknownError(err.message);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(err.message);
    case 'PROPOSAL_DROPPED':
      return new ProposalDroppedError(err.message);
    default:
      return err;
  }
}

/** Opens a node: see OpenNodeOptions and the README's embedding example. */
export function openNode(options: OpenNodeOptions): Promise<ConclaveNode> {
  return ConclaveNode.open(options);
}
