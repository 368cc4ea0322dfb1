// The application's leases (issue #17): grant, keepAlive, revoke, list, and the Lease handle
// with its automatic keep-alive. The leader-side expiry is lease-keeper.ts.
import { EventEmitter } from 'node:events';
import { LeaseNotFoundError } from '@conclave/core';
import { Call, type CallOptions } from '../deadlines.js';
import { InvalidArgumentError, LockLostError } from '../errors.js';
import type { NodeContext } from '../node-context.js';
import type { ReadGate } from '../read-gate.js';
import type { Timer } from '../seams.js';
import type { WritePath } from '../write-path.js';
import { LeaseKeeper, type KeepAliveResult, type LeaseInfo } from './lease-keeper.js';

export type { LeaseInfo, KeepAliveResult } from './lease-keeper.js';

export interface GrantLeaseOptions extends CallOptions {
  /** The lease's time to live: from 1.5 election timeouts to 30 days. */
  readonly ttlMs: number;
  /** Renew it every ttlMs / 3 until revoke() or close(); `lost` fires if it ends anyway. */
  readonly autoKeepAlive?: boolean;
}

export interface LeaseEvents {
  /** The lease ended before revoke(): expired at the leader, or revoked by someone else. */
  lost: [err: Error];
}

/** A granted lease. Attach keys with `put(key, value, { lease: lease.id })`. */
export class Lease extends EventEmitter<LeaseEvents> {
  /** Aborted (with LockLostError) when the lease is known to have ended without revoke(). */
  readonly signal: AbortSignal;
  private readonly lostController = new AbortController();
  private timer: Timer | null = null;
  private ended = false;
  /** This member's clock: the lease certainly holds until then (send time of the last acknowledged keep-alive + TTL). */
  private validUntilMs: number;

  constructor(
    private readonly leasing: Leasing,
    private readonly ctx: NodeContext,
    readonly id: number,
    readonly ttlMs: number,
    /** The revision of its grant (also its id). */
    readonly grantedRevision: number,
    sentAtMs: number,
  ) {
    super();
    this.signal = this.lostController.signal;
    this.validUntilMs = sentAtMs + ttlMs;
  }

  /** Whether it ended (revoked, lost or closed). */
  get done(): boolean {
    return this.ended;
  }

  /** Renews the lease for its TTL. LEASE_NOT_FOUND once it expired or was revoked. */
  async keepAlive(opts: CallOptions = {}): Promise<KeepAliveResult> {
    const sentAt = this.ctx.clock.nowMs();
    try {
      const r = await this.leasing.keepAlive(this.id, opts);
      this.validUntilMs = Math.max(this.validUntilMs, sentAt + this.ttlMs);
      return r;
    } catch (err) {
      if (err instanceof LeaseNotFoundError) this.lose(err);
      throw err;
    }
  }

  /** Revokes the lease: its keys are deleted in that same entry. LEASE_NOT_FOUND if it had ended. */
  async revoke(opts: CallOptions = {}): Promise<void> {
    this.stopTimer();
    this.ended = true;
    await this.leasing.revoke(this.id, opts);
  }

  /** Stops the automatic keep-alive; the lease lives on until it expires. */
  close(): void {
    this.stopTimer();
    this.ended = true;
  }

  /** @internal Renews every ttlMs / 3; declares the lease lost when it could not be renewed in time. */
  startAutoKeepAlive(): void {
    const everyMs = Math.max(1, Math.floor(this.ttlMs / 3));
    const step = (): void => {
      this.timer = null;
      if (this.ended) return;
      if (this.ctx.clock.nowMs() >= this.validUntilMs) {
        this.lose(new LockLostError(`lease ${this.id}`, `lease ${this.id} was not renewed within its ${this.ttlMs} ms TTL; the leader may have revoked it`));
        return;
      }
      // Up to the end of its validity: one slow renewal is no reason to give up early.
      this.keepAlive({ timeoutMs: Math.max(1, this.validUntilMs - this.ctx.clock.nowMs()) })
        .catch(() => {})
        .finally(() => {
          if (!this.ended) this.timer = this.ctx.clock.setTimeout(step, this.nextDelayMs(everyMs));
        });
    };
    this.timer = this.ctx.clock.setTimeout(step, everyMs);
    this.ctx.closeSignal.addEventListener('abort', () => this.close(), { once: true });
  }

  /** The next try: at the usual period, but never after the lease would lapse here. */
  private nextDelayMs(everyMs: number): number {
    return Math.max(1, Math.min(everyMs, this.validUntilMs - this.ctx.clock.nowMs()));
  }

  private stopTimer(): void {
    if (this.timer !== null) this.ctx.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private lose(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimer();
    this.lostController.abort(err);
    if (this.listenerCount('lost') > 0) this.emit('lost', err);
  }
}

/** The node's lease API: node.grantLease/keepAliveLease/revokeLease/leases delegate here. */
export class Leasing {
  readonly keeper: LeaseKeeper;

  constructor(
    private readonly ctx: NodeContext,
    private readonly writes: WritePath,
    reads: ReadGate,
    callLeader: (method: string, params: unknown, call: Call) => Promise<unknown>,
  ) {
    this.keeper = new LeaseKeeper(ctx, writes, reads, callLeader);
  }

  /** Grants a lease through the log; its id is the grant's revision. */
  async grant(opts: GrantLeaseOptions): Promise<Lease> {
    this.ctx.checkAccepting();
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('grantLease options must be an object with ttlMs');
    const ttlMs = this.keeper.checkTtl(opts.ttlMs);
    if (opts.autoKeepAlive !== undefined && typeof opts.autoKeepAlive !== 'boolean') throw new InvalidArgumentError('autoKeepAlive must be a boolean');
    const sentAt = this.ctx.clock.nowMs();
    const { outcome, token } = await this.writes.write({ op: 'leaseGrant', ttlMs }, undefined, Call.of(this.ctx, 'the lease grant', opts, this.ctx.opts.writeTimeoutMs), true);
    const id = outcome?.op === 'leaseGrant' ? outcome.id : token.index;
    const lease = new Lease(this, this.ctx, id, ttlMs, token.index, sentAt);
    if (opts.autoKeepAlive === true) lease.startAutoKeepAlive();
    return lease;
  }

  async keepAlive(id: number, opts: CallOptions = {}): Promise<KeepAliveResult> {
    this.ctx.checkAccepting();
    checkId(id);
    return this.keeper.keepAlive(id, Call.of(this.ctx, `the keep-alive of lease ${id}`, opts, this.ctx.opts.writeTimeoutMs));
  }

  /** Revokes lease `id` and deletes its keys, in one entry. LEASE_NOT_FOUND if it was not alive. */
  async revoke(id: number, opts: CallOptions = {}): Promise<{ revision: number; deleted: number }> {
    this.ctx.checkAccepting();
    checkId(id);
    const { outcome, token } = await this.writes.write({ op: 'leaseRevoke', id }, undefined, Call.of(this.ctx, `the revocation of lease ${id}`, opts, this.ctx.opts.writeTimeoutMs), true);
    if (outcome?.op === 'leaseRevoke' && !outcome.found) throw new LeaseNotFoundError(id, `lease ${id} not found: it expired, was revoked, or was never granted (nothing was revoked)`);
    return { revision: token.index, deleted: outcome?.op === 'leaseRevoke' ? outcome.deleted : 0 };
  }

  list(): LeaseInfo[] {
    this.ctx.checkOpen();
    return this.keeper.list();
  }
}

function checkId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`lease id must be a positive integer (got ${JSON.stringify(id) ?? String(id)})`);
}
