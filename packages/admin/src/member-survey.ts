// Asking every member at once: discover the group from any endpoint, then query each member
// in parallel under one deadline, so that a member that does not answer (killed, paused)
// costs the deadline once, not once per member.
import type { GroupMetadata, Member } from '@conclave/core';
import { AdminRpcClient } from '@conclave/transport';
import type { NodeStatus } from 'conclave';

export interface ConnectOptions {
  readonly secret?: string;
  readonly tls?: { readonly caFile: string };
}

export interface RemoteFailure {
  /** The error's stable code: CONNECTION_REFUSED, TIMEOUT, ADMIN_AUTH_FAILED, or the node's own. */
  readonly code: string;
  readonly message: string;
}

export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RemoteFailure };

/** One connection per address, opened on first use, each request bounded by the caller's deadline. */
export class ConnectionPool {
  private readonly connections = new Map<string, Promise<AdminRpcClient>>();
  /** Aborted at close: a connection still pending (a paused member) must not hold the process open. */
  private readonly abandon = new AbortController();

  constructor(private readonly opts: ConnectOptions) {}

  async request<T>(address: string, method: string, params: unknown, deadline: number): Promise<Answer<T>> {
    try {
      let c = this.connections.get(address);
      if (!c) {
        c = AdminRpcClient.connect(address, {
          ...(this.opts.secret !== undefined ? { credential: this.opts.secret } : {}),
          ...(this.opts.tls ? { tls: { caFile: this.opts.tls.caFile } } : {}),
          connectTimeoutMs: Math.max(1, deadline - Date.now()),
          signal: this.abandon.signal,
        });
        this.connections.set(address, c);
      }
      const client = await c;
      return { ok: true, value: (await client.request(method, params, { timeoutMs: Math.max(1, deadline - Date.now()) })) as T };
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      return { ok: false, error: { code: typeof e?.code === 'string' ? e.code : 'INTERNAL', message: typeof e?.message === 'string' ? e.message : String(err) } };
    }
  }

  async close(): Promise<void> {
    this.abandon.abort();
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((c) => c.then((x) => x.close()).catch(() => {})));
  }
}

/** What one member (or an endpoint that is not a member) answered to node.status. */
export interface MemberProbe {
  readonly id: string;
  readonly address: string;
  /** The member in the group metadata; null for an endpoint whose address no member has. */
  readonly member: Member | null;
  readonly status: NodeStatus | null;
  readonly error: RemoteFailure | null;
}

export interface Survey {
  /** The metadata used: the leader's if it answered, else the most advanced answer's; null when nobody answered. */
  readonly group: GroupMetadata | null;
  /** The id of the member whose metadata is used. */
  readonly source: string | null;
  /** Non-removed members in metadata order, then endpoints no member has that did not answer. */
  readonly probes: readonly MemberProbe[];
  readonly timeoutMs: number;
}

const MAX_DISCOVERY_ROUNDS = 3;

/** The answer whose view of the group to trust: a leader's (highest term), else the highest applied index. */
function bestStatus(statuses: readonly NodeStatus[]): NodeStatus | null {
  const rank = (x: NodeStatus) => [x.state === 'leader' ? 1 : 0, x.state === 'leader' ? x.term : 0, x.appliedIndex] as const;
  let best: NodeStatus | null = null;
  for (const s of statuses) {
    if (s.members.length === 0) continue;
    if (best === null) {
      best = s;
      continue;
    }
    const [a, b] = [rank(s), rank(best)];
    const i = a.findIndex((v, k) => v !== b[k]);
    if (i >= 0 && a[i]! > b[i]!) best = s;
  }
  return best;
}

/** Resolves at the first answer that knows members, or once every promise has settled. */
function firstWithMembers(answers: readonly Promise<Answer<NodeStatus>>[]): Promise<void> {
  return new Promise((resolve) => {
    let left = answers.length;
    if (left === 0) resolve();
    for (const a of answers) {
      void a.then((r) => {
        left--;
        if ((r.ok && r.value.members.length > 0) || left === 0) resolve();
      });
    }
  });
}

/**
 * node.status of every member, in parallel, under one deadline: the endpoints first (the
 * first to answer names the members), then every member not yet asked.
 */
export async function surveyMembers(pool: ConnectionPool, endpoints: readonly string[], timeoutMs: number): Promise<Survey> {
  const deadline = Date.now() + timeoutMs;
  const asked = new Map<string, Promise<Answer<NodeStatus>>>();
  const settled = new Map<string, Answer<NodeStatus>>();
  const ask = (address: string) => {
    let p = asked.get(address);
    if (!p) {
      p = pool.request<NodeStatus>(address, 'node.status', {}, deadline).then((a) => {
        settled.set(address, a);
        return a;
      });
      asked.set(address, p);
    }
    return p;
  };
  const answered = () => [...settled.values()].flatMap((a) => (a.ok ? [a.value] : []));
  await firstWithMembers(endpoints.map(ask));
  // A later, better view (the leader's) may name members the first did not: ask those too.
  for (let round = 0; round < MAX_DISCOVERY_ROUNDS; round++) {
    const before = asked.size;
    for (const m of bestStatus(answered())?.members ?? []) if (!m.removed) ask(m.address);
    await Promise.all(asked.values());
    if (asked.size === before) break;
  }
  const best = bestStatus(answered());
  const probes: MemberProbe[] = [];
  const covered = new Set<string>();
  for (const m of best?.members ?? []) {
    if (m.removed) continue;
    const a = settled.get(m.address)!;
    covered.add(m.address);
    probes.push({ id: m.id, address: m.address, member: m, status: a.ok ? a.value : null, error: a.ok ? null : a.error });
  }
  for (const address of endpoints) {
    const a = settled.get(address)!;
    // An endpoint spelled differently from the member's address answered as that member: shown once.
    if (covered.has(address) || (a.ok && best?.members.some((m) => m.id === a.value.id))) continue;
    covered.add(address);
    probes.push({ id: a.ok ? a.value.id : address, address, member: null, status: a.ok ? a.value : null, error: a.ok ? null : a.error });
  }
  return { group: best ? { groupId: best.groupId, members: best.members } : null, source: best?.id ?? null, probes, timeoutMs };
}

/** Calls `method` on each of `targets` in parallel under one deadline; answers in the same order. */
export function callEach<T>(pool: ConnectionPool, targets: readonly { address: string }[], method: string, params: unknown, timeoutMs: number): Promise<Answer<T>[]> {
  const deadline = Date.now() + timeoutMs;
  return Promise.all(targets.map((t) => pool.request<T>(t.address, method, params, deadline)));
}
