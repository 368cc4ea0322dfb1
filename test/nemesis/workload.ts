// The clients: each runs reads, writes and compare-and-sets of unique values on a few keys
// through one node's admin endpoint (followers forward writes), and records them. A share
// of the writes go to fresh keys that are never overwritten, so that every acknowledged one
// can be looked for at the end.
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminRemoteError, AdminRpcClient } from '@conclave/transport';
import type { RandomSource } from '@conclave/core';
import type { NemesisCluster } from './cluster.js';
import { HistoryRecorder } from './history.js';
import type { Outcome, RegisterOp, Value } from './linearizability.js';

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  /** Client-side deadline of one request: past it the operation is indeterminate. */
  readonly requestTimeoutMs: number;
  /** Share of operations that write a fresh, never-overwritten key. */
  readonly freshKeyShare: number;
  readonly random: RandomSource;
  /** The clients' reads: 'linearizable' for the test; weaker ones show what the checker catches. */
  readonly readConsistency: 'linearizable' | 'lease' | 'none';
}

/**
 * Errors after which a write surely did not happen (docs/reliability.md): refused before it
 * was proposed or sent, or replaced by another leader's committed entry (WRITE_REPLACED).
 * A write that outlived its deadline answers WRITE_OUTCOME_UNKNOWN, whatever the leadership.
 */
const NOT_WRITTEN = new Set(['INSUFFICIENT_REPLICAS', 'PROPOSAL_DROPPED', 'INVALID_ARGUMENT', 'NOT_LEADER', 'WRITE_REPLACED']);
export const FRESH_KEY_PREFIX = 'fresh:';
const CONNECT_TIMEOUT_MS = 1000;
/** Upper bound on operations per client: a 30-minute soak stays far below it. */
const MAX_OPS_PER_CLIENT = 5_000_000;

export function registerKey(i: number): string {
  return `r${i}`;
}

/** Ok, fail or info for an error of a write; for a read every error is a failure (reads have no effect). */
export function classify(err: unknown, isWrite: boolean): { outcome: Outcome; code: string } {
  const code = (err as { code?: unknown })?.code;
  const c = typeof code === 'string' ? code : 'UNKNOWN';
  if (!isWrite) return { outcome: 'fail', code: c };
  // A remote error with one of these codes comes from a check made before proposing.
  if (err instanceof AdminRemoteError && NOT_WRITTEN.has(c)) return { outcome: 'fail', code: c };
  return { outcome: 'info', code: c };
}

export interface FreshWrites {
  /** key -> value of writes the group acknowledged. */
  readonly acked: Map<string, string>;
  /** key -> value of writes with an unknown outcome. */
  readonly indeterminate: Map<string, string>;
  /** key -> value of writes that surely did not happen. */
  readonly failed: Map<string, string>;
}

