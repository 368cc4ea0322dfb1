// The nemesis' lock workload (issue #17). A few holder processes (lock-holder.ts) take one
// lock over and over, as `conclave lock` does, through any member's admin endpoint, and
// while they hold it write their fencing token to a fenced register. Besides the nemesis'
// faults on the nodes, this workload faults the holders themselves: it SIGKILLs a holder
// that holds (the next waiter gets the lock once the lease expires; the holder comes back
// as a new process) or SIGSTOPs one for about twice the TTL (its lease expires, a successor
// takes the lock and writes, and the paused holder wakes up still believing it holds).
//
// At the end it reads the register's log (every accepted write, each under its own key, in
// the same transaction as the register) and checks, with test/lock-check/lock-check.ts:
// - the register: in revision order, accepted tokens never go down, and no two holdings
//   wrote the same token;
// - mutual exclusion by token order, on CLOCK_MONOTONIC (the holders' and this process's
//   one clock): no holding starts before every lower-token holding ended, except where the
//   earlier holder's lease could already have expired. Which overlaps are excused: the
//   later holding started at or after the earlier's `protectedUntil` = the send of its last
//   acknowledged keep-alive (or of its acquire, before any) + ttlMs / (1 + rho), the soonest
//   its lease can end (docs/reliability.md, "Never early"), with rho = 0.25 when the nodes'
//   clocks drift (--clock) and 0.01 otherwise. Such a holder was paused, or cut off from
//   the leader, past its TTL; and for each, none of its writes may be accepted after its
//   successor's first accepted write (the fence refused them);
// - what the holders were told matches the log: a write answered "accepted" is in it at
//   its revision, one answered "rejected" is not, and a rejection names a higher token.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt, type RandomSource } from '@conclave/core';
import type { NemesisCluster } from './cluster.js';
import type { HolderConfig, HolderEvent } from './lock-holder.js';
import { checkExcusedOverlaps, checkFencedRegister, findOverlaps, type FencedWrite, type Holding } from '../lock-check/lock-check.js';

