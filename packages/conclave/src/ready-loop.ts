// The Ready loop: the one place where the core's output becomes effects. Messages go out,
// the log and hard state are handed to storage (log-writer.ts: the loop does not wait for
// the fsync; the messages that depend on the write go once it is durable), committed
// entries are applied in order behind it, and the waiting writes and reads are told. The
// Readies taken while a write is in flight go to disk in one batch and one fsync (group commit). Snapshots
// stream outside the Raft messages: sent here, received and staged by SnapshotReceiver.
import { watchesApplied, watchesInstalled } from './watch/watch-hub.js';
import type { Entry, GroupMetadata, Message, NodeId, Ready, SnapshotMeta } from '@conclave/core';
import type { ApplyResult } from '@conclave/storage';
import { addressesOf, asError, type NodeContext } from './node-context.js';
import type { ReadGate } from './read-gate.js';
import type { RollbackKeeper } from './rollback-keeper.js';
import type { Timer } from './seams.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { stateOf, type NodeState } from './status.js';
import { stampEntries } from './write-trace.js';
import type { WriteTracker } from './write-tracker.js';
import { LogWriter, MAX_QUEUED_WRITE_BYTES } from './log-writer.js';

/** Readies handled per loop turn before yielding to the event loop. */
const MAX_READIES_PER_TURN = 256;

export class ReadyLoop {
  private loopScheduled = false;
  private loopRunning: Promise<void> | null = null;
  private readonly snapshotsSending = new Set<NodeId>();
  private snapshots!: SnapshotReceiver;
  private lastState: NodeState = 'follower';
  private lastLeader: NodeId | null = null;
  private tickTimer: Timer | null = null;
  /** The log writes handed off by handleReady (log-writer.ts). */
  private readonly writer: LogWriter;
  /** The applies in order: each runs after the one before it. */
  private applying: Promise<void> = Promise.resolve();
  private appliesPending = 0;

  constructor(
    private readonly ctx: NodeContext,
    private readonly writes: WriteTracker,
    private readonly reads: ReadGate,
    private readonly rollback: RollbackKeeper,
  ) {
    this.writer = new LogWriter(
      (w) => (ctx.metrics ? ctx.metrics.storageWrite(ctx.storage.writeReady(w)) : ctx.storage.writeReady(w)),
      (rds) => this.onWritesDurable(rds),
      (err) => {
        if (!ctx.closed) ctx.fail(asError(err));
      },
    );
  }

  /** Once storage is open (before the transport delivers anything). */
  attachStorage(): void {
    this.snapshots = new SnapshotReceiver(this.ctx.storage);
  }

  /** Takes the transport's messages, snapshots and unreachable reports. */
  attachTransport(): void {
    const { transport, opts } = this.ctx;
    transport.onMessage((m) => this.onMessage(m));
    transport.onSnapshot((from, meta, chunks) => this.receiveSnapshot(from, meta, chunks));
    transport.on('unreachable', (peer, reason) => {
      // size-limits.ts makes this impossible; should it happen, the core backs off and says so.
      if (reason === 'tooLarge') opts.logger.error('transport_message_too_large', `the transport refused a message to ${peer} as larger than its frame limit (counted in droppedTooLarge)`);
      this.guarded(() => this.ctx.raft.reportUnreachable(peer));
    });
    transport.on('handlerError', (err) => opts.logger.warn('transport_handler_failed', `transport handler failed: ${(err as Error)?.message ?? String(err)}`));
  }

  /** Run on every tick, after the core's (the lease keeper's expiry check): one timer for both. */
  readonly onTick: (() => void)[] = [];

  /** The core's clock: a tick every tickMs, with the monotonic time. */
  startTicking(keepProcessAlive = true): void {
    const ctx = this.ctx;
    this.tickTimer = ctx.clock.setInterval(() => {
      if (ctx.closed) return;
      // Each through guarded(): a throw inside a timer's callback would escape to the
      // embedding application's process as an uncaught exception.
      if (!this.guarded(() => ctx.raft.tick(ctx.clock.nowMs()))) return;
      for (const f of this.onTick) if (!this.guarded(f)) return;
    }, ctx.opts.tickMs);
    if (!keepProcessAlive) this.tickTimer.unref();
  }

  stopTicking(): void {
    if (this.tickTimer) this.ctx.clock.clearInterval(this.tickTimer);
    this.tickTimer = null;
  }

  /** A log write or an apply is still under way (tests wait for this to be false). */
  get busy(): boolean {
    return !this.writer.idle || this.appliesPending > 0;
  }

