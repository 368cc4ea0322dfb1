// A write from the caller to its outcome: encoded, proposed here when this node leads (after
// enough replicas are connected for its ack policy), forwarded to the leader otherwise, and
// tracked until its ack policy is met (write-tracker.ts).
import { NotLeaderError, ProposalDroppedError, type AckPolicy } from '@conclave/core';
import { encodeCommand, type CommandOutcome, type KvCommand } from '@conclave/storage';
import { Call, keyName } from './deadlines.js';
import { InsufficientReplicasError, WriteOutcomeUnknownError } from './errors.js';
import { syncForWrite } from './local-sync.js';
import { isRefusal, type NodeContext } from './node-context.js';
import { resolveDurability, type CommitToken, type Durability } from './options.js';
import type { ReadGate } from './read-gate.js';
import { WriteTracker } from './write-tracker.js';

export interface WriteResult {
  readonly token: CommitToken;
  /** The write's revision: the log index of its entry (the token's index). */
  readonly revision: number;
}

/** A write's answer: its token and revision. */
export function written(r: { token: CommitToken }): WriteResult {
  return { token: r.token, revision: r.token.index };
}

export interface CasResult extends WriteResult {
  readonly succeeded: boolean;
  /** The value before the compare-and-set (undefined when the key was absent). */
  readonly current: unknown;
}

export const MAX_PENDING_WRITES = 100_000;

/** A write in the application's words, for its errors: "the put of key \"k\"". */
export function describeWrite(cmd: KvCommand): string {
  if (cmd.op === 'batch') return `the batch of ${Array.isArray(cmd.ops) ? cmd.ops.length : '?'} operations`;
  if (cmd.op === 'txn') return 'the transaction';
  const name = cmd.op === 'del' ? 'delete' : cmd.op === 'cas' ? 'compareAndSet' : cmd.op;
  return `the ${name} of key ${keyName((cmd as { key?: unknown }).key)}`;
}

export class WritePath {
  /** The leader's writes waiting for their outcome, by (term, index): write-tracker.ts. */
  readonly writes: WriteTracker;
  constructor(
    private readonly ctx: NodeContext,
    private readonly reads: ReadGate,
    /** Calls a method on the leader (LeaderRpc.callLeader). */
    private readonly callLeader: (method: string, params: unknown, call: Call) => Promise<unknown>,
  ) {
    this.writes = new WriteTracker(
      {
        role: () => ctx.raft.currentRole,
        termAt: (i) => ctx.raft.termAt(i),
        ackIndex: (policy) => ctx.raft.ackIndex(policy),
      },
      MAX_PENDING_WRITES,
      ctx.clock,
    );
  }

  /** Writes in flight (for close({ drainMs })). */
  get inFlight(): number {
    return this.inflight;
  }
  private inflight = 0;
  private readonly drainWaiters: (() => void)[] = [];