const HOLDER = fileURLToPath(new URL('./lock-holder.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
export const LOCK_NAME = 'nemesis-lock';
/** Outside the registers ('r...') and the fresh keys: no other checker looks at them. */
export const LOCK_REGISTER = 'fence/register';
export const LOCK_LOG_PREFIX = 'fence/log/';
/** Lease TTL of the holders: twice the shortest (1.5 election timeouts of 500 ms). */
const DEFAULT_TTL_MS = 1500;
/** Between two holder faults. */
const FAULT_EVERY_MS: readonly [number, number] = [3000, 6000];
const STDERR_KEPT = 4000;

function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface LockWorkloadOptions {
  readonly holders: number;
  readonly random: RandomSource;
  readonly log: (line: string) => void;
  /** rho of docs/reliability.md: how far a member's monotonic clock rate may stray from real time. */
  readonly clockBound: number;
  readonly ttlMs?: number;
}

interface HoldingRecord {
  readonly holding: Holding;
  paused: boolean;
  killed: boolean;
}

interface WriteRecord {
  readonly worker: string;
  readonly seq: number;
  readonly token: number;
  readonly outcome: 'accepted' | 'rejected' | 'unknown';
  readonly revision?: number;
  readonly current?: unknown;
}

interface HolderProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  paused: boolean;
  killedAt: number | null;
  closed: Promise<void>;
  /** Its holdings not ended yet, by holding number. */
  readonly open: Map<number, HoldingRecord>;
  stderr: string;
}

export interface LockReport {
  readonly holders: number;
  /** Holder processes started (restarts after kills included). */
  readonly holderStarts: number;
  readonly holdings: number;
  /** Holdings that began right after (by token) a holding whose holder was killed or paused while it held. */
  readonly handoversAfterFault: number;
  readonly faults: { readonly kill: number; readonly pause: number };
  readonly writes: { readonly accepted: number; readonly rejected: number; readonly unknown: number };
  /** Overlaps the lease allows (the earlier holder past its lease, still believing). */
  readonly excusedOverlaps: number;
  /** Writes refused by the fence while their holder was in such an overlap. */
  readonly staleWritesRefused: number;
  /** Accepted writes in the register's log. */
  readonly registerWrites: number;
  readonly violations: readonly string[];
}

export class LockWorkload {
  private readonly procs: (HolderProcess | null)[] = [];
  private readonly records: HoldingRecord[] = [];
  private readonly writes: WriteRecord[] = [];
  private readonly problems: string[] = [];
  /** Writes each holding sent (its 'writing' lines): some never got an answer (a killed holder). */
  private readonly sent = new Map<string, number>();
  private starts = 0;
  private stopping = false;
  readonly faults = { kill: 0, pause: 0 };
  readonly ttlMs: number;

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly opts: LockWorkloadOptions,
  ) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  }

  /** Sets the register to 0 (once: a late duplicate does nothing), then starts the holders. */
  async start(): Promise<void> {
    const init = { txn: { if: [{ key: LOCK_REGISTER, target: 'exists', op: '==', value: false }], then: [{ op: 'put', key: LOCK_REGISTER, value: 0 }] } };
    let last: unknown = null;
    for (let i = 0; i < 50; i++) {
      const id = (await this.cluster.leader()) ?? this.cluster.ids()[0]!;
      try {
        await this.cluster.call(id, 'kv.txn', init, 5000);
        last = null;
        break;
      } catch (err) {
        last = err;
        await sleep(200);
      }
    }
    if (last !== null) throw new Error(`the lock register could not be set up: ${(last as Error).message}`);
    for (let slot = 0; slot < this.opts.holders; slot++) this.spawn(slot);
  }

  private spawn(slot: number): void {
    this.starts++;
    const incarnation = this.procs[slot] === undefined ? 1 : Number(this.procs[slot]?.name.split('.')[1] ?? 1) + 1;
    const name = `h${slot + 1}.${incarnation}`;
    const secret = this.cluster.opts.adminSecret;
    const cfg: HolderConfig = {
      name,
      endpoints: this.cluster.ids().map((id) => this.cluster.address(id)),
      ...(secret !== undefined ? { secret } : {}),
      lock: LOCK_NAME,
      register: LOCK_REGISTER,
      logPrefix: LOCK_LOG_PREFIX,
      ttlMs: this.ttlMs,
      waitMs: 8000,
      holdMs: [200, 800],
      writeEveryMs: 100,
      requestTimeoutMs: 2000,
    };
    const proc = spawn(process.execPath, ['--conditions=conclave-source', '--import', TSX, HOLDER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const h: HolderProcess = { name, proc, paused: false, killedAt: null, closed: Promise.resolve(), open: new Map(), stderr: '' };
    let buffered = '';
    proc.stdout!.on('data', (b: Buffer) => {
      buffered += b.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.trim()) this.onEvent(h, JSON.parse(line) as HolderEvent);
    });
    proc.stderr!.on('data', (b: Buffer) => (h.stderr = (h.stderr + b.toString()).slice(-STDERR_KEPT)));
    // After 'close' every line it wrote has been read: what is still open ends now.
    h.closed = new Promise<void>((resolve) =>
      proc.once('close', (code, signal) => {
        const at = h.killedAt ?? monoMs();
        for (const r of h.open.values()) {
          r.holding.endMs = at;
          r.killed = h.killedAt !== null;
        }
        h.open.clear();
        // Stopping, a holder still starting dies of the SIGTERM (no handler yet): that is no problem.
        if (h.killedAt === null && !this.stopping) this.problems.push(`holder ${name} exited by itself (${signal ?? `code ${code}`}): ${h.stderr.slice(-1000)}`);
        resolve();
      }),
    );
    this.procs[slot] = h;
  }

  private onEvent(h: HolderProcess, e: HolderEvent): void {
    const bound = this.ttlMs / (1 + this.opts.clockBound);
    switch (e.t) {
      case 'acquired': {
        const r: HoldingRecord = { holding: { worker: `${h.name}#${e.n}`, token: e.token, startMs: e.at, endMs: null, protectedUntilMs: e.sentAt + bound }, paused: false, killed: false };
        this.records.push(r);
        h.open.set(e.n, r);
        break;
      }
      case 'renewed': {
        const r = h.open.get(e.n);
        if (r) (r.holding as { protectedUntilMs: number }).protectedUntilMs = Math.max(r.holding.protectedUntilMs!, e.sentAt + bound);
        break;
      }
      case 'writing':
        this.sent.set(`${h.name}#${e.n}`, (this.sent.get(`${h.name}#${e.n}`) ?? 0) + 1);
        break;
      case 'write':
        this.writes.push({ worker: `${h.name}#${e.n}`, seq: e.seq, token: e.token, outcome: e.outcome, ...(e.revision !== undefined ? { revision: e.revision } : {}), ...(e.current !== undefined ? { current: e.current } : {}) });
        break;
      case 'lost':
      case 'released': {
        const r = h.open.get(e.n);
        if (r) r.holding.endMs = e.at;
        h.open.delete(e.n);
        break;
      }
      default:
        break;
    }
  }

  /** Faults the holders until `stopAtMs` (Date.now()): a kill or a pause of one that holds, now and then. */
  async run(stopAtMs: number): Promise<void> {
    let kill = this.opts.random() < 0.5;
    for (let i = 0; i < 100_000 && !this.stopping; i++) {
      const quietMs = randomInt(this.opts.random, FAULT_EVERY_MS[0], FAULT_EVERY_MS[1] + 1);
      // The holders go on by themselves; a fault that would outlast the round is not begun.
      if (Date.now() + quietMs + 3 * this.ttlMs >= stopAtMs) break;
      await sleep(quietMs);
      if (this.stopping) break;
      const slot = await this.holderThatHolds(3000);
      if (slot === null) continue;
      const h = this.procs[slot]!;
      if (kill) {
        this.faults.kill++;
        this.opts.log(`lock: kill holder ${h.name} (holding ${[...h.open.values()].map((r) => r.holding.token).join(', ')})`);
        h.proc.kill('SIGKILL');
        h.killedAt = monoMs(); // after the signal: the holding lasts at least until the holder is dead
        await h.closed;
        await sleep(randomInt(this.opts.random, 300, 1000));
        if (!this.stopping) this.spawn(slot);
      } else {
        this.faults.pause++;
        const ms = 2 * this.ttlMs + randomInt(this.opts.random, 0, 1000);
        this.opts.log(`lock: pause holder ${h.name} for ${ms} ms (holding ${[...h.open.values()].map((r) => r.holding.token).join(', ')})`);
        for (const r of h.open.values()) r.paused = true;
        h.paused = true;
        h.proc.kill('SIGSTOP');
        await sleep(ms);
        h.proc.kill('SIGCONT');
        h.paused = false;
      }
      kill = !kill;
    }
  }

  private async holderThatHolds(waitMs: number): Promise<number | null> {
    const until = Date.now() + waitMs;
    for (let i = 0; i < 10_000 && Date.now() < until && !this.stopping; i++) {
      const slot = this.procs.findIndex((h) => h !== null && h.killedAt === null && !h.paused && h.open.size > 0);
      if (slot >= 0) return slot;
      await sleep(20);
    }
    return null;
  }

  /** Resumes and stops every holder (they release what they hold); those that do not exit in time are killed. */
  async stop(graceMs = 4000): Promise<void> {
    this.stopping = true;
    const live = this.procs.filter((h): h is HolderProcess => h !== null && h.proc.exitCode === null && h.proc.signalCode === null);
    for (const h of live) {
      if (h.paused) h.proc.kill('SIGCONT');
      h.paused = false;
      h.proc.kill('SIGTERM');
    }
    await Promise.race([Promise.all(live.map((h) => h.closed)), sleep(graceMs)]);
    await this.kill();
  }

  /** Kills what still runs (a run that ends early); idempotent. */
  async kill(): Promise<void> {
    this.stopping = true;
    const live = this.procs.filter((h): h is HolderProcess => h !== null && h.proc.exitCode === null && h.proc.signalCode === null);
    for (const h of live) {
      h.proc.kill('SIGKILL');
      h.killedAt ??= monoMs();
    }
    await Promise.race([Promise.all(live.map((h) => h.closed)), sleep(5000)]);
  }

  /** The register and its log: every accepted write, with the revision that accepted it. */
  async readRegister(id: string): Promise<{ value: unknown; log: FencedWrite[] }> {
    const log: FencedWrite[] = [];
    let gte = LOCK_LOG_PREFIX;
    const lt = `${LOCK_LOG_PREFIX.slice(0, -1)}0`; // '/' + 1
    let value: unknown = undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = await this.cluster.call<{ results: { op: string; kvs?: { key: string; value: unknown; createRevision: number }[]; more?: boolean; kv?: { value: unknown } | null }[] }>(
        id,
        'kv.txn',
        { txn: { then: [{ op: 'range', gte, lt, limit: 1000 }, { op: 'get', key: LOCK_REGISTER }] } },
        20_000,
      );
      const [range, get] = r.results;
      value = get?.kv?.value;
      for (const kv of range?.kvs ?? []) {
        const v = kv.value as { token: number; worker: string };
        log.push({ worker: v.worker, token: v.token, revision: kv.createRevision });
      }
      if (!range?.more || !range.kvs?.length) return { value, log };
      gte = `${range.kvs[range.kvs.length - 1]!.key}\u0000`;
    }
    throw new Error('the lock register log has too many pages');
  }

  /** What a failing run's history file keeps of the workload. */
  history(register: { value: unknown; log: FencedWrite[] } | null): unknown {
    return { ttlMs: this.ttlMs, clockBound: this.opts.clockBound, holdings: this.records, writes: this.writes, register };
  }

  /** The checks (see the file's comment); `register` null when the final checks could not read it. */
  check(register: { value: unknown; log: FencedWrite[] } | null): LockReport {
    const violations = [...this.problems];
    const holdings = this.records.map((r) => r.holding);
    const { violations: exclusion, excused } = findOverlaps(holdings, monoMs());
    violations.push(...exclusion);
    const staleWorkers = new Set(excused.map((o) => o.earlier.worker));
    const count = (o: WriteRecord['outcome']) => this.writes.filter((w) => w.outcome === o).length;
    for (const w of this.writes) {
      if (w.outcome === 'rejected' && !(typeof w.current === 'number' && w.current > w.token)) violations.push(`${w.worker} write ${w.seq} (token ${w.token}) was refused, but the register held ${JSON.stringify(w.current)}`);
    }
    if (register === null) violations.push('the register could not be read at the end');
    else {
      violations.push(...checkFencedRegister(register.log), ...checkExcusedOverlaps(excused, register.log));
      const logged = new Map(register.log.map((w) => [`${w.worker}@${w.revision}`, w]));
      const loggedByWorker = new Map<string, number>();
      for (const w of register.log) loggedByWorker.set(w.worker, (loggedByWorker.get(w.worker) ?? 0) + 1);
      for (const w of this.writes) {
        if (w.outcome === 'accepted' && !logged.has(`${w.worker}@${w.revision}`)) violations.push(`${w.worker} write ${w.seq} (token ${w.token}) was answered accepted at revision ${w.revision}, but the register's log does not have it`);
      }
      const refused = new Map<string, number>();
      for (const w of this.writes) if (w.outcome === 'rejected') refused.set(w.worker, (refused.get(w.worker) ?? 0) + 1);
      for (const [worker, n] of loggedByWorker) {
        const notRefused = (this.sent.get(worker) ?? 0) - (refused.get(worker) ?? 0);
        if (n > notRefused) violations.push(`the register's log has ${n} writes of ${worker}, which sent only ${notRefused} not refused`);
      }
      const top = register.log.reduce((m, w) => Math.max(m, w.token), 0);
      if (register.value !== top) violations.push(`the register holds ${JSON.stringify(register.value)}, but the highest token its log accepted is ${top}`);
    }
    const byToken = [...this.records].sort((a, b) => a.holding.token - b.holding.token);
    let handoversAfterFault = 0;
    for (let i = 1; i < byToken.length; i++) if (byToken[i - 1]!.killed || byToken[i - 1]!.paused) handoversAfterFault++;
    return {
      holders: this.opts.holders,
      holderStarts: this.starts,
      holdings: holdings.length,
      handoversAfterFault,
      faults: { ...this.faults },
      writes: { accepted: count('accepted'), rejected: count('rejected'), unknown: count('unknown') },
      excusedOverlaps: excused.length,
      staleWritesRefused: this.writes.filter((w) => w.outcome === 'rejected' && staleWorkers.has(w.worker)).length,
      registerWrites: register?.log.length ?? 0,
      violations,
    };
  }
}