  /** Resolves once the Ready being handled (if any), the log writes and the applies are done. */
  async idle(): Promise<void> {
    if (this.loopRunning) await this.loopRunning.catch(() => {});
    await this.writer.drained();
    await this.applying;
  }

  private onMessage(m: Message): void {
    const ctx = this.ctx;
    if (ctx.closed) return;
    // Step a snapshot only once exactly its data is staged; otherwise the leader will resend it.
    if (m.type === 'snap' && !this.snapshots.isStaged(m.snapshot)) return;
    if (ctx.stamp) {
      if (m.type === 'app') stampEntries(ctx.stamp, 'received', m.entries);
      else if (m.type === 'appResp' && !m.reject) ctx.stamp('ackReceived', m.index);
    }
    try {
      ctx.raft.setNow(ctx.clock.nowMs()); // lease reads time what a quorum said on the monotonic clock
      ctx.raft.step(m);
    } catch (err) {
      // The core failed an assertion (or worse) half-way through a step: its state cannot be
      // trusted. Stop, as the Ready loop does; the transport would only log it and go on.
      ctx.fail(asError(err));
      return;
    }
    if (m.type === 'snap') this.snapshots.afterStep(m.snapshot!, ctx.raft.pendingSnapshot).catch((err) => ctx.fail(asError(err)));
    this.schedule();
  }

  /**
   * Runs `f` on the core from an event handler, failing the node if it throws (as the Ready
   * loop does). False when it did not run or threw.
   */
  guarded(f: () => void): boolean {
    if (this.ctx.closed) return false;
    try {
      f();
    } catch (err) {
      this.ctx.fail(asError(err));
      return false;
    }
    // Most ticks (every follower's) leave the core nothing to hand out: no loop turn for them.
    // A Ready taken and not yet advanced is the running loop's, which looks again when done.
    if (this.ctx.raft.hasReady()) this.schedule();
    return true;
  }

  schedule(): void {
    if (this.loopScheduled || this.ctx.closed) return;
    this.loopScheduled = true;
    // After this turn: everything that arrives in it joins one Ready (group commit).
    this.ctx.clock.setImmediate(() => {
      this.loopScheduled = false;
      if (this.loopRunning || this.ctx.closed) return;
      this.loopRunning = this.runLoop().finally(() => {
        this.loopRunning = null;
        if (!this.ctx.closed && this.ctx.raft.hasReady()) this.schedule();
      });
    });
  }