  /** Resolves once no write is in flight. */
  drained(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** A write of the application, within `call`'s deadline and cancellation. */
  async write(cmd: KvCommand, d: Partial<Durability> | undefined, callOrNone?: Call, needsOutcome = false): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    const ctx = this.ctx;
    const call = callOrNone ?? Call.of(ctx, describeWrite(cmd), undefined, ctx.opts.writeTimeoutMs);
    ctx.checkAccepting();
    const durability = resolveDurability(d, ctx.opts.durability);
    const data = encodeCommand(cmd, 'arguments');
    call.checkNotStopped();
    this.inflight++;
    const putAtUs = ctx.stamp ? ctx.clock.nowUs!() : 0;
    try {
      const r = await this.writeCounted(data, durability, call, needsOutcome);
      if (ctx.stamp) {
        ctx.stamp('put', r.token.index, putAtUs);
        ctx.stamp('resolved', r.token.index);
      }
      return r;
    } finally {
      if (--this.inflight === 0) for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  private async writeCounted(data: Uint8Array, durability: Durability, call: Call, needsOutcome: boolean): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    const ctx = this.ctx;
    if (ctx.raft.currentRole === 'leader') return this.proposeLocal(data, durability, needsOutcome, call);
    if (!ctx.opts.forwardWrites) throw new NotLeaderError(ctx.leaderHint());
    // The call's own deadline bounds the forwarded write (leader-rpc.ts, forward-pool.ts).
    const res = (await this.callLeader('kv.write', { data, durability, needsOutcome }, call)) as {
      token: CommitToken;
      outcome: CommandOutcome | null;
    };
    // Relay the ack once this member has applied the write too (its commit index, written
    // before the apply, then covers what it acknowledged: rollback accounting counts on it,
    // and a read here right after sees the write). The leader's commit message is sent with
    // its ack, so this costs little; a member cut off meanwhile answers after one election
    // timeout (or at the call's deadline) anyway, as the write is committed.
    if (durability.replicaAck !== 'none') {
      const waitMs = Math.min(ctx.opts.tickMs * ctx.opts.electionTicks, call.leftMs);
      await call.race(this.reads.waitApplied(res.token.index, ctx.clock.nowMs() + waitMs, () => `index ${res.token.index} not applied here within ${waitMs} ms`), () => new Error('stopped')).catch(() => {});
    }
    return res;
  }

  /** The leader's half of a write (also serves writes forwarded by followers, with their deadline). */
  proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean, call?: Call): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    const m = this.ctx.metrics;
    return m ? m.proposal(() => this.proposeUnmeasured(data, durability, needsOutcome, call)) : this.proposeUnmeasured(data, durability, needsOutcome, call);
  }

  private async proposeUnmeasured(data: Uint8Array, durability: Durability, needsOutcome: boolean, call?: Call): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    const ctx = this.ctx;
    ctx.checkOpen();
    const c = call ?? Call.of(ctx, 'the forwarded write', undefined, ctx.opts.insufficientReplicasTimeoutMs + durability.ackTimeoutMs);
    if (ctx.raft.currentRole !== 'leader') throw new NotLeaderError(ctx.leaderHint());
    if (this.writes.size >= MAX_PENDING_WRITES) throw new ProposalDroppedError(`${MAX_PENDING_WRITES} writes are already pending on this leader`);
    // Enough replicas connected (every write under load): no wait, and no await to pay for.
    if (!this.enoughReplicas(durability.replicaAck)) await this.waitForReplicas(durability.replicaAck, c);
    c.checkNotStopped(); // aborted or closed while waiting: nothing was proposed
    if (ctx.raft.currentRole !== 'leader') throw new NotLeaderError(ctx.leaderHint());
    let proposed: { index: number; term: number };
    try {
      proposed = ctx.core(() => ctx.raft.propose(data));
    } catch (err) {
      // The core broke half-way through appending: the entry may be in its log.
      if (!isRefusal(err)) throw new WriteOutcomeUnknownError(`node ${ctx.id} stopped while proposing the write (${(err as Error).message}); it may or may not take effect`, err);
      throw err;
    }
    const { index, term } = proposed;
    ctx.stamp?.('proposed', index);
    ctx.schedule();
    // Proposed: from here on, an abort, a close or the deadline leaves its outcome unknown.
    const tracked = this.writes.track(term, index, durability.replicaAck, needsOutcome, Math.max(1, Math.min(durability.ackTimeoutMs, c.leftMs)));
    const r = await c.race(
      tracked,
      (why) => {
        const after = why === 'aborted' ? 'aborted by the caller' : ctx.failure ? `node ${ctx.id} failed (${ctx.failure.message})` : `node ${ctx.id} closed`;
        return new WriteOutcomeUnknownError(`${c.what} was proposed at index ${index} and then ${after} before its outcome was known; it may or may not take effect`, why === 'closed' ? (ctx.failure ?? undefined) : c.signal?.reason);
      },
    );
    if (durability.localSync) await syncForWrite(ctx.storage, r.index);
    return { token: { groupId: ctx.groupId, term: r.term, index: r.index }, outcome: r.outcome };
  }

  /** Electable members (leader included) the policy needs connected before a write is attempted. */
  private requiredReplicas(policy: AckPolicy): number {
    if (policy === 'none') return 1;
    if (policy === 'all') return this.ctx.raft.electableCount;
    return this.ctx.raft.quorumSize;
  }

  /** Enough electable members connected for `policy` (every write under load): no wait to pay for. */
  private enoughReplicas(policy: AckPolicy): boolean {
    return this.ctx.raft.activeElectableCount() >= this.requiredReplicas(policy);
  }

  private async waitForReplicas(policy: AckPolicy, call: Call): Promise<void> {
    const { raft, clock, opts } = this.ctx;
    const waitMs = Math.min(opts.insufficientReplicasTimeoutMs, call.leftMs);
    const deadline = clock.nowMs() + waitMs;
    for (let i = 0; i < 10_000; i++) {
      call.checkNotStopped();
      if (this.enoughReplicas(policy)) return;
      const required = this.requiredReplicas(policy);
      const active = raft.activeElectableCount();
      if (clock.nowMs() >= deadline || raft.currentRole !== 'leader') {
        throw new InsufficientReplicasError(required, active, `${call.what} needs ${required} electable members connected under '${policy}', ${active} are (waited ${waitMs} ms); nothing was written`);
      }
      await call.sleep(Math.min(opts.tickMs, Math.max(1, deadline - clock.nowMs())));
    }
  }
}