export class Workload {
  readonly history = new HistoryRecorder();
  readonly fresh: FreshWrites = { acked: new Map(), indeterminate: new Map(), failed: new Map() };
  /** Errors by code, for the report. */
  readonly errors = new Map<string, number>();
  /** The latest value a client saw per key: a CAS expects it, so that many succeed. */
  private readonly lastSeen = new Map<string, Value>();
  private stopped = false;
  /** The consistency of reads from now on. */
  readConsistency: 'linearizable' | 'lease' | 'none';

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly opts: WorkloadOptions,
  ) {
    this.readConsistency = opts.readConsistency;
  }

  /** Runs every client until `stopAtMs` (history time), then waits for their last operations. */
  async run(stopAtMs: number): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.clients }, (_, i) => this.client(i, stopAtMs)));
  }

  stop(): void {
    this.stopped = true;
  }

  private pickNode(exclude?: string): string | null {
    const ids = this.cluster.ids().filter((id) => id !== exclude && this.cluster.alive(id));
    if (ids.length === 0) return null;
    return ids[Math.floor(this.opts.random() * ids.length)]!;
  }

  private async client(process: number, stopAtMs: number): Promise<void> {
    const r = this.opts.random;
    let node: string | null = this.cluster.ids()[process % this.cluster.ids().length]!;
    let conn: AdminRpcClient | null = null;
    const drop = (): void => {
      void conn?.close().catch(() => {});
      conn = null;
      node = this.pickNode(node ?? undefined);
    };
    for (let i = 0; i < MAX_OPS_PER_CLIENT && !this.stopped && this.history.now() < stopAtMs; i++) {
      if (!conn || conn.closed) {
        if (!node || !this.cluster.members.has(node)) node = this.pickNode();
        if (!node) {
          await sleep(100);
          continue;
        }
        try {
          conn = await AdminRpcClient.connect(this.cluster.address(node), { connectTimeoutMs: CONNECT_TIMEOUT_MS, ...this.cluster.clientOptions() });
        } catch {
          drop(); // nothing was sent: no operation to record
          await sleep(50);
          continue;
        }
      }
      const roll = r();
      const value = `p${process}-${i}`;
      let failedConnection = false;
      if (roll < this.opts.freshKeyShare) {
        failedConnection = await this.freshWrite(conn, `${FRESH_KEY_PREFIX}${value}`, value);
      } else {
        const key = registerKey(Math.floor(r() * this.opts.keys));
        const kind = r();
        const op: RegisterOp =
          kind < 0.4 ? { f: 'read', value: null } : kind < 0.7 ? { f: 'write', value } : { f: 'cas', expected: r() < 0.8 ? (this.lastSeen.get(key) ?? null) : null, next: value };
        failedConnection = await this.register(conn, process, key, op);
      }
      if (failedConnection) drop();
      else if (r() < 0.02) drop(); // now and then move to another member
    }
    void (conn as AdminRpcClient | null)?.close().catch(() => {});
  }

  /** One register operation; returns true if the connection is unusable afterwards. */
  async register(conn: AdminRpcClient, process: number, key: string, op: RegisterOp): Promise<boolean> {
    this.history.invoke(process, key, op);
    const timeoutMs = this.opts.requestTimeoutMs;
    try {
      if (op.f === 'read') {
        const res = await conn.request<{ found: boolean; value: unknown }>('kv.get', { key, consistency: this.readConsistency }, { timeoutMs });
        const value = res.found ? String(res.value) : null;
        this.lastSeen.set(key, value);
        this.history.complete(process, 'ok', { f: 'read', value });
      } else if (op.f === 'write') {
        const res = await conn.request<{ token: { index: number } }>('kv.put', { key, value: op.value }, { timeoutMs });
        this.lastSeen.set(key, op.value);
        this.history.complete(process, 'ok', undefined, undefined, res.token.index);
      } else {
        const params = op.expected === null ? { key, value: op.next } : { key, expected: op.expected, value: op.next };
        const res = await conn.request<{ succeeded: boolean; found: boolean; current: unknown; token: { index: number } }>('kv.cas', params, { timeoutMs });
        const current = res.found ? String(res.current) : null;
        this.lastSeen.set(key, res.succeeded ? op.next : current);
        this.history.complete(process, 'ok', res.succeeded ? { ...op, succeeded: true } : { ...op, succeeded: false, current }, undefined, res.token.index);
      }
      return false;
    } catch (err) {
      const { outcome, code } = classify(err, op.f !== 'read');
      this.count(code);
      this.history.complete(process, outcome, undefined, code);
      return !(err instanceof AdminRemoteError);
    }
  }

  private async freshWrite(conn: AdminRpcClient, key: string, value: string): Promise<boolean> {
    try {
      await conn.request('kv.put', { key, value }, { timeoutMs: this.opts.requestTimeoutMs });
      this.fresh.acked.set(key, value);
      return false;
    } catch (err) {
      const { outcome, code } = classify(err, true);
      this.count(code);
      (outcome === 'fail' ? this.fresh.failed : this.fresh.indeterminate).set(key, value);
      return !(err instanceof AdminRemoteError);
    }
  }

  private count(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}

