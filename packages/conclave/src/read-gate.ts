// When a read may be served from this node's state machine: ReadIndex (linearizable), the
// leader's lease, JE's time consistency (maxLagMs), a commit token (atLeast), and the
// waiters for the applied index that all of them end with.
import { InvalidArgumentError, type ReadState } from '@conclave/core';
import { Call } from './deadlines.js';
import { AbortedError, NodeClosedError, ReplicaConsistencyError } from './errors.js';
import type { NodeContext } from './node-context.js';
import type { Consistency } from './options.js';
import { noLeaderPossible } from './quorum-reach.js';
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

  /**
   * Waits until a read under `c` may be served from this node's state machine, within the
   * call's deadline (or `timeoutMs`); the caller's abort or the node's close stops it at once.
   */
  async readBarrier(c: Consistency, timeoutOrCall: number | Call): Promise<number> {
    const { raft, clock } = this.ctx;
    if (c === 'none') return 0;
    const call = Call.within(this.ctx, 'the read', timeoutOrCall);
    call.checkNotStopped();
    const timeoutMs = call.timeoutMs;
    const deadline = call.deadlineMs;
    if (c === 'linearizable' || c === 'lease') {
      const index = await this.readIndex(c === 'lease', call);
      await call.race(this.waitApplied(index, deadline, () => `applied index did not reach the read index ${index} within ${timeoutMs} ms`), (why) => call.notDone(why));
      return index;
    }
    if ('atLeast' in c) {
      if (c.atLeast.groupId !== this.ctx.groupId) throw new InvalidArgumentError(`commit token of group '${c.atLeast.groupId}' used on group '${this.ctx.groupId}'`);
      await call.race(this.waitApplied(c.atLeast.index, deadline, () => `this node did not apply index ${c.atLeast.index} within ${timeoutMs} ms`), (why) => call.notDone(why));
      return c.atLeast.index;
    }
    // { maxLagMs }: JE's time consistency: heard from the leader recently and applied what it said was committed.
    for (let i = 0; i < 100_000; i++) {
      call.checkNotStopped();
      const contact = raft.lastLeaderContactAt;
      const now = clock.nowMs(); // the core's clock (lastLeaderContactAt is on it)
      const fresh = contact !== null && now - contact <= c.maxLagMs;
      if (fresh && this.ctx.storage.applied >= raft.commitIndex) return raft.commitIndex;
      const behind = `this node is more than ${c.maxLagMs} ms behind the leader (last contact ${contact === null ? 'never' : `${Math.round(now - contact)} ms ago`})`;
      // No leader known and none heard within maxLagMs: only a new leader could help, and the
      // read would then still have to catch up: fail now rather than at the deadline.
      if (raft.leaderId === null && !fresh) throw new ReplicaConsistencyError(`${behind}, and no leader is known now: the read cannot be served within maxLagMs`);
      if (clock.nowMs() >= deadline) throw new ReplicaConsistencyError(behind);
      await call.sleep(Math.min(this.ctx.opts.tickMs, Math.max(1, deadline - clock.nowMs())));
    }
    throw new ReplicaConsistencyError(`this node did not catch up with the leader within ${timeoutMs} ms`);
  }

  private async readIndex(lease: boolean, call: Call): Promise<number> {
    const { clock, opts } = this.ctx;
    const deadline = call.deadlineMs;
    for (let attempt = 0; attempt < 1000; attempt++) {
      // No leader, and too few members reachable to elect one: this read cannot succeed.
      const hopeless = noLeaderPossible(this.ctx);
      if (hopeless) throw new ReplicaConsistencyError(`${call.what} cannot be served: ${hopeless}`);
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
        // If readIndex below throws, the node's failure may reject p before anyone awaits it.
        p.catch(() => {});
        this.ctx.raft.setNow(clock.nowMs());
        this.ctx.core(() => this.ctx.raft.readIndex(ctx, { lease }));
        this.ctx.schedule();
        return await call.race(p, (why) => call.notDone(why));
      } catch (err) {
        const r = this.pendingReads.get(ctx);
        if (r) {
          clock.clearTimeout(r.timer);
          this.pendingReads.delete(ctx);
        }
        if (err instanceof NodeClosedError || err instanceof AbortedError || this.ctx.closed) throw err;
        if (clock.nowMs() >= deadline) {
          throw new ReplicaConsistencyError(`could not confirm a linearizable read point: ${(err as Error).message} (no leader with a quorum?)`);
        }
        await call.sleep(Math.min(opts.tickMs, Math.max(1, deadline - clock.nowMs())));
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
