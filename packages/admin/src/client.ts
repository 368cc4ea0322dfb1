// AdminClient: what admin scripts import, and what every `conclave` command is built on.
// Single requests go to the first endpoint that answers (the node forwards what needs the
// leader); group-wide commands ask every member in parallel under one deadline. Each method
// returns exactly the object the matching command prints with --json.
import { ConclaveError, electableGroupSize, InvalidArgumentError, parseAddress, type GroupMetadata, type NodeId } from '@conclave/core';
import { AdminConnectionError, AdminRpcClient } from '@conclave/transport';
import { ConfChangeError, reviveError, UnknownMemberError, type CommitToken, type Consistency, type Durability, type NodeStatus, type TxnRequest, type TxnResult, type WatchRange } from 'conclave';
import { AdminWatch, type AdminWatchOptions } from './watch-client.js';
import { leaveRow, pingRow, type LeaveRow, type PingRow } from './election-actions.js';
import { electionDebugReport, electionReport, type ElectionDebugReport, type ElectionReport } from './election-report.js';
import { groupReport, type GroupReport } from './group-report.js';
import type { KeyRange } from './key-range.js';
import { callEach, ConnectionPool, surveyMembers, type Answer, type MemberProbe, type Survey } from './member-survey.js';
import { acceptRollbackRow, type AcceptRollbackRow } from './rollback-rows.js';
import {
  MajorityAnswersError,
  MembersMaybeAliveError,
  overrideChangeRow,
  overrideProbe,
  overrideRows,
  type OverrideClearReport,
  type OverrideRow,
  type OverrideSetAnswer,
  type OverrideSetReport,
} from './override-report.js';
import { STATUS } from './openio-status.js';

export interface AdminClientOptions {
  /** One or more HOST:PORT of members. */
  readonly endpoints: readonly string[];
  /** The nodes' admin secret. */
  readonly secret?: string;
  /** Deadline of each request, and of each group-wide query as a whole. Default 5000. */
  readonly timeoutMs?: number;
  readonly tls?: { readonly caFile: string };
}

/** None of the endpoints answered. */
export class NoEndpointError extends ConclaveError {
  constructor(readonly attempts: readonly { endpoint: string; error: string }[]) {
    super('NO_ENDPOINT', `no endpoint answered: ${attempts.map((a) => `${a.endpoint} (${a.error})`).join('; ')}`);
  }
}

export interface ActionReport<Row> {
  /** Every member asked did it. */
  readonly ok: boolean;
  readonly members: readonly Row[];
}

export interface AddMemberResult {
  readonly ok: true;
  readonly id: NodeId;
  readonly address: string;
  readonly type: 'electable' | 'secondary';
  /** addElectable, addSecondary, or promote (a secondary already at that address). */
  readonly change: 'addElectable' | 'addSecondary' | 'promote';
  readonly electableGroupSize: number;
}

export interface RemoveMemberResult {
  readonly ok: true;
  readonly removed: NodeId;
  /** The member leadership was handed to first (--transfer), or null. */
  readonly transferredTo: NodeId | null;
  readonly electableGroupSize: number;
}

export interface TransferLeaderResult {
  readonly ok: true;
  readonly previous: NodeId;
  readonly leader: { readonly id: NodeId; readonly address: string | null };
  /** The leader was one of the ids given: nothing moved. */
  readonly alreadyLeader: boolean;
}

/** The node's own deadline for an operation, a little inside the request's so that its answer arrives. */
function operationTimeoutMs(requestMs: number): number {
  return Math.max(1, requestMs - Math.min(500, Math.floor(requestMs / 5)));
}

/** Pairs a scan returns unless told otherwise. */
export const DEFAULT_SCAN_LIMIT = 1000;
/** Pairs asked of a member per request (the member serves at most 10,000). */
const SCAN_PAGE_PAIRS = 1000;

export class AdminClient {
  private client: AdminRpcClient | null = null;
  private connecting: Promise<AdminRpcClient> | null = null;
  readonly timeoutMs: number;

