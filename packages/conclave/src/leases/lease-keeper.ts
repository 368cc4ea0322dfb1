// The leader's half of leases (issue #17). The lease table is replicated state (storage,
// leases.ts); WHEN a lease ends is decided here, by the leader alone, on its monotonic clock:
// a lease whose deadline passed is revoked by proposing a leaseRevoke entry, which deletes
// its keys on every member in that one entry. A keep-alive moves the deadline; it is not
// logged (as in etcd), so it reaches the leader (forwarded by a follower) and nothing else.
//
// Never early across a leader change: a new leader knows no deadline, so it gives every
// lease its full TTL plus one election timeout from the moment it leads (etcd's Promote).
// Any keep-alive the old leader acknowledged came before that moment (keepAlive confirms
// leadership with a quorum before it answers), so the new deadline is later than the old.
import { LeaseNotFoundError, NotLeaderError } from '@conclave/core';
import { MAX_LEASE_TTL_MS } from '@conclave/storage';
import { Call } from '../deadlines.js';
import { InvalidArgumentError } from '../errors.js';
import type { NodeContext } from '../node-context.js';
import type { ReadGate } from '../read-gate.js';
import type { WritePath } from '../write-path.js';

/** Expiry revocations proposed at once; more wait for the next check. */
const MAX_REVOKES_IN_FLIGHT = 64;

export interface LeaseInfo {
  readonly id: number;
  readonly ttlMs: number;
  /** Until the leader revokes it, on the leader's clock; null on a follower (only the leader knows). */
  readonly remainingMs: number | null;
  readonly keys: readonly string[];
}

export interface KeepAliveResult {
  readonly id: number;
  readonly ttlMs: number;
}

export class LeaseKeeper {
  /** Lease id -> deadline on this leader's monotonic clock. Empty unless leading. */
  private readonly deadlines = new Map<number, number>();
  private readonly revoking = new Set<number>();
  /** The term this member leads in, as far as the deadlines go; 0 when not leading. */
  private leaderTerm = 0;
  private stopped = false;

  constructor(
    private readonly ctx: NodeContext,
    private readonly writes: WritePath,
    private readonly reads: ReadGate,
    private readonly callLeader: (method: string, params: unknown, call: Call) => Promise<unknown>,
  ) {
    // check() runs on the Ready loop's tick (node-rooms.ts), not on a timer of its own: one
    // interval per node, not two (the simulation's events were a fifth lease checks, no-ops
    // on every follower). Expiry is decided no later than a tick after the deadline.
    ctx.closeSignal.addEventListener('abort', () => this.stop(), { once: true });
  }

  /** The shortest TTL: 1.5 election timeouts (etcd's minimum), so one election cannot outlast a lease. */
  get minTtlMs(): number {
    return Math.ceil(1.5 * this.electionMs);
  }

  private get electionMs(): number {
    return this.ctx.opts.tickMs * this.ctx.opts.electionTicks;
  }

  checkTtl(ttlMs: unknown, what = 'ttlMs'): number {
    if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < this.minTtlMs || ttlMs > MAX_LEASE_TTL_MS) {
      throw new InvalidArgumentError(`${what} must be an integer from ${this.minTtlMs} (1.5 election timeouts) to ${MAX_LEASE_TTL_MS} ms (got ${JSON.stringify(ttlMs) ?? String(ttlMs)})`);
    }
    return ttlMs;
  }

  stop(): void {
    this.stopped = true;
    this.deadlines.clear();
  }

  /** Brings the deadlines in line with the applied lease table and revokes the expired. */
  check(): void {
    const { ctx } = this;
    if (this.stopped || ctx.closed || ctx.failure || ctx.raft === undefined) return;
    if (ctx.raft.currentRole !== 'leader') {
      if (this.leaderTerm !== 0) this.resign();
      return;
    }
    const now = ctx.clock.nowMs();
    const promoted = ctx.raft.currentTerm !== this.leaderTerm;
    if (promoted) {
      this.resign();
      this.leaderTerm = ctx.raft.currentTerm;
    }
    const alive = ctx.storage.leaseTtls();
    const seen = new Set<number>();
    for (const l of alive) {
      seen.add(l.id);
      // New to this leader: granted since (now > its grant), or known at promotion (extended).
      if (!this.deadlines.has(l.id)) this.deadlines.set(l.id, now + l.ttlMs + (promoted ? this.electionMs : 0));
    }
    for (const id of this.deadlines.keys()) {
      if (!seen.has(id)) {
        this.deadlines.delete(id);
        this.revoking.delete(id);
      }
    }
    for (const [id, deadline] of this.deadlines) {
      if (this.revoking.size >= MAX_REVOKES_IN_FLIGHT) break;
      if (now >= deadline && !this.revoking.has(id)) this.expire(id);
    }
  }

  private resign(): void {
    this.deadlines.clear();
    this.revoking.clear();
    this.leaderTerm = 0;
  }

  private expire(id: number): void {
    this.revoking.add(id);
    const term = this.leaderTerm;
    const call = Call.within(this.ctx, `the expiry of lease ${id}`, this.ctx.opts.writeTimeoutMs);
    this.writes.write({ op: 'leaseRevoke', id }, undefined, call, true).then(
      () => this.ctx.opts.logger.info('lease_expired', `lease ${id} expired; its revocation is applied`),
      // Not committed (leadership lost, or no quorum): a leader tries again on a later check.
      () => {
        if (this.leaderTerm === term) this.revoking.delete(id);
      },
    );
  }

  /** Renews lease `id` for its TTL: here when leading, else on the leader. LEASE_NOT_FOUND once it ended. */
  async keepAlive(id: number, call: Call): Promise<KeepAliveResult> {
    if (this.ctx.raft.currentRole === 'leader') return this.keepAliveLocal(id, call);
    return (await this.callLeader('lease.keepAlive', { id }, call)) as KeepAliveResult;
  }

  /** The leader's keep-alive (also serves forwarded ones). */
  async keepAliveLocal(id: number, call: Call): Promise<KeepAliveResult> {
    const { ctx } = this;
    if (ctx.raft.currentRole !== 'leader') throw new NotLeaderError(ctx.leaderHint());
    // Confirms this member still leads and has applied all it committed (so it knows every
    // lease granted), after the keep-alive arrived: see the file's comment.
    await this.reads.readBarrier('linearizable', call);
    if (ctx.raft.currentRole !== 'leader') throw new NotLeaderError(ctx.leaderHint());
    this.check();
    const lease = ctx.storage.lease(id);
    const deadline = this.deadlines.get(id);
    const now = ctx.clock.nowMs();
    if (lease === null || deadline === undefined || this.revoking.has(id) || now >= deadline) throw new LeaseNotFoundError(id, `lease ${id} not found: it expired, was revoked, or was never granted; the keep-alive renewed nothing`);
    this.deadlines.set(id, Math.max(deadline, now + lease.ttlMs));
    return { id, ttlMs: lease.ttlMs };
  }

  /** The leases in this member's applied state; remaining time only on the leader. */
  list(): LeaseInfo[] {
    const leading = this.ctx.raft.currentRole === 'leader';
    if (leading) this.check();
    const now = this.ctx.clock.nowMs();
    return this.ctx.storage.leases().map((l) => {
      const d = leading ? this.deadlines.get(l.id) : undefined;
      return { id: l.id, ttlMs: l.ttlMs, remainingMs: d === undefined ? null : Math.max(0, d - now), keys: l.keys };
    });
  }
}
