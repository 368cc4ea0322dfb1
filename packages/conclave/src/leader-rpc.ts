// Calls to other members' admin endpoints: writes and membership changes forwarded to the
// leader (through a ForwardPool per address), joining a running group, and asking the
// leader for its status. Errors that come back over the wire are revived as our own types.
import { InvalidArgumentError, LeaseNotFoundError, NotLeaderError, ProposalDroppedError, RequestTooLargeError, type ConfChange, type GroupMetadata } from '@conclave/core';
import type { CommandOutcome } from '@conclave/storage';
import { AdminRemoteError } from '@conclave/transport';
import { Call } from './deadlines.js';
import { AbortedError, InsufficientAcksError, InsufficientReplicasError, NodeClosedError, ReplicaConsistencyError, WriteOutcomeUnknownError, WriteReplacedError } from './errors.js';
import { FORWARD_POOL_LIMITS, ForwardPool } from './forward-pool.js';
import { addressesOf, type NodeContext } from './node-context.js';
import { explainMissingLeader, noLeaderPossible } from './quorum-reach.js';
import type { CommitToken, Durability } from './options.js';
import type { LeaderRpcClient } from './seams.js';
import type { NodeStatus } from './status.js';
import type { ForwardedWrite } from './write-many.js';

/** How long a joining node keeps asking before it gives up. */
const JOIN_TIMEOUT_MS = 30_000;

/** What the leader does itself when the call finds this node leading. */
export interface LocalLeader {
  proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean, call?: Call): Promise<{ token: CommitToken; outcome: CommandOutcome | null }>;
  changeMembershipLocal(change: ConfChange, timeoutMs: number, force: boolean): Promise<GroupMetadata>;
  status(): NodeStatus;
}

export class LeaderRpc {
  private readonly adminClients = new Map<string, Promise<LeaderRpcClient>>();
  /** Forwarded requests to the leader, per address (forward-pool.ts). */
  private readonly forwardPools = new Map<string, ForwardPool>();

  constructor(
    private readonly ctx: NodeContext,
    private readonly local: LocalLeader,
  ) {}