  constructor(private readonly opts: AdminClientOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) throw new InvalidArgumentError('at least one --endpoint HOST:PORT is needed');
    for (const e of opts.endpoints) parseAddress(e, 'endpoint');
    this.timeoutMs = opts.timeoutMs ?? 5000;
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs < 1) throw new InvalidArgumentError(`timeoutMs must be a positive integer, got ${String(opts.timeoutMs)}`);
  }

  /** Connects to `endpoint` alone (for per-member queries). */
  static connectOne(endpoint: string, opts: Omit<AdminClientOptions, 'endpoints'>, signal?: AbortSignal): Promise<AdminRpcClient> {
    return AdminRpcClient.connect(endpoint, {
      ...(opts.secret !== undefined ? { credential: opts.secret } : {}),
      ...(opts.tls ? { tls: { caFile: opts.tls.caFile } } : {}),
      connectTimeoutMs: opts.timeoutMs ?? 5000,
      ...(signal ? { signal } : {}),
    });
  }

  /** Abandons connection attempts still pending (a paused endpoint): nothing then holds the process open. */
  private readonly abandon = new AbortController();

  /** The first endpoint to accept, all tried at once: a paused member costs nothing while another answers. */
  private connection(): Promise<AdminRpcClient> {
    // A connection the member closed (idle for a minute, or it restarted) is replaced, not reused.
    if (this.client?.closed) this.client = null;
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= new Promise<AdminRpcClient>((resolve, reject) => {
      const attempts: { endpoint: string; error: string; code?: string }[] = [];
      let winner: AdminRpcClient | null = null;
      for (const endpoint of this.opts.endpoints) {
        AdminClient.connectOne(endpoint, { ...this.opts, timeoutMs: this.timeoutMs }, this.abandon.signal).then(
          (c) => {
            if (winner) return void c.close().catch(() => {});
            winner = c;
            this.client = c;
            resolve(c);
          },
          (err: unknown) => {
            attempts.push({ endpoint, error: (err as Error).message, code: (err as { code?: string }).code });
            if (attempts.length < this.opts.endpoints.length || winner) return;
            // A wrong secret is what to report, not "unreachable".
            const auth = attempts.find((a) => a.code === 'ADMIN_AUTH_FAILED');
            reject(auth ? new ConclaveError('ADMIN_AUTH_FAILED', `${auth.endpoint}: ${auth.error}`) : new NoEndpointError(attempts.map(({ endpoint: e, error }) => ({ endpoint: e, error }))));
          },
        );
      }
    }).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  async call<T>(method: string, params: unknown = {}, timeoutMs = this.timeoutMs): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.connection();
      try {
        return (await c.request(method, params, { timeoutMs })) as T;
      } catch (err) {
        // The member closed the connection as idle as the request crossed it: it served
        // nothing, so sending once more on a new connection cannot apply anything twice.
        if (err instanceof AdminConnectionError && err.unserved && attempt === 0) continue;
        throw reviveError(err);
      }
    }
  }

  put(key: string, value: unknown, durability?: Partial<Durability>): Promise<{ token: CommitToken }> {
    return this.call('kv.put', { key, value, ...(durability ? { durability } : {}) });
  }

  async get(key: string, consistency: Consistency = 'linearizable'): Promise<{ found: boolean; value: unknown }> {
    return this.call('kv.get', { key, consistency });
  }

  delete(key: string, durability?: Partial<Durability>): Promise<{ token: CommitToken }> {
    return this.call('kv.delete', { key, ...(durability ? { durability } : {}) });
  }

  /**
   * Up to `limit` pairs of `range`, in key order, read in pages of at most SCAN_PAGE_PAIRS
   * from one member; `more` says whether the range holds further keys. Each page is its own
   * read at `consistency`: a scan across pages is not one snapshot.
   */
  async scan(range: KeyRange, opts: { limit?: number; consistency?: Consistency } = {}): Promise<{ pairs: [string, unknown][]; more: boolean }> {
    const limit = opts.limit ?? DEFAULT_SCAN_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be a positive integer, got ${limit}`);
    const pairs: [string, unknown][] = [];
    let from: KeyRange = range;
    for (let page = 0; page <= Math.ceil(limit / SCAN_PAGE_PAIRS); page++) {
      // One pair more than wanted tells whether the range goes on.
      const want = Math.min(SCAN_PAGE_PAIRS, limit - pairs.length + 1);
      const r = await this.call<{ pairs: [string, unknown][] }>('kv.scan', { ...from, limit: want, consistency: opts.consistency ?? 'linearizable' });
      for (const pair of r.pairs) {
        if (pairs.length === limit) return { pairs, more: true };
        pairs.push(pair);
      }
      if (r.pairs.length < want) return { pairs, more: false };
      const { gte: _gte, gt: _gt, ...upper } = range;
      from = { ...upper, gt: pairs[pairs.length - 1]![0] };
    }
    return { pairs, more: true };
  }

  status(): Promise<NodeStatus> {
    return this.call('node.status');
  }

  /** A transaction (node.txn) through any member: { succeeded, revision, token, results }. */
  txn(req: TxnRequest, durability?: Partial<Durability>): Promise<TxnResult> {
    return this.call('kv.txn', { txn: req, ...(durability ? { durability } : {}) });
  }

  // ------------------------------------------------------------------ leases, locks, elections (issue #17)

  /** Grants a lease of `ttlMs` through any member; keep it alive with leaseKeepAlive. */
  leaseGrant(ttlMs: number): Promise<{ id: number; ttlMs: number; grantedRevision: number }> {
    return this.call('lease.grant', { ttlMs });
  }

  /** Renews a lease on the leader (a follower endpoint forwards); LEASE_NOT_FOUND once it ended. */
  leaseKeepAlive(id: number): Promise<{ id: number; ttlMs: number }> {
    return this.call('lease.keepAlive', { id });
  }

  /** Revokes a lease, deleting its keys in the same entry. */
  leaseRevoke(id: number): Promise<{ id: number; revision: number; deleted: number }> {
    return this.call('lease.revoke', { id });
  }

  /** The leases the endpoint holds; `remainingMs` is set when it is the leader. */
  leaseList(): Promise<{ leader: boolean; leases: { id: number; ttlMs: number; remainingMs: number | null; keys: string[] }[] }> {
    return this.call('lease.list', {});
  }

  /** Waits (up to timeoutMs) for lock `name`; the caller then keeps `leaseId` alive and revokes it to release. */
  lockAcquire(name: string, ttlMs: number, timeoutMs: number): Promise<{ key: string; fencingToken: number; leaseId: number; ttlMs: number }> {
    return this.call('lock.acquire', { name, ttlMs, timeoutMs }, timeoutMs + 5000);
  }

  /** Campaigns in election `name` with `value`; resolves when leader (same lease duty as lockAcquire). */
  electionCampaign(name: string, value: unknown, ttlMs: number, timeoutMs: number): Promise<{ key: string; fencingToken: number; leaseId: number; ttlMs: number }> {
    return this.call('election.campaign', { name, value, ttlMs, timeoutMs }, timeoutMs + 5000);
  }

  /** The leader of election `name` now (null if none). */
  electionLeader(name: string): Promise<{ leader: { key: string; value: unknown; revision: number } | null }> {
    return this.call('election.leader', { name });
  }

  /**
   * Watches `range` on the first endpoint, pulling batches over its admin connection; with
   * `resume` (default) it moves to the next endpoint when that member goes away, from the
   * revision after the last batch (watch-client.ts). Iterate it; close() ends it.
   */
  watch(range: WatchRange, opts: AdminWatchOptions = {}): AdminWatch {
    return new AdminWatch(this.opts.endpoints, (e) => AdminClient.connectOne(e, { ...this.opts, timeoutMs: this.timeoutMs }), range, opts);
  }

  // ------------------------------------------------------------------ group-wide queries

  private async withPool<T>(fn: (pool: ConnectionPool) => Promise<T>): Promise<T> {
    const pool = new ConnectionPool({ ...(this.opts.secret !== undefined ? { secret: this.opts.secret } : {}), ...(this.opts.tls ? { tls: this.opts.tls } : {}) });
    try {
      return await fn(pool);
    } finally {
      await pool.close();
    }
  }

  /** node.status of every member, in parallel, under one deadline (timeoutMs). */
  survey(): Promise<Survey> {
    return this.withPool((pool) => surveyMembers(pool, this.opts.endpoints, this.timeoutMs));
  }

  /** `election status`: OpenIO's rows and the verdict. */
  async electionStatus(): Promise<ElectionReport> {
    return electionReport(await this.survey(), Date.now());
  }

  /** `election debug`: the rows with each member's body, and the verdict. */
  async electionDebug(): Promise<ElectionDebugReport> {
    return electionDebugReport(await this.survey(), Date.now());
  }

  /** `group show`. */
  async showGroup(): Promise<GroupReport> {
    return groupReport(requireGroup(await this.survey()), Date.now());
  }

  /** `override show`. */
  async showOverrides(): Promise<{ readonly members: readonly OverrideRow[] }> {
    return { members: overrideRows(requireGroup(await this.survey()), Date.now()) };
  }

  /** `election leave`: `ids`, or every member that answers, step down and start their election over. */
  leaveElection(ids?: readonly NodeId[]): Promise<ActionReport<LeaveRow>> {
    return this.onMembers(ids, 'all', 'election.leave', {}, leaveRow);
  }

  /** `election ping`: `ids`, or every member that answers, start an election if they know no leader; nothing waits for it. */
  pingElection(ids?: readonly NodeId[]): Promise<ActionReport<PingRow>> {
    return this.onMembers(ids, 'all', 'election.ping', {}, pingRow);
  }

  /**
   * `override set N`: on `ids`, or every electable member that answers. Step 1 of the JE
   * procedure first: refused (MajorityAnswersError) while a majority of the electable members
   * answers, unless `force`. N must be from 1 to the electable group size.
   */
  async setOverride(n: number, opts: { ids?: readonly NodeId[]; force?: boolean; untilMajority?: boolean } = {}): Promise<OverrideSetReport> {
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`N must be an integer from 1 to the electable group size, got ${String(n)} (to turn the override off: conclave override clear)`);
    return this.withPool(async (pool) => {
      const survey = requireGroup(await surveyMembers(pool, this.opts.endpoints, this.timeoutMs));
      const probe = overrideProbe(survey, opts.force === true);
      if (n > probe.electableGroupSize) {
        throw new InvalidArgumentError(`N = ${n} is out of range: the electable group size is ${probe.electableGroupSize}, so N must be from 1 to ${probe.electableGroupSize}`);
      }
      const targets = targetsOf(survey, opts.ids, 'electable');
      if (probe.majorityAnswers && opts.force !== true) throw new MajorityAnswersError(probe);
      if (probe.unresponsive.length > 0 && opts.force !== true) throw new MembersMaybeAliveError(probe);
      const answers = await this.callTargets<OverrideSetAnswer>(pool, targets, 'override.set', { n, untilMajority: opts.untilMajority === true });
      const members = targets.map((t, i) => overrideChangeRow(t, answers[i]!, this.timeoutMs));
      return { ok: members.every((m) => m.status === STATUS.ok), n, probe, members };
    });
  }

  /** `node accept-rollback`: the operator accepts the rollback a diverged member refused (it discards the listed writes). */
  async acceptRollback(ids: readonly NodeId[]): Promise<ActionReport<AcceptRollbackRow>> {
    if (ids.length === 0) throw new InvalidArgumentError('accept-rollback needs the member to roll back (--node ID)');
    return this.onMembers(ids, 'all', 'node.acceptRollback', { confirm: true }, acceptRollbackRow);
  }

  /** `override clear`: on `ids`, or every member that answers. */
  async clearOverride(ids?: readonly NodeId[]): Promise<OverrideClearReport> {
    return this.onMembers(ids, 'all', 'override.set', { n: 0 }, overrideChangeRow);
  }

  private onMembers<R, Row extends { status: number }>(
    ids: readonly NodeId[] | undefined,
    kind: 'all' | 'electable',
    method: string,
    params: unknown,
    row: (target: MemberProbe, answer: Answer<R>, timeoutMs: number) => Row,
  ): Promise<ActionReport<Row>> {
    return this.withPool(async (pool) => {
      const survey = requireGroup(await surveyMembers(pool, this.opts.endpoints, this.timeoutMs));
      const targets = targetsOf(survey, ids, kind);
      const answers = await this.callTargets<R>(pool, targets, method, params);
      const members = targets.map((t, i) => row(t, answers[i]!, this.timeoutMs));
      return { ok: members.every((m) => m.status === STATUS.ok), members };
    });
  }

  /** Calls the targets that answered the survey; one that did not keeps its failure rather than costing the deadline again. */
  private async callTargets<R>(pool: ConnectionPool, targets: readonly MemberProbe[], method: string, params: unknown): Promise<Answer<R>[]> {
    const live = targets.filter((t) => t.status !== null);
    const answers = await callEach<R>(pool, live, method, params, this.timeoutMs);
    return targets.map((t) => (t.status === null ? { ok: false as const, error: t.error! } : answers[live.indexOf(t)]!));
  }

  // ------------------------------------------------------------------ membership, through the leader

  /**
   * `group add-member`: a new member (electable unless `secondary`), or a secondary at
   * `address` promoted. An electable one is refused while the leader (or the member asked)
   * runs with an override, unless `force`.
   */
  async addMember(id: NodeId, address: string, opts: { secondary?: boolean; force?: boolean } = {}): Promise<AddMemberResult> {
    parseAddress(address, 'member address');
    const type = opts.secondary === true ? 'secondary' : 'electable';
    const r = await this.call<{ group: GroupMetadata; change: AddMemberResult['change'] }>('group.addMember', {
      id,
      address,
      type,
      force: opts.force === true,
      timeoutMs: operationTimeoutMs(this.timeoutMs),
    });
    return { ok: true, id, address, type, change: r.change, electableGroupSize: electableGroupSize(r.group) };
  }

  /** `group remove-member`: refused for the leader unless `transfer` (leadership moves to the most caught-up member first). */
  async removeMember(id: NodeId, opts: { transfer?: boolean } = {}): Promise<RemoveMemberResult> {
    const r = await this.call<{ group: GroupMetadata; removed: NodeId; transferredTo: NodeId | null }>('group.removeMember', {
      id,
      transfer: opts.transfer === true,
      timeoutMs: operationTimeoutMs(this.timeoutMs),
    });
    return { ok: true, removed: r.removed, transferredTo: r.transferredTo, electableGroupSize: electableGroupSize(r.group) };
  }

  /** `group transfer-leader` (JE's transferMaster): the most caught-up of `ids` becomes leader; `force` supersedes a transfer under way. */
  async transferLeader(ids: readonly NodeId[], opts: { force?: boolean } = {}): Promise<TransferLeaderResult> {
    const r = await this.call<{ previous: NodeId; leader: NodeId; address: string | null; alreadyLeader: boolean }>('group.transferLeader', {
      ids,
      force: opts.force === true,
      timeoutMs: operationTimeoutMs(this.timeoutMs),
    });
    return { ok: true, previous: r.previous, leader: { id: r.leader, address: r.address }, alreadyLeader: r.alreadyLeader };
  }

  async close(): Promise<void> {
    this.abandon.abort();
    const c = this.client ?? (await this.connecting?.catch(() => null)) ?? null;
    this.client = null;
    await c?.close().catch(() => {});
  }
}

/** A survey without group metadata cannot name members: say why (a wrong secret, or nobody reachable). */
function requireGroup(survey: Survey): Survey & { group: NonNullable<Survey['group']> } {
  if (survey.group) return survey as Survey & { group: NonNullable<Survey['group']> };
  const auth = survey.probes.find((p) => p.error?.code === 'ADMIN_AUTH_FAILED');
  if (auth) throw new ConclaveError('ADMIN_AUTH_FAILED', `${auth.address}: ${auth.error!.message}`);
  throw new NoEndpointError(survey.probes.map((p) => ({ endpoint: p.address, error: p.error?.message ?? 'no group metadata' })));
}

/** The members named (each must be a member), or by default every member of `kind` that answered. */
function targetsOf(survey: Survey & { group: NonNullable<Survey['group']> }, ids: readonly NodeId[] | undefined, kind: 'all' | 'electable'): MemberProbe[] {
  if (ids === undefined || ids.length === 0) {
    return survey.probes.filter((p) => p.status !== null && p.member !== null && (kind === 'all' || p.member.type === 'electable'));
  }
  return [...new Set(ids)].map((id) => {
    const m = survey.group.members.find((x) => x.id === id);
    if (m?.removed) throw new ConfChangeError(`member ${id} was removed from the group`);
    const probe = survey.probes.find((p) => p.member?.id === id);
    if (!probe) throw new UnknownMemberError(id, survey.group.members.filter((x) => !x.removed).map((x) => x.id));
    return probe;
  });
}
