// Admin RPC methods every node serves: write forwarding between members, and the requests
// of the `conclave` CLI. Parameters arrive from the network, so each is validated here.
import { checkId, InvalidArgumentError, parseAddress, type ConfChange, type GroupMetadata, type MemberType, type NodeId } from '@conclave/core';
import type { CommandOutcome, ScanOptions } from '@conclave/storage';
import { weighedAdminHandler, type AdminRequestContext } from '@conclave/transport';
import { registerFaultHandlers } from './fault-handlers.js';
import { registerWatchHandlers, type WatchTarget } from './watch/watch-sessions.js';
import { resolveDurability, validateConsistency, DEFAULT_DURABILITY, type CommitToken, type Consistency, type Durability } from './options.js';
import type { Clock, PeerTransport, Timer } from './seams.js';
import type { NodeStatus } from './status.js';
import { serveWriteMany, WRITE_MANY_METHOD, writeManyWeight } from './write-many.js';

type WriteOptions = { durability?: Partial<Durability> };
type ReadOptions = { consistency?: Consistency };

/** What the handlers ask of the node (ConclaveNode): its public methods, named here so that this module does not import it. */
export interface AdminTarget extends WatchTarget {
  readonly id: NodeId;
  readonly groupId: string;
  readonly faultInjectionEnabled: boolean;
  proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean, timeoutMs?: number): Promise<{ token: CommitToken; outcome: CommandOutcome | null }>;
  get(key: string, opts?: ReadOptions): Promise<unknown>;
  put(key: string, value: unknown, opts?: WriteOptions): Promise<{ token: CommitToken }>;
  delete(key: string, opts?: WriteOptions): Promise<{ token: CommitToken }>;
  compareAndSet(key: string, expected: unknown, next: unknown, opts?: WriteOptions): Promise<{ token: CommitToken; succeeded: boolean; current: unknown }>;
  scan(range?: ScanOptions, opts?: ReadOptions): AsyncIterable<[string, unknown]>;
  deadlineError(what: 'write' | 'read', timeoutMs: number): Error;
  status(): NodeStatus;
  changeMembership(change: ConfChange, timeoutMs?: number, opts?: { force?: boolean }): Promise<GroupMetadata>;
  addMember(id: NodeId, address: string, type: MemberType, timeoutMs?: number, opts?: { force?: boolean }): Promise<unknown>;
  removeMember(id: NodeId, opts?: { transfer?: boolean; timeoutMs?: number }): Promise<unknown>;
  transferLeaderTo(ids: readonly NodeId[], opts?: { force?: boolean; timeoutMs?: number }): Promise<unknown>;
  setOverrideByAdmin(n: number, opts?: { untilMajority?: boolean }): Promise<unknown>;
  acceptRollback(): Promise<unknown>;
  leaveElection(): void;
  pingElection(): { action: 'campaign' | 'none'; reason: string };
}

function obj(params: unknown, method: string): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new InvalidArgumentError(`${method}: params must be an object`);
  return params as Record<string, unknown>;
}

const MAX_SCAN_LIMIT = 10_000;
const MAX_IDS = 100;

function memberId(v: unknown, what: string): string {
  checkId(v, what);
  return v;
}

