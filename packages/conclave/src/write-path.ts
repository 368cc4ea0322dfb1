// A write from the caller to its outcome: encoded, proposed here when this node leads (after
// enough replicas are connected for its ack policy), forwarded to the leader otherwise, and
// tracked until its ack policy is met (write-tracker.ts).
import { NotLeaderError, ProposalDroppedError, type AckPolicy } from '@conclave/core';
import { encodeCommand, type CommandOutcome, type KvCommand } from '@conclave/storage';
import { InsufficientReplicasError } from './errors.js';
import { syncForWrite } from './local-sync.js';
import type { NodeContext } from './node-context.js';
import { resolveDurability, type CommitToken, type Durability } from './options.js';
import type { ReadGate } from './read-gate.js';
import { WriteTracker } from './write-tracker.js';

export interface WriteResult {
  readonly token: CommitToken;
}

export interface CasResult extends WriteResult {
  readonly succeeded: boolean;
  /** The value before the compare-and-set (undefined when the key was absent). */
  readonly current: unknown;
}

export const MAX_PENDING_WRITES = 100_000;

export class WritePath {
  /** The leader's writes waiting for their outcome, by (term, index): write-tracker.ts. */
  readonly writes: WriteTracker;
  constructor(
    private readonly ctx: NodeContext,
    private readonly reads: ReadGate,
    /** Calls a method on the leader (LeaderRpc.callLeader). */
    private readonly callLeader: (method: string, params: unknown, timeoutMs: number) => Promise<unknown>,
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

  async write(cmd: KvCommand, d: Partial<Durability> | undefined, needsOutcome = false): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    const ctx = this.ctx;
    ctx.checkOpen();
    const durability = resolveDurability(d, ctx.opts.durability);
    const data = encodeCommand(cmd);
    if (ctx.raft.currentRole === 'leader') return this.proposeLocal(data, durability, needsOutcome);
    if (!ctx.opts.forwardWrites) throw new NotLeaderError(ctx.leaderHint());
    const res = (await this.callLeader('kv.write', { data, durability, needsOutcome }, durability.ackTimeoutMs + ctx.opts.insufficientReplicasTimeoutMs + 2000)) as {
      token: CommitToken;
      outcome: CommandOutcome | null;
    };
    // Relay the ack once this member has applied the write too (its commit index, written
    // before the apply, then covers what it acknowledged: rollback accounting counts on it,
    // and a read here right after sees the write). The leader's commit message is sent with
    // its ack, so this costs little; a member cut off meanwhile answers after one election
    // timeout anyway, as the write is committed.
    if (durability.replicaAck !== 'none') {
      const waitMs = ctx.opts.tickMs * ctx.opts.electionTicks;
      await this.reads.waitApplied(res.token.index, ctx.clock.nowMs() + waitMs, () => `index ${res.token.index} not applied here within ${waitMs} ms`).catch(() => {});
    }
    return res;
  }

  /** The leader's half of a write (also serves writes forwarded by followers). */
  async proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    const ctx = this.ctx;
    ctx.checkOpen();
    if (ctx.raft.currentRole !== 'leader') throw new NotLeaderError(ctx.leaderHint());
    if (this.writes.size >= MAX_PENDING_WRITES) throw new ProposalDroppedError(`${MAX_PENDING_WRITES} writes are already pending on this leader`);
    await this.waitForReplicas(durability.replicaAck);
    ctx.checkOpen(); // closed while waiting: nothing was proposed
    const { index, term } = ctx.raft.propose(data);
    ctx.schedule();
    const r = await this.writes.track(term, index, durability.replicaAck, needsOutcome, durability.ackTimeoutMs);
    if (durability.localSync) await syncForWrite(ctx.storage, r.index);
    return { token: { groupId: ctx.groupId, term: r.term, index: r.index }, outcome: r.outcome };
  }

  /** Electable members (leader included) the policy needs connected before a write is attempted. */
  private requiredReplicas(policy: AckPolicy): number {
    if (policy === 'none') return 1;
    if (policy === 'all') return this.ctx.raft.electableCount;
    return this.ctx.raft.quorumSize;
  }

  private async waitForReplicas(policy: AckPolicy): Promise<void> {
    const { raft, clock, opts } = this.ctx;
    const deadline = clock.nowMs() + opts.insufficientReplicasTimeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const required = this.requiredReplicas(policy);
      const active = raft.activeElectableCount();
      if (active >= required) return;
      if (clock.nowMs() >= deadline || raft.currentRole !== 'leader') {
        throw new InsufficientReplicasError(required, active, `the write needs ${required} electable members connected under '${policy}', ${active} are (waited ${opts.insufficientReplicasTimeoutMs} ms); nothing was written`);
      }
      await this.ctx.sleep(Math.min(opts.tickMs, Math.max(1, deadline - clock.nowMs())));
    }
  }
}
