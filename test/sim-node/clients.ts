// The simulated clients: a few processes, each calling one operation at a time on a random
// live node through the public API (put, delete, batch, compareAndSet, get at every
// consistency level, scan), with unique values, and recording a Jepsen-style history for
// the linearizability checker. Each operation also carries the time by which its promise
// must have settled; the cluster checks that after every event.
import type { CommitToken, ConclaveNode, Consistency } from 'conclave';
import type { HistoryOp, Outcome, RegisterOp, Value } from '../nemesis/linearizability.js';
import type { Scheduler } from './scheduler.js';

/**
 * Codes after which a write surely did not happen (docs/reliability.md, the table of
 * failed writes); every other failure of a write may have happened.
 */
const NOT_WRITTEN = new Set(['INVALID_ARGUMENT', 'INSUFFICIENT_REPLICAS', 'PROPOSAL_DROPPED', 'REQUEST_TOO_LARGE', 'NOT_LEADER', 'NODE_CLOSED', 'WRITE_REPLACED']);

export function writeOutcome(err: unknown): { outcome: Outcome; code: string } {
  const code = (err as { code?: unknown })?.code;
  const c = typeof code === 'string' ? code : `UNCODED(${(err as Error)?.message ?? String(err)})`;
  if (NOT_WRITTEN.has(c) || c.startsWith('STORAGE_')) return { outcome: 'fail', code: c };
  return { outcome: 'info', code: c };
}

/** A live node the clients may call, and the scheduler owner of its incarnation. */
export interface Target {
  readonly id: string;
  readonly owner: string;
  readonly node: ConclaveNode;
}

export interface ClientOptions {
  processes: number;
  keys: number;
  /** Picks a live node (null when none runs). */
  pick: () => Target | null;
  /** World milliseconds by which an operation's promise must settle, by kind. */
  settleBoundMs: (kind: 'read' | 'write') => number;
  /** Per-operation read timeout handed to get/scan (node-local ms). */
  readTimeoutMs: number;
  /** Share of operations that write a value near the command limit (and one just over it). */
  largeShare: number;
  /** The limits (MAX_VALUE_BYTES, MAX_COMMAND_BYTES of @conclave/storage). */
  maxValueBytes: number;
  maxCommandBytes: number;
  /** Milliseconds a client waits between operations, uniformly up to this. */
  thinkMs: number;
  /** Share of puts written with replicaAck 'all'. */
  allShare: number;
  /** Called when a replicaAck 'all' write resolves: every electable member must have it durably now. */
  onAllAck: (t: Target, token: CommitToken) => void;
}

interface OpenOp {
  readonly id: number;
  readonly owner: string;
  settleByMs: number;
  reported: boolean;
  readonly what: string;
  /** Completes the operation as lost with its node (the connection dropped). */
  readonly lost: () => void;
}

export interface WeakRead {
  readonly consistency: string;
  /** For atLeast: the process's own write whose token the read passed (same key). */
  readonly after?: { readonly value: Value; readonly invokeMs: number };
  readonly key: string;
  readonly value: Value;
  readonly atMs: number;
}

const LARGE_MARK = '|';

/** A result for the trace, short. */
function show(v: unknown): string {
  if (v === undefined) return '';
  if (v instanceof Map) return ` ${JSON.stringify([...v])}`;
  const s = typeof v === 'string' ? v : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'string' && x.length > 40 ? `${x.slice(0, 40)}...` : x));
  return ` ${String(s).slice(0, 120)}`;
}

const NONE: readonly string[] = [];

/** The history name of a stored value: large values carry padding after their unique name. */
function nameOf(v: unknown): Value {
  if (v === undefined || v === null) return null;
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  const bar = s.indexOf(LARGE_MARK);
  return bar >= 0 ? s.slice(0, bar) : s;
}