function optionalBoolean(v: unknown, what: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean`);
  return v;
}

/** An operation's own deadline: the one given, within what is left of the request's. */
function timeoutParam(v: unknown, ctx: AdminRequestContext, what: string, clock: Clock): number {
  const left = Math.max(1, ctx.deadline - clock.wallNowMs());
  if (v === undefined) return left;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`${what} must be a positive integer of milliseconds`);
  return Math.min(v, left);
}

/**
 * Answers shortly before the request's deadline (which the client shares) with why the work
 * is not done (`late`), rather than leaving the client a bare timeout. The work itself goes on.
 */
function answerBefore<T>(clock: Clock, ctx: AdminRequestContext, work: Promise<T>, late: (waitedMs: number) => Error): Promise<T> {
  // The deadline came over the wire on the wall clock; the wait is timed on the monotonic one.
  const leftMs = ctx.deadline - clock.wallNowMs();
  const started = clock.nowMs();
  const waitMs = Math.max(1, leftMs - Math.min(250, leftMs / 10));
  work.catch(() => {}); // when `late` wins, the work's own failure has nobody to go to
  let timer: Timer | undefined;
  const late$ = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(late(clock.nowMs() - started)), waitMs);
  });
  return Promise.race([work, late$]).finally(() => {
    if (timer !== undefined) clock.clearTimeout(timer);
  });
}

export function registerAdminHandlers(transport: PeerTransport, node: AdminTarget, clock: Clock): void {
  transport.registerAdminHandler('kv.write', async (params, ctx) => {
    const p = obj(params, 'kv.write');
    if (!(p.data instanceof Uint8Array)) throw new InvalidArgumentError('kv.write: data must be bytes');
    const durability = resolveDurability(p.durability as object | undefined, DEFAULT_DURABILITY, 'kv.write durability');
    // The forwarding member's call deadline (the request's) bounds the leader's half too.
    return node.proposeLocal(p.data, durability, p.needsOutcome === true, Math.max(1, ctx.deadline - clock.wallNowMs()));
  });

  // Several forwarded writes in one request (write-many.ts); each counts as a request in flight.
  transport.registerAdminHandler(
    WRITE_MANY_METHOD,
    weighedAdminHandler((params: unknown, ctx: AdminRequestContext) => {
      const leftMs = Math.max(1, ctx.deadline - clock.wallNowMs());
      return serveWriteMany(params, leftMs, (data, durability, needsOutcome, timeoutMs) => node.proposeLocal(data, durability, needsOutcome, timeoutMs));
    }, writeManyWeight),
  );

  transport.registerAdminHandler('kv.get', async (params, ctx) => {
    const p = obj(params, 'kv.get');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.get: key must be a string');
    const read = node.get(p.key, { consistency: validateConsistency(p.consistency ?? 'linearizable') });
    const value = await answerBefore(clock, ctx, read, (ms) => node.deadlineError('read', ms));
    return { found: value !== undefined, value: value ?? null };
  });

  transport.registerAdminHandler('kv.put', async (params, ctx) => {
    const p = obj(params, 'kv.put');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.put: key must be a string');
    const write = node.put(p.key, p.value, p.durability ? { durability: p.durability as object } : {});
    return answerBefore(clock, ctx, write, (ms) => node.deadlineError('write', ms));
  });

  transport.registerAdminHandler('kv.cas', async (params, ctx) => {
    const p = obj(params, 'kv.cas');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.cas: key must be a string');
    // A missing `expected` means "the key is absent"; a missing `value` deletes on success (as compareAndSet).
    const cas = node.compareAndSet(p.key, p.expected, p.value, p.durability ? { durability: p.durability as object } : {});
    const r = await answerBefore(clock, ctx, cas, (ms) => node.deadlineError('write', ms));
    return { token: r.token, succeeded: r.succeeded, found: r.current !== undefined, current: r.current ?? null };
  });

  registerFaultHandlers(transport, node.id, () => node.faultInjectionEnabled);
  registerWatchHandlers(transport, node, clock);

  transport.registerAdminHandler('kv.delete', async (params, ctx) => {
    const p = obj(params, 'kv.delete');
    if (typeof p.key !== 'string') throw new InvalidArgumentError('kv.delete: key must be a string');
    const write = node.delete(p.key, p.durability ? { durability: p.durability as object } : {});
    return answerBefore(clock, ctx, write, (ms) => node.deadlineError('write', ms));
  });

  transport.registerAdminHandler('kv.scan', async (params) => {
    const p = obj(params, 'kv.scan');
    const limit = p.limit === undefined ? 1000 : p.limit;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SCAN_LIMIT) {
      throw new InvalidArgumentError(`kv.scan: limit must be an integer from 1 to ${MAX_SCAN_LIMIT}`);
    }
    const range: Record<string, string> = {};
    for (const k of ['gte', 'gt', 'lte', 'lt'] as const) {
      if (p[k] === undefined) continue;
      if (typeof p[k] !== 'string') throw new InvalidArgumentError(`kv.scan: ${k} must be a string`);
      range[k] = p[k] as string;
    }
    const pairs: [string, unknown][] = [];
    for await (const pair of node.scan({ ...range, limit }, { consistency: validateConsistency(p.consistency ?? 'linearizable') })) pairs.push(pair);
    return { pairs };
  });

  transport.registerAdminHandler('node.status', () => node.status());

  transport.registerAdminHandler('group.change', async (params) => {
    const p = obj(params, 'group.change');
    const change = p.change as ConfChange;
    if (typeof change !== 'object' || change === null || typeof (change as { op?: unknown }).op !== 'string') {
      throw new InvalidArgumentError('group.change: change must be { op, id, ... }');
    }
    // A node started with --join after `conclave group add-member` registered it is a member
    // at that address already: its join succeeds without a change.
    if (change.op === 'addSecondary') {
      const members = node.status().members;
      const m = members.find((x) => x.id === change.id);
      if (m && !m.removed && m.address === change.address) return { group: { groupId: node.groupId, members } };
    }
    return { group: await node.changeMembership(change, undefined, { force: p.force === true }) };
  });

  // --- the operator's commands (packages/admin): group, override and election

  transport.registerAdminHandler('group.addMember', async (params, ctx) => {
    const p = obj(params, 'group.addMember');
    const id = memberId(p.id, 'group.addMember: id');
    if (typeof p.address !== 'string') throw new InvalidArgumentError('group.addMember: address must be HOST:PORT');
    parseAddress(p.address, 'group.addMember: address');
    const type = p.type ?? 'electable';
    if (type !== 'electable' && type !== 'secondary') throw new InvalidArgumentError(`group.addMember: type must be 'electable' or 'secondary', got ${JSON.stringify(type)}`);
    return node.addMember(id, p.address, type, timeoutParam(p.timeoutMs, ctx, 'group.addMember: timeoutMs', clock), { force: p.force === true });
  });

  transport.registerAdminHandler('group.removeMember', async (params, ctx) => {
    const p = obj(params, 'group.removeMember');
    const id = memberId(p.id, 'group.removeMember: id');
    const transfer = optionalBoolean(p.transfer, 'group.removeMember: transfer');
    return node.removeMember(id, { transfer, timeoutMs: timeoutParam(p.timeoutMs, ctx, 'group.removeMember: timeoutMs', clock) });
  });

  transport.registerAdminHandler('group.transferLeader', async (params, ctx) => {
    const p = obj(params, 'group.transferLeader');
    if (!Array.isArray(p.ids) || p.ids.length === 0 || p.ids.length > MAX_IDS) throw new InvalidArgumentError(`group.transferLeader: ids must be a list of 1 to ${MAX_IDS} member ids`);
    const ids = p.ids.map((v: unknown, i: number) => memberId(v, `group.transferLeader: ids[${i}]`));
    const force = optionalBoolean(p.force, 'group.transferLeader: force');
    return node.transferLeaderTo(ids, { force, timeoutMs: timeoutParam(p.timeoutMs, ctx, 'group.transferLeader: timeoutMs', clock) });
  });

  transport.registerAdminHandler('override.set', async (params) => {
    const p = obj(params, 'override.set');
    if (typeof p.n !== 'number' || !Number.isSafeInteger(p.n) || p.n < 0) throw new InvalidArgumentError(`override.set: n must be an integer >= 0, got ${JSON.stringify(p.n) ?? String(p.n)}`);
    return node.setOverrideByAdmin(p.n, { untilMajority: optionalBoolean(p.untilMajority, 'override.set: untilMajority') });
  });

  transport.registerAdminHandler('node.acceptRollback', async (params) => {
    const p = obj(params, 'node.acceptRollback');
    if (p.confirm !== true) throw new InvalidArgumentError('node.acceptRollback: confirm must be true (the diverged committed writes are discarded)');
    return node.acceptRollback();
  });

  transport.registerAdminHandler('election.leave', (params) => {
    obj(params, 'election.leave');
    const before = node.status().role;
    node.leaveElection();
    const st = node.status();
    return { previousRole: before, role: st.role, term: st.term, electableGroupSizeOverride: st.electableGroupSizeOverride };
  });

  transport.registerAdminHandler('election.ping', (params) => {
    obj(params, 'election.ping');
    const r = node.pingElection();
    const st = node.status();
    const rb = st.rollback;
    const rollback =
      rb.state === 'prohibited'
        ? `ROLLBACK PROHIBITED: ${rb.lostWriteCount} committed writes diverge from leader ${rb.leader} (limit ${rb.rollbackLimit}); it stays out of the group until accepted (conclave node accept-rollback --node ${st.id} --yes)`
        : rb.state === 'divergedWithoutOverride'
          ? `DIVERGED WITHOUT OVERRIDE: ${rb.lostWriteCount} committed writes differ from leader ${rb.leader}; it stays out of the group and keeps its data`
          : '';
    return { ...r, role: st.role, term: st.term, leader: st.leader, electableGroupSizeOverride: st.electableGroupSizeOverride, ...(rollback ? { rollback } : {}) };
  });
}
