// When a read may be served from this node's state machine: ReadIndex (linearizable), the
// leader's lease, JE's time consistency (maxLagMs), a commit token (atLeast), and the
// waiters for the applied index that all of them end with.
import { InvalidArgumentError, type ReadState } from '@conclave/core';
import { NodeClosedError, ReplicaConsistencyError } from './errors.js';
import type { NodeContext } from './node-context.js';
import type { Consistency } from './options.js';
import type { Timer } from './seams.js';
import { IndexWaiters } from './waiters.js';

interface PendingRead {
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  readonly timer: Timer;
}

export const MAX_PENDING_READS = 100_000;

export class ReadGate {
  private readonly pendingReads = new Map<string, PendingRead>();
  private readonly appliedWaiters: IndexWaiters;
  /**
   * Read contexts are `${readContextPrefix}:${seq}`: random per process, so that a late
   * readIndexResp to a read from before a restart never answers a new one.
   */
  private readonly readContextPrefix: string;
  private readSeq = 0;

  constructor(private readonly ctx: NodeContext) {
    this.readContextPrefix = `${ctx.id}:${ctx.seams.random.bytes(8).toString('hex')}`;
    this.appliedWaiters = new IndexWaiters('applied index', MAX_PENDING_READS, ctx.clock);
  }

  /** Waits until a read under `c` may be served from this node's state machine. */
  async readBarrier(c: Consistency, timeoutMs: number): Promise<void> {
    const { raft, clock } = this.ctx;
    if (c === 'none') return;
    const deadline = clock.nowMs() + timeoutMs;
    if (c === 'linearizable' || c === 'lease') {
      const index = await this.readIndex(c === 'lease', deadline);
      await this.waitApplied(index, deadline, () => `applied index did not reach the read index ${index} within ${timeoutMs} ms`);
      return;
    }
    if ('atLeast' in c) {
      if (c.atLeast.groupId !== this.ctx.groupId) throw new InvalidArgumentError(`commit token of group '${c.atLeast.groupId}' used on group '${this.ctx.groupId}'`);
      await this.waitApplied(c.atLeast.index, deadline, () => `this node did not apply index ${c.atLeast.index} within ${timeoutMs} ms`);
      return;
    }
    // { maxLagMs }: JE's time consistency: heard from the leader recently and applied what it said was committed.
    for (let i = 0; i < 100_000; i++) {
      const contact = raft.lastLeaderContactAt;
      const now = clock.nowMs(); // the core's clock (lastLeaderContactAt is on it)
      const fresh = contact !== null && now - contact <= c.maxLagMs;
      if (fresh && this.ctx.storage.applied >= raft.commitIndex) return;
      if (clock.nowMs() >= deadline) {
        throw new ReplicaConsistencyError(`this node is more than ${c.maxLagMs} ms behind the leader (last contact ${contact === null ? 'never' : `${Math.round(now - contact)} ms ago`})`);
      }
      await this.ctx.sleep(Math.min(this.ctx.opts.tickMs, Math.max(1, deadline - clock.nowMs())));
    }
  }

  private async readIndex(lease: boolean, deadline: number): Promise<number> {
    const { clock, opts } = this.ctx;
    for (let attempt = 0; attempt < 1000; attempt++) {
      const ctx = `${this.readContextPrefix}:${++this.readSeq}`;
      try {
        if (this.pendingReads.size >= MAX_PENDING_READS) throw new ReplicaConsistencyError(`${MAX_PENDING_READS} reads already pending`);
        const p = new Promise<number>((resolve, reject) => {
          const wait = Math.max(1, Math.min(deadline - clock.nowMs(), opts.tickMs * opts.electionTicks));
          const timer = clock.setTimeout(() => {
            this.pendingReads.delete(ctx);
            reject(new ReplicaConsistencyError('read index not confirmed in time'));
          }, wait);
          this.pendingReads.set(ctx, { resolve, reject, timer });
        });
        this.ctx.raft.setNow(clock.nowMs());
        this.ctx.raft.readIndex(ctx, { lease });
        this.ctx.schedule();
        return await p;
      } catch (err) {
        const r = this.pendingReads.get(ctx);
        if (r) {
          clock.clearTimeout(r.timer);
          this.pendingReads.delete(ctx);
        }
        if (err instanceof NodeClosedError || this.ctx.closed) throw err;
        if (clock.nowMs() >= deadline) {
          throw new ReplicaConsistencyError(`could not confirm a linearizable read point: ${(err as Error).message} (no leader with a quorum?)`);
        }
        await this.ctx.sleep(Math.min(opts.tickMs, Math.max(1, deadline - clock.nowMs())));
      }
    }
    throw new ReplicaConsistencyError('could not confirm a linearizable read point');
  }

  /** Resolves once this node applied `index`; rejects with ReplicaConsistencyError(why()) at `deadline` (on the clock's nowMs). */
  waitApplied(index: number, deadline: number, why: () => string): Promise<void> {
    return this.appliedWaiters.wait(index, this.ctx.storage.applied, Math.max(1, deadline - this.ctx.clock.nowMs()), () => new ReplicaConsistencyError(why()));
  }

  /** A Ready's read states: the reads waiting for them may go on to wait for their index. */
  onReadStates(readStates: readonly ReadState[]): void {
    for (const rs of readStates) {
      const r = this.pendingReads.get(rs.context);
      if (!r) continue;
      this.pendingReads.delete(rs.context);
      this.ctx.clock.clearTimeout(r.timer);
      r.resolve(rs.index);
    }
  }

  /** The applied index moved: wake the reads (and writes) waiting for it. */
  onApplied(applied: number): void {
    this.appliedWaiters.advance(applied);
  }

  /** Reads have no effect: each fails with `err`. */
  failAll(err: Error): void {
    for (const [ctx, r] of this.pendingReads) {
      this.ctx.clock.clearTimeout(r.timer);
      r.reject(err);
      this.pendingReads.delete(ctx);
    }
    this.appliedWaiters.rejectAll(err);
  }
}