  private async runLoop(): Promise<void> {
    const ctx = this.ctx;
    try {
      for (let i = 0; i < MAX_READIES_PER_TURN && !ctx.closed && ctx.raft.hasReady(); i++) {
        await this.handleReady(ctx.raft.ready());
      }
    } catch (err) {
      ctx.fail(asError(err));
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { raft, storage, stamp } = this.ctx;
    stampEntries(stamp, 'readyTaken', rd.entries);
    if (rd.softState) this.onSoftState();
    for (const m of rd.messages) this.sendMessage(m);
    // The override span goes to disk before the commit it explains (rollback-keeper.ts).
    if (rd.hardState || rd.snapshot) {
      const spanStored = this.rollback.storeOverrideSpan();
      if (spanStored) await spanStored;
    }
    if (rd.snapshot) await this.installSnapshot(rd);
    else if (rd.entries.length > 0 || rd.hardState || rd.messagesAfterPersist.length > 0) this.writer.submit(rd);
    if (rd.committedEntries.length > 0) this.apply(rd.committedEntries);
    this.reads.onReadStates(rd.readStates);
    raft.advance(rd);
    if (rd.snapshot) this.rollback.onSnapshotInstalled(rd.snapshot);
    this.rollback.checkDivergence();
    this.writes.settleByAckIndex();
    this.reads.onApplied(storage.applied);
    await this.snapshots.dropPassedOver(raft.commitIndex);
    if (this.writer.queuedBytes > MAX_QUEUED_WRITE_BYTES) await this.writer.roomFor();
  }

  /** A snapshot replaces the log and the state: every write and apply before it finishes first, then it is installed in one batch. */
  private async installSnapshot(rd: Ready): Promise<void> {
    const { raft, storage } = this.ctx;
    await this.writer.drained();
    await this.applying;
    await (this.ctx.metrics ? this.ctx.metrics.storageWrite(storage.writeReady(rd)) : storage.writeReady(rd));
    this.snapshots.installed();
    this.ctx.metrics?.snapshotInstalled();
    this.onGroupChanged(raft.groupMetadata);
    watchesInstalled(this.ctx, rd.snapshot!.index);
    this.onWritesDurable([rd]);
  }

  /** Writes durable (LogWriter): their acks and votes may go now, and the core counts them. */
  private onWritesDurable(rds: readonly Ready[]): void {
    const ctx = this.ctx;
    if (ctx.closed) return;
    for (const rd of rds) {
      stampEntries(ctx.stamp, 'durable', rd.entries);
      for (const m of rd.messagesAfterPersist) this.sendMessage(m);
      try {
        ctx.raft.persisted(rd);
      } catch (err) {
        ctx.fail(asError(err));
        return;
      }
    }
    this.writes.settleByAckIndex(); // 'none' writes wait for the leader's own durable copy only
    this.schedule();
  }

  /**
   * Applies committed entries behind the ones before them, without holding up the loop:
   * storage runs the apply after the log write in flight, and the core hands out only
   * entries durable here, so an apply never gets ahead of the log.
   */
  private apply(entries: readonly Entry[]): void {
    const ctx = this.ctx;
    stampEntries(ctx.stamp, 'committed', entries);
    this.appliesPending++;
    this.applying = this.applying
      .then(async () => {
        if (ctx.closed) return;
        const { storage, raft } = ctx;
        const results = await storage.applyEntries(entries);
        stampEntries(ctx.stamp, 'applied', entries);
        this.onApplied(entries, results);
        this.writes.settleByAckIndex();
        this.reads.onApplied(storage.applied);
        const snap = await storage.maybeSnapshot();
        if (snap) {
          const compacted = storage.compacted.index;
          if (compacted > 0 && compacted <= raft.appliedIndex) this.guarded(() => raft.compact(compacted));
        }
      })
      .catch((err: unknown) => {
        if (!ctx.closed) ctx.fail(asError(err));
      })
      .finally(() => this.appliesPending--);
  }

  private sendMessage(m: Message): void {
    if (m.type === 'snap') {
      void this.sendSnapshot(m);
      return;
    }
    this.ctx.transport.send(m);
    const stamp = this.ctx.stamp;
    if (stamp) {
      if (m.type === 'app') stampEntries(stamp, 'sent', m.entries);
      else if (m.type === 'appResp' && !m.reject) stamp('ackSent', m.index);
    }
  }

  /** Role, membership or leader may have changed: say so, once each. */
  onSoftState(): void {
    const ctx = this.ctx;
    const st = ctx.raft.status();
    const member = st.group.members.some((m) => m.id === ctx.id && !m.removed);
    const state = stateOf(st.role, st.promotable, member);
    if (state !== this.lastState) {
      const prev = this.lastState;
      this.lastState = state;
      ctx.emit('stateChange', state, prev);
    }
    if (st.leader !== this.lastLeader) {
      this.lastLeader = st.leader;
      ctx.emit('leaderChange', st.leader, st.leader ? ctx.addressOf(st.leader) : null);
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
    watchesApplied(this.ctx, results, this.ctx.storage.applied);
  }

  private onGroupChanged(group: GroupMetadata, e?: Entry): void {
    const ctx = this.ctx;
    ctx.transport.setPeers(addressesOf(group));
    const change = e?.change;
    if (change && (change.op === 'addElectable' || change.op === 'addSecondary') && e.term > 1) {
      const m = group.members.find((x) => x.id === change.id);
      if (m) ctx.emit('memberAdded', m);
    }
    if (change?.op === 'promote') {
      const m = group.members.find((x) => x.id === change.id);
      if (m) ctx.emit('memberAdded', m);
    }
    if (change?.op === 'remove') {
      const m = group.members.find((x) => x.id === change.id);
      if (m) ctx.emit('memberRemoved', m);
    }
    this.onSoftState();
  }

  private async sendSnapshot(m: Message): Promise<void> {
    const { storage, transport, raft, opts } = this.ctx;
    if (this.snapshotsSending.has(m.to)) return;
    this.snapshotsSending.add(m.to);
    try {
      const stream = await storage.openSnapshot();
      try {
        await transport.sendSnapshot(m.to, stream.meta, stream);
      } finally {
        await stream.close().catch(() => {});
      }
      transport.send({ ...m, snapshot: stream.meta });
      raft.reportSnapshot(m.to, true, stream.meta.index);
    } catch (err) {
      opts.logger.warn('snapshot_send_failed', `snapshot to ${m.to} failed: ${(err as Error).message}`);
      raft.reportSnapshot(m.to, false);
    } finally {
      this.snapshotsSending.delete(m.to);
      this.schedule();
    }
  }

  private async receiveSnapshot(from: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.ctx.closed) return;
    await this.snapshots.receive(meta, chunks, { rollback: this.rollback.rollingBack });
    this.ctx.opts.logger.info('snapshot_staged', `staged snapshot at index ${meta.index} from ${from}`);
  }
}