  /** Asks a running member to add this node as a secondary; retries until the deadline. */
  async requestJoin(address: string): Promise<void> {
    const ctx = this.ctx;
    const deadline = ctx.clock.nowMs() + JOIN_TIMEOUT_MS;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 100 && ctx.clock.nowMs() < deadline; attempt++) {
      try {
        const client = await this.adminClient(address);
        const res = (await client.request(
          'group.change',
          { change: { op: 'addSecondary', id: ctx.id, address: ctx.opts.listen } satisfies ConfChange },
          { timeoutMs: Math.max(1000, deadline - ctx.clock.nowMs()) },
        )) as { group: GroupMetadata };
        ctx.transport.setPeers(addressesOf(res.group));
        ctx.opts.logger.info('joined', `joined group ${ctx.groupId} through ${address} as a secondary`);
        return;
      } catch (err) {
        lastError = err;
        const code = (err as { code?: string }).code;
        // A refused change (removed id, already a member, ...) will not get better by retrying.
        if (code === 'CONF_CHANGE_REFUSED' || code === 'INVALID_ARGUMENT' || code === 'ADMIN_AUTH_FAILED') throw reviveError(err);
        this.dropAdminClient(address);
        await ctx.sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    throw new WriteOutcomeUnknownError(`could not join through ${address} within 30 s: ${(lastError as Error)?.message ?? 'no answer'}`);
  }

  /** The leader's status: this node's own, or asked of the leader; null when no leader answers. */
  async leaderStatus(timeoutMs: number): Promise<NodeStatus | null> {
    const raft = this.ctx.raft;
    if (raft.currentRole === 'leader') return this.local.status();
    const leader = raft.leaderId;
    const address = leader ? this.ctx.addressOf(leader) : null;
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
  async onLeader<T>(method: string, params: Record<string, unknown>, timeoutMs: number, local: () => Promise<T>): Promise<T> {
    if (this.ctx.raft.currentRole === 'leader') return local();
    return (await this.callLeader(method, params, timeoutMs)) as T;
  }

  /**
   * Calls `method` on the current leader, following leader changes, within the call's
   * deadline (or `timeoutMs`). Never sends twice what may have arrived; transport errors
   * never reach the caller: a request that was not sent ends as NOT_LEADER (with why there
   * is no leader, the last transport error as its cause), one sent and unanswered as
   * WRITE_OUTCOME_UNKNOWN.
   */
  async callLeader(method: string, params: unknown, timeoutOrCall: number | Call): Promise<unknown> {
    const ctx = this.ctx;
    const call = Call.within(ctx, operationName(method), timeoutOrCall);
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 200 && !call.expired; attempt++) {
      call.checkNotStopped(); // nothing sent that may have arrived: a failed send threw WOU below
      const leader = ctx.raft.leaderId;
      if (leader === ctx.id) {
        if (method === 'kv.write') {
          const p = params as { data: Uint8Array; durability: Durability; needsOutcome: boolean };
          return this.local.proposeLocal(p.data, p.durability, p.needsOutcome, call);
        }
        if (method === 'group.change') {
          const p = params as { change: ConfChange; force?: boolean };
          return { group: await this.local.changeMembershipLocal(p.change, Math.max(1, call.leftMs), p.force === true) };
        }
      }
      const address = leader ? ctx.addressOf(leader) : null;
      if (!address) {
        // No leader, and too few members reachable to elect one: say so now, not at the deadline.
        const hopeless = noLeaderPossible(ctx);
        if (hopeless) throw withCause(new NotLeaderError(null, `${call.what} found no leader to take it: ${hopeless}; it did not happen`), lastError);
        await call.sleep(ctx.opts.tickMs);
        continue;
      }
      try {
        const pool = this.forwardPool(address);
        // Writes go in batches (forward-pool.ts); the rest one request each.
        if (method === 'kv.write') return await pool.write(params as ForwardedWrite, Math.max(1, call.leftMs), call);
        return await pool.request(method, params, Math.max(1, call.leftMs), call);
      } catch (err) {
        lastError = err;
        const code = (err as { code?: string }).code;
        if (err instanceof WriteOutcomeUnknownError) throw err; // sent, unanswered: never send twice
        if (err instanceof AbortedError || err instanceof NodeClosedError) throw err; // stopped before sending
        if (err instanceof ProposalDroppedError) throw err; // refused before sending: did not happen
        if (err instanceof AdminRemoteError && code !== 'NOT_LEADER') throw reviveError(err);
        if (code !== 'NOT_LEADER') this.dropAdminClient(address);
        await call.sleep(ctx.opts.tickMs);
      }
    }
    call.checkNotStopped();
    const leader = ctx.raft.leaderId;
    const why = leader === null ? explainMissingLeader(ctx) : `leader ${ctx.leaderHint()} did not take it (${(lastError as Error | null)?.message ?? 'no answer'})`;
    throw withCause(new NotLeaderError(ctx.leaderHint(), `${call.what} found no leader to take it within ${call.timeoutMs} ms: ${why}; it did not happen`), lastError);
  }

  /** Closes every connection; requests in flight fail. */
  close(): void {
    for (const p of this.adminClients.values()) p.then((c) => c.close()).catch(() => {});
    for (const pool of this.forwardPools.values()) pool.close();
    this.forwardPools.clear();
    this.adminClients.clear();
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
    const o = this.ctx.opts;
    return this.ctx.seams.network.connectAdmin(address, {
      ...(o.adminSecret !== undefined ? { credential: o.adminSecret } : {}),
      ...(o.tls ? { tls: { caFile: o.tls.caFile } } : {}),
      connectTimeoutMs: 2000,
    });
  }

  private forwardPool(address: string): ForwardPool {
    let pool = this.forwardPools.get(address);
    if (!pool) {
      pool = new ForwardPool(address, () => this.connectAdmin(address), FORWARD_POOL_LIMITS, this.ctx.clock);
      this.forwardPools.set(address, pool);
    }
    return pool;
  }
}

/** The operation an admin method carries, in the application's words. */
function operationName(method: string): string {
  if (method === 'kv.write') return 'the write';
  if (method.startsWith('group.')) return 'the membership change';
  return `the ${method} request`;
}

function withCause<E extends Error>(err: E, cause: unknown): E {
  if (cause !== null && cause !== undefined) err.cause = cause;
  return err;
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
      return new WriteOutcomeUnknownError(err.message, err);
    case 'NODE_CLOSED':
      // The leader was closing or had failed when it got the request: it proposed nothing.
      return new NotLeaderError(null, `the leader refused: ${err.message}; it did not happen`);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(err.message);
    case 'PROPOSAL_DROPPED':
      return new ProposalDroppedError(err.message);
    case 'LEASE_NOT_FOUND':
      return new LeaseNotFoundError(Number(d.leaseId ?? 0), err.message);
    case 'REQUEST_TOO_LARGE':
      return new RequestTooLargeError(Number(d.sizeBytes ?? 0), Number(d.limitBytes ?? 0));
    default:
      return err;
  }
}
