// The Ready loop: the one place where the core's output becomes effects. Messages go out,
// the log and hard state are written (and fsynced) before the messages that depend on
// them, committed entries are applied, and the waiting writes and reads are told. Every
// proposal of a turn lands in one Ready, one batch and one fsync (group commit). Snapshots
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
import type { WriteTracker } from './write-tracker.js';

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

  constructor(
    private readonly ctx: NodeContext,
    private readonly writes: WriteTracker,
    private readonly reads: ReadGate,
    private readonly rollback: RollbackKeeper,
  ) {}

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

  /** The core's clock: a tick every tickMs, with the monotonic time. */
  startTicking(): void {
    const ctx = this.ctx;
    this.tickTimer = ctx.clock.setInterval(() => {
      if (!ctx.closed) this.guarded(() => ctx.raft.tick(ctx.clock.nowMs()));
    }, ctx.opts.tickMs);
  }

  stopTicking(): void {
    if (this.tickTimer) this.ctx.clock.clearInterval(this.tickTimer);
    this.tickTimer = null;
  }

  /** Resolves once the Ready being handled (if any) is done. */
  async idle(): Promise<void> {
    if (this.loopRunning) await this.loopRunning.catch(() => {});
  }

  private onMessage(m: Message): void {
    const ctx = this.ctx;
    if (ctx.closed) return;
    // Step a snapshot only once exactly its data is staged; otherwise the leader will resend it.
    if (m.type === 'snap' && !this.snapshots.isStaged(m.snapshot)) return;
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

  /** Runs `f` on the core from an event handler, failing the node if it throws (as the Ready loop does). */
  guarded(f: () => void): void {
    if (this.ctx.closed) return;
    try {
      f();
    } catch (err) {
      this.ctx.fail(asError(err));
      return;
    }
    this.schedule();
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
    const { raft, storage } = this.ctx;
    if (rd.softState) this.onSoftState();
    for (const m of rd.messages) this.sendMessage(m);
    if (rd.entries.length > 0 || rd.hardState || rd.snapshot) {
      await (this.ctx.metrics ? this.ctx.metrics.storageWrite(storage.writeReady(rd)) : storage.writeReady(rd));
      if (rd.snapshot) {
        this.snapshots.installed();
        this.ctx.metrics?.snapshotInstalled();
        this.onGroupChanged(raft.groupMetadata);
        watchesInstalled(this.ctx, rd.snapshot.index);
      }
    }
    for (const m of rd.messagesAfterPersist) this.sendMessage(m);
    if (rd.committedEntries.length > 0) {
      const results = await storage.applyEntries(rd.committedEntries);
      this.onApplied(rd.committedEntries, results);
    }
    this.reads.onReadStates(rd.readStates);
    raft.advance(rd);
    if (rd.snapshot) this.rollback.onSnapshotInstalled(rd.snapshot);
    this.rollback.checkDivergence();
    this.writes.settleByAckIndex();
    this.reads.onApplied(storage.applied);
    await this.snapshots.dropPassedOver(raft.commitIndex);
    if (rd.committedEntries.length > 0) {
      const snap = await storage.maybeSnapshot();
      if (snap) {
        const compacted = storage.compacted.index;
        if (compacted > 0 && compacted <= raft.appliedIndex) raft.compact(compacted);
      }
    }
  }

  private sendMessage(m: Message): void {
    if (m.type === 'snap') {
      void this.sendSnapshot(m);
      return;
    }
    this.ctx.transport.send(m);
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