export class SimClients {
  readonly ops: HistoryOp[] = [];
  readonly weakReads: WeakRead[] = [];
  /** Each successful scan of the registers: one state, which the watch checker places at a revision. */
  readonly scans: ReadonlyMap<string, Value>[] = [];
  readonly fresh = { acked: new Map<string, string>(), indeterminate: new Map<string, string>(), failed: new Map<string, string>() };
  readonly errors = new Map<string, number>();
  /** What the clients saw go wrong outside the history (a wrong refusal). */
  readonly problems: string[] = [];
  readonly counts = { invoked: 0, ok: 0, fail: 0, info: 0, lost: 0, large: 0, tooLarge: 0, scans: 0, batches: 0 };
  /** Values some operation tried to write: a read may return nothing else. */
  readonly written = new Set<string>();
  private readonly open = new Map<number, OpenOp>();
  /** No open operation unreported is due before this (lower is safe: it only costs a look). */
  private earliestBoundMs = Infinity;
  private readonly lastSeen = new Map<string, Value>();
  /** Each process's last acknowledged write: its token, key, value and invocation. */
  private readonly tokens = new Map<number, { token: CommitToken; key: string; value: Value; invokeMs: number }>();
  private nextOp = 0;
  private stopped = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly opts: ClientOptions,
  ) {}

  key(i: number): string {
    return `r${i}`;
  }

  /** Runs every process until `untilMs` of world time; returns when all stopped. */
  run(untilMs: number): Promise<void> {
    return Promise.all(Array.from({ length: this.opts.processes }, (_, p) => this.process(p, untilMs))).then(() => {});
  }

  stop(): void {
    this.stopped = true;
  }

  /** Operations newly past their bound: each a violation, reported once. */
  overdue(): readonly string[] {
    // Called after every event: nothing to look at before the earliest bound (most events).
    if (this.open.size === 0 || this.sched.nowMs <= this.earliestBoundMs) return NONE;
    const out: string[] = [];
    let earliest = Infinity;
    for (const o of this.open.values()) {
      if (o.reported) continue;
      // A paused node answers nobody; its callers' bounds move at resume (extend).
      if (this.sched.nowMs <= o.settleByMs || this.sched.isPaused(o.owner)) {
        earliest = Math.min(earliest, o.settleByMs);
        continue;
      }
      o.reported = true;
      out.push(`${o.what} on ${o.owner} did not settle by ${o.settleByMs.toFixed(1)} ms`);
    }
    this.earliestBoundMs = earliest;
    return out;
  }

  /** The node was paused for `ms`: its callers' bounds move by as much. */
  extend(owner: string, ms: number): void {
    for (const o of this.open.values()) if (o.owner === owner) o.settleByMs += ms;
  }

  get openCount(): number {
    return this.open.size;
  }

  /** The node's process died: its callers see their connections drop. */
  nodeDied(owner: string): void {
    for (const l of this.deathListeners) l(owner);
    for (const o of [...this.open.values()]) if (o.owner === owner) o.lost();
  }

  private async process(p: number, untilMs: number): Promise<void> {
    const r = this.sched.random;
    for (let i = 0; i < 1_000_000 && !this.stopped && this.sched.nowMs < untilMs; i++) {
      await this.sched.sleep(r() * this.opts.thinkMs, null, `client p${p} thinks`);
      const t = this.opts.pick();
      if (!t) continue;
      const value = `p${p}-${i}`;
      const key = this.key(Math.floor(r() * this.opts.keys));
      const x = r();
      if (x < this.opts.largeShare) await this.large(p, t, value);
      else if (x < 0.25) await this.write(p, t, key, { f: 'write', value });
      else if (x < 0.3) await this.write(p, t, key, { f: 'write', value: null }); // delete
      else if (x < 0.45) await this.write(p, t, key, { f: 'cas', expected: r() < 0.8 ? (this.lastSeen.get(key) ?? null) : null, next: value });
      else if (x < 0.52) await this.batch(p, t, value);
      else if (x < 0.57) await this.freshWrite(p, t, `fresh:${value}`, value);
      else if (x < 0.62) await this.scan(p, t);
      else if (x < 0.8) await this.read(p, t, key, 'linearizable');
      else if (x < 0.9) await this.read(p, t, key, 'lease');
      else await this.weakRead(p, t, key);
    }
  }

  /** Runs one call, with its history and its settle bound; null when it was lost with its node. */
  private async call<T>(t: Target, kind: 'read' | 'write', what: string, f: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown } | null> {
    const id = this.nextOp++;
    this.counts.invoked++;
    let settle!: (v: { ok: true; value: T } | { ok: false; err: unknown } | null) => void;
    const done = new Promise<{ ok: true; value: T } | { ok: false; err: unknown } | null>((resolve) => (settle = resolve));
    const settleByMs = this.sched.nowMs + this.opts.settleBoundMs(kind);
    this.earliestBoundMs = Math.min(this.earliestBoundMs, settleByMs);
    this.open.set(id, {
      id,
      owner: t.owner,
      settleByMs,
      reported: false,
      what,
      lost: () => {
        this.open.delete(id);
        this.counts.lost++;
        settle(null);
      },
    });
    this.sched.note(null, `client op${id} ${what} on ${t.owner}`);
    f().then(
      (value) => {
        if (!this.open.delete(id)) return;
        this.sched.note(null, `client op${id} ok${show(value)}`);
        settle({ ok: true, value });
      },
      (err: unknown) => {
        if (!this.open.delete(id)) return;
        this.sched.note(null, `client op${id} failed: ${(err as { code?: string })?.code ?? ''} ${(err as Error)?.message ?? String(err)}`);
        settle({ ok: false, err });
      },
    );
    return done;
  }

  private record(process: number, key: string, op: RegisterOp, outcome: Outcome, invokeMs: number, error?: string, revision?: number): void {
    this.counts[outcome]++;
    if (error) this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
    this.ops.push({ process, key, op, outcome, invokeMs, completeMs: this.sched.nowMs, ...(error ? { error } : {}), ...(revision !== undefined ? { revision } : {}) });
  }

  /** Called with the scheduler owner of a node whose process died (the watchers on it stop). */
  readonly deathListeners: ((owner: string) => void)[] = [];

  private async write(p: number, t: Target, key: string, op: RegisterOp): Promise<void> {
    const invokeMs = this.sched.nowMs;
    const n = t.node;
    let res;
    if (op.f === 'write') {
      if (op.value !== null) this.written.add(op.value);
      const all = op.value !== null && this.sched.random() < this.opts.allShare;
      const durability = all ? { durability: { replicaAck: 'all' as const } } : {};
      res = await this.call(t, 'write', `${op.value === null ? 'delete' : 'put'} ${key}${all ? ' (all)' : ''}`, () => (op.value === null ? n.delete(key) : n.put(key, op.value, durability)));
      if (all && res?.ok) this.opts.onAllAck(t, (res.value as { token: CommitToken }).token);
    } else if (op.f === 'cas') {
      this.written.add(op.next);
      res = await this.call(t, 'write', `cas ${key}`, () => n.compareAndSet(key, op.expected ?? undefined, op.next));
    } else throw new Error('not a write');
    if (res === null) return this.record(p, key, op, 'info', invokeMs, 'CONNECTION_LOST');
    if (!res.ok) {
      const { outcome, code } = writeOutcome(res.err);
      return this.record(p, key, op, outcome, invokeMs, code);
    }
    if (op.f === 'cas') {
      const r = res.value as unknown as { succeeded: boolean; current: unknown; token: CommitToken; revision: number };
      const current = nameOf(r.current);
      this.lastSeen.set(key, r.succeeded ? op.next : current);
      if (r.succeeded) this.tokens.set(p, { token: r.token, key, value: op.next, invokeMs });
      return this.record(p, key, r.succeeded ? { ...op, succeeded: true } : { ...op, succeeded: false, current }, 'ok', invokeMs, undefined, r.revision);
    }
    const w = res.value as { token: CommitToken; revision: number };
    this.tokens.set(p, { token: w.token, key, value: op.value, invokeMs });
    this.lastSeen.set(key, op.value);
    this.record(p, key, op, 'ok', invokeMs, undefined, w.revision);
  }

  /** Puts to two keys in one batch: per key, a write at one instant. */
  private async batch(p: number, t: Target, value: string): Promise<void> {
    const r = this.sched.random;
    const k1 = this.key(Math.floor(r() * this.opts.keys));
    let k2 = this.key(Math.floor(r() * this.opts.keys));
    if (k2 === k1) k2 = this.key((Number(k1.slice(1)) + 1) % this.opts.keys);
    const ops = [
      { key: k1, value: `${value}a` },
      { key: k2, value: `${value}b` },
    ];
    for (const o of ops) this.written.add(o.value);
    this.counts.batches++;
    const invokeMs = this.sched.nowMs;
    const res = await this.call(t, 'write', `batch ${k1},${k2}`, () => t.node.batch(ops.map((o) => ({ op: 'put' as const, key: o.key, value: o.value }))));
    const { outcome, code } = res === null ? { outcome: 'info' as const, code: 'CONNECTION_LOST' } : res.ok ? { outcome: 'ok' as const, code: undefined } : writeOutcome(res.err);
    // Sub-operations get their own process ids: the checker needs one open operation per process.
    const revision = res !== null && res.ok ? res.value.revision : undefined;
    ops.forEach((o, i) => this.record(1000 + p * 10 + i, o.key, { f: 'write', value: o.value }, outcome, invokeMs, code, revision));
  }

  private async read(p: number, t: Target, key: string, consistency: 'linearizable' | 'lease'): Promise<void> {
    const invokeMs = this.sched.nowMs;
    const res = await this.call(t, 'read', `get ${key} (${consistency})`, () => t.node.get(key, { consistency, timeoutMs: this.opts.readTimeoutMs }));
    if (res === null) return this.record(p, key, { f: 'read', value: null }, 'fail', invokeMs, 'CONNECTION_LOST');
    if (!res.ok) return this.record(p, key, { f: 'read', value: null }, 'fail', invokeMs, writeOutcome(res.err).code);
    const value = nameOf(res.value);
    this.lastSeen.set(key, value);
    this.record(p, key, { f: 'read', value }, 'ok', invokeMs);
  }

  /**
   * Lease reads of every register through one node at once, as the application beside a
   * node that just came back would make (the VM-migration fault aims them at the old leader).
   */
  leaseProbe(t: Target): void {
    for (let i = 0; i < this.opts.keys; i++) void this.read(10_000 + this.nextOp, t, this.key(i), 'lease');
  }

  /** Writes of fresh keys through one node at once, as the application beside it would make (the flapping-leader fault aims them at the leader it cuts off). */
  writeBurst(t: Target, n: number): void {
    for (let i = 0; i < n; i++) {
      const value = `burst${this.nextOp}-${i}`;
      void this.freshWrite(0, t, `fresh:${value}`, value);
    }
  }

  /** A linearizable scan of every register: per key, a read at one instant. */
  private async scan(p: number, t: Target): Promise<void> {
    const invokeMs = this.sched.nowMs;
    this.counts.scans++;
    const res = await this.call(t, 'read', 'scan', async () => {
      const seen = new Map<string, Value>();
      for await (const [k, v] of t.node.scan({ gte: 'r', lt: 's' }, { timeoutMs: this.opts.readTimeoutMs })) seen.set(k, nameOf(v));
      return seen;
    });
    if (res === null || !res.ok) return;
    this.scans.push(res.value);
    for (let i = 0; i < this.opts.keys; i++) {
      const key = this.key(i);
      this.record(2000 + p * 100 + i, key, { f: 'read', value: res.value.get(key) ?? null }, 'ok', invokeMs);
    }
  }

  /**
   * none, maxLagMs or atLeast: not linearizable, but never a value nobody wrote; an atLeast
   * read, of the key of the process's own write whose token it passes, sees that write or a
   * later one (read-your-writes).
   */
  private async weakRead(p: number, t: Target, key: string): Promise<void> {
    const r = this.sched.random();
    const mine = this.tokens.get(p);
    const consistency: Consistency = r < 0.4 ? 'none' : r < 0.7 || !mine ? { maxLagMs: 500 } : { atLeast: mine.token };
    const label = typeof consistency === 'string' ? consistency : 'maxLagMs' in consistency ? 'maxLagMs' : 'atLeast';
    const readKey = label === 'atLeast' ? mine!.key : key;
    const res = await this.call(t, 'read', `get ${readKey} (${label})`, () => t.node.get(readKey, { consistency, timeoutMs: this.opts.readTimeoutMs }));
    if (res === null || !res.ok) return;
    const after = label === 'atLeast' ? { after: { value: mine!.value, invokeMs: mine!.invokeMs } } : {};
    this.weakReads.push({ consistency: label, key: readKey, value: nameOf(res.value), atMs: this.sched.nowMs, ...after });
  }

  /** A write to a key never written again: once acknowledged it must be found at the end. */
  private async freshWrite(p: number, t: Target, key: string, value: string): Promise<void> {
    const res = await this.call(t, 'write', `put ${key}`, () => t.node.put(key, value));
    if (res !== null && res.ok) this.fresh.acked.set(key, value);
    else if (res !== null && writeOutcome(res.err).outcome === 'fail') this.fresh.failed.set(key, value);
    else this.fresh.indeterminate.set(key, value);
    void p;
  }

  /**
   * Near the limits: a value just under MAX_VALUE_BYTES (must work) or just over (refused,
   * INVALID_ARGUMENT); a batch of such values just under MAX_COMMAND_BYTES (must work: a
   * 4 MiB entry through the log, the network and snapshots) or just over (REQUEST_TOO_LARGE).
   */
  private async large(p: number, t: Target, value: string): Promise<void> {
    const x = this.sched.random();
    const over = x < 0.3;
    const batch = x >= 0.15 && x < 0.65;
    const bytes = this.opts.maxValueBytes - 64;
    const body = (tag: string, extra: number): string => `${tag}${LARGE_MARK}`.padEnd(bytes + extra, 'x');
    this.counts.large++;
    let keys: string[];
    let res;
    if (batch) {
      // Values of up to maxValueBytes: how many fit under the command limit, one more to go over.
      const n = Math.floor(this.opts.maxCommandBytes / (bytes + 128)) + (over ? 1 : 0);
      keys = Array.from({ length: n }, (_, i) => `large:${value}.${i}`);
      const ops = keys.map((key) => ({ op: 'put' as const, key, value: body(`${value}.${keys.indexOf(key)}`, 0) }));
      res = await this.call(t, 'write', `batch of ${n} large values`, () => t.node.batch(ops));
    } else {
      keys = [`large:${value}.0`];
      const v = body(`${value}.0`, over ? 128 : 0);
      res = await this.call(t, 'write', `put ${keys[0]} (${v.length} B)`, () => t.node.put(keys[0]!, v));
    }
    if (res === null) return;
    void p;
    if (over) {
      this.counts.tooLarge++;
      const want = batch ? 'REQUEST_TOO_LARGE' : 'INVALID_ARGUMENT';
      const code = res.ok ? 'OK' : writeOutcome(res.err).code;
      if (code !== want) this.problems.push(`a ${batch ? 'batch' : 'value'} over the limit answered ${code}, not ${want}`);
      for (const [i, key] of keys.entries()) this.fresh.failed.set(key, `${value}.${i}`);
      return;
    }
    const target = res.ok ? this.fresh.acked : writeOutcome(res.err).outcome === 'fail' ? this.fresh.failed : this.fresh.indeterminate;
    for (const [i, key] of keys.entries()) target.set(key, `${value}.${i}`);
  }

}
