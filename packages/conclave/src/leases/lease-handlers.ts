// Admin RPC methods for leases: keep-alives forwarded by followers to the leader, and the
// `conclave lease` commands. Parameters arrive from the network, so each is validated here.
import { InvalidArgumentError } from '@conclave/core';
import type { AdminRequestContext } from '@conclave/transport';
import { Call } from '../deadlines.js';
import type { NodeContext } from '../node-context.js';
import type { PeerTransport } from '../seams.js';
import type { Leasing } from './lease.js';
import { Election } from '../election-recipe.js';
import { recipePrefix, takeTurn, type RecipeNode } from '../lock.js';

function params(p: unknown, method: string): Record<string, unknown> {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new InvalidArgumentError(`${method}: params must be an object`);
  return p as Record<string, unknown>;
}

function leaseId(v: unknown, method: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${method}: id must be a positive integer lease id (got ${JSON.stringify(v) ?? String(v)})`);
  return v;
}

export function registerLeaseHandlers(transport: PeerTransport, ctx: NodeContext, leasing: Leasing, node: RecipeNode): void {
  // The request's deadline (wall clock, shared with the client) bounds the work.
  const leftMs = (rc: AdminRequestContext): number => Math.max(1, rc.deadline - ctx.clock.wallNowMs());
  // The leader's half only: a follower answers NOT_LEADER and the caller finds the leader.
  transport.registerAdminHandler('lease.keepAlive', async (p, rc) => {
    const id = leaseId(params(p, 'lease.keepAlive').id, 'lease.keepAlive');
    // At least two election timeouts: the deadline came on the sender's wall clock, which may
    // run apart from ours; the sender's own deadline bounds its wait anyway.
    const ms = Math.max(leftMs(rc), 2 * ctx.opts.tickMs * ctx.opts.electionTicks);
    return leasing.keeper.keepAliveLocal(id, Call.within(ctx, `the keep-alive of lease ${id}`, ms));
  });
  transport.registerAdminHandler('lease.grant', async (p, rc) => {
    const lease = await leasing.grant({ ttlMs: params(p, 'lease.grant').ttlMs as number, timeoutMs: leftMs(rc) });
    lease.close();
    return { id: lease.id, ttlMs: lease.ttlMs, grantedRevision: lease.grantedRevision };
  });
  transport.registerAdminHandler('lease.revoke', async (p, rc) => {
    const id = leaseId(params(p, 'lease.revoke').id, 'lease.revoke');
    return { id, ...(await leasing.revoke(id, { timeoutMs: leftMs(rc) })) };
  });
  transport.registerAdminHandler('lease.list', async () => ({ leader: ctx.raft.currentRole === 'leader', leases: leasing.list() }));

  // `conclave lock` and `conclave elect`: the member waits for the turn (keeping the lease
  // alive meanwhile), then hands the lease to the client, which keeps it alive from then on
  // and revokes it when done, so that a client that dies lets the lock go after the TTL.
  const turn = async (p: unknown, rc: AdminRequestContext, method: string, election: boolean) => {
    const o = params(p, method);
    const prefix = recipePrefix(o.name, `${method}: name`);
    if (election && o.value === undefined) throw new InvalidArgumentError(`${method}: value is required`);
    const t = await takeTurn(node, ctx.clock, String(o.name), prefix, election ? o.value : '', { ttlMs: o.ttlMs as number, timeoutMs: Math.max(1, Math.min(leftMs(rc), typeof o.timeoutMs === 'number' ? o.timeoutMs : leftMs(rc))) });
    t.lease.close();
    return { key: t.key, fencingToken: t.createRevision, leaseId: t.lease.id, ttlMs: t.lease.ttlMs };
  };
  transport.registerAdminHandler('lock.acquire', (p, rc) => turn(p, rc, 'lock.acquire', false));
  transport.registerAdminHandler('election.campaign', (p, rc) => turn(p, rc, 'election.campaign', true));
  transport.registerAdminHandler('election.leader', async (p) => ({ leader: await new Election(node, ctx.clock, String(params(p, 'election.leader').name)).leader() }));
}
