// One seeded scheduler with virtual time for a whole simulated group: every timer, message
// delivery and disk completion is an event. Real promises still run, so after each event
// the scheduler drains the microtask and nextTick queues before it takes the next one.
// It does so synchronously, inside one macrotask (see drainAfter): a setImmediate turn per
// event cost more than most events. With no real timers, sockets or files in the process's
// work, a run is a pure function of its seed. Events of a paused owner (a node) are held
// and run, in order, when it resumes.
import { createHash, type Hash } from 'node:crypto';
import { seededRandom, type RandomSource } from '@conclave/core';
import { EventQueue } from '../sim/event-queue.js';

export interface SimEvent {
  readonly atMs: number;
  readonly seq: number;
  /** The node whose process runs it (its pause holds it), or null for the world's events. */
  readonly owner: string | null;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

export interface SchedulerOptions {
  seed: number;
  /** Keep every trace line (a replay); otherwise only the last `traceTailLines`. */
  keepTrace?: boolean;
  traceTailLines?: number;
}

/** One turn of the event loop: enough to empty the microtask queue. */
const drainTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Node's own "run every nextTick and microtask now" (what it calls between macrotasks;
 * process._tickCallback, undocumented but present since Node 0.x). Called from a macrotask,
 * never from a microtask, it empties both queues before it returns.
 */
const drainQueues: () => void = (process as unknown as { _tickCallback: () => void })._tickCallback;

/** Events run in one macrotask before the loop yields to the real event loop (I/O, ava's IPC): bounds each turn. */
const EVENTS_PER_TURN = 2000;

/** Trace text hashed in chunks of about this many characters (one native call per chunk, not per line). */
const HASH_CHUNK_CHARS = 64 * 1024;

export class Scheduler {
  readonly random: RandomSource;
  readonly seed: number;
  nowMs = 0;
  steps = 0;
  private seq = 0;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly paused = new Map<string, SimEvent[]>();
  private readonly dead = new Set<string>();
  private readonly hash: Hash = createHash('sha256');
  private readonly keepTrace: boolean;
  private readonly tailLines: number;
  private readonly lines: string[] = [];
  /** Trace text not yet fed to the hash. */
  private unhashed = '';
  private running = false;
  /** An event (or an immediate after it) is running: immediates it schedules run right after. */
  private inEvent = false;
  /** Immediates waiting to run after the current event, in order. */
  private immediates: SimEvent[] = [];
  /** nowMs as the trace prints it, formatted once per time (an event's lines share it). */
  private timeTextMs = -1;
  private timeText = '';

  constructor(opts: SchedulerOptions) {
    this.seed = opts.seed;
    this.random = seededRandom(opts.seed);
    this.keepTrace = opts.keepTrace === true;
    this.tailLines = opts.traceTailLines ?? 200;
  }

  /** A uniform draw in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + this.random() * (hi - lo);
  }

  chance(p: number): boolean {
    return p > 0 && this.random() < p;
  }

  at(atMs: number, owner: string | null, label: string, run: () => void): SimEvent {
    if (!Number.isFinite(atMs)) throw new Error(`event '${label}' at a non-finite time ${atMs}`);
    const ev: SimEvent = { atMs: Math.max(atMs, this.nowMs), seq: this.seq++, owner, label, run, cancelled: false };
    this.queue.push(ev);
    return ev;
  }

  after(delayMs: number, owner: string | null, label: string, run: () => void): SimEvent {
    return this.at(this.nowMs + Math.max(0, delayMs), owner, label, run);
  }

  /**
   * A setImmediate: after the running event and its promise jobs, before any later event.
   * One scheduled while an event runs is run straight after it, in the same turn, without
   * a trip through the queue or a trace line (they were 40% of all events, and the Ready
   * loop's turns they start show in the events they cause); unless an event is due at this
   * very instant first, when it queues as before. Outside an event it is an event.
   */
  immediate(owner: string | null, run: () => void): void {
    const ev: SimEvent = { atMs: this.nowMs, seq: this.seq++, owner, label: 'immediate', run, cancelled: false };
    if (this.inEvent) this.immediates.push(ev);
    else this.queue.push(ev);
  }

  /** A promise resolved by an event `delayMs` from now. */
  sleep(delayMs: number, owner: string | null, label: string): Promise<void> {
    return new Promise((resolve) => this.after(delayMs, owner, label, resolve));
  }

  cancel(ev: SimEvent | null | undefined): void {
    if (ev) ev.cancelled = true;
  }

  pause(owner: string): void {
    if (!this.paused.has(owner)) this.paused.set(owner, []);
    this.note(owner, 'paused');
  }

  isPaused(owner: string): boolean {
    return this.paused.has(owner);
  }

  /** Runs the owner's held events now, in the order they were due. */
  resume(owner: string): void {
    const held = this.paused.get(owner);
    if (!held) return;
    this.paused.delete(owner);
    this.note(owner, `resumed (${held.length} held events)`);
    for (const ev of held) this.queue.push({ ...ev, atMs: this.nowMs, seq: this.seq++ });
  }

  /** Voids every held and queued event of `owner`, now and later (its process died). */
  kill(owner: string): void {
    this.paused.delete(owner);
    this.dead.add(owner);
    this.note(owner, 'killed');
  }

  isDead(owner: string): boolean {
    return this.dead.has(owner);
  }

  /** A line in the trace (hashed, and kept for the report). */
  note(owner: string | null, text: string): void {
    if (this.timeTextMs !== this.nowMs) {
      this.timeTextMs = this.nowMs;
      this.timeText = this.nowMs.toFixed(3);
    }
    const line = `${this.timeText} ${owner ?? '-'} ${text}`;
    // The digest is the hash of every line and its newline, however the text is chunked.
    this.unhashed += line + '\n';
    if (this.unhashed.length > HASH_CHUNK_CHARS) this.flushHash();
    if (this.keepTrace) this.lines.push(line);
    else {
      this.lines.push(line);
      if (this.lines.length > this.tailLines * 2) this.lines.splice(0, this.lines.length - this.tailLines);
    }
  }

  /** The trace's lines: all of them with keepTrace, else the last ones. */
  traceLines(): readonly string[] {
    return this.keepTrace ? this.lines : this.lines.slice(-this.tailLines);
  }

  /** A digest of every trace line so far: equal digests, equal runs. */
  digest(): string {
    this.flushHash();
    return this.hash.copy().digest('hex');
  }

  private flushHash(): void {
    this.hash.update(this.unhashed);
    this.unhashed = '';
  }

  /** Lets pending microtasks run without advancing time. */
  async settle(): Promise<void> {
    await drainTurn();
  }

  /**
   * Runs events in time order until `done()` holds (checked after each), `forMs` of virtual
   * time passes, or `maxSteps` events ran. True when `done()` held.
   */
  async run(opts: { forMs: number; done?: () => boolean; maxSteps?: number; afterEach?: () => void }): Promise<boolean> {
    if (this.running) throw new Error('scheduler.run is not reentrant');
    this.running = true;
    try {
      const until = this.nowMs + opts.forMs;
      let left = opts.maxSteps ?? 5_000_000;
      await drainTurn();
      if (opts.done?.()) return true;
      for (;;) {
        const turn = await this.inMacrotask(() => this.runTurn(until, Math.min(left, EVENTS_PER_TURN), opts));
        left -= turn.ran;
        if (turn.finished || left <= 0) break;
      }
      if (this.nowMs < until && (this.queue.peek()?.atMs ?? Infinity) > until) this.nowMs = until;
      return opts.done?.() ?? false;
    } finally {
      this.running = false;
    }
  }

  /** Runs `f` in a setImmediate callback: a macrotask, where drainQueues can empty the queues (inside a microtask it could not). */
  private inMacrotask<T>(f: () => T): Promise<T> {
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(f());
        } catch (err) {
          reject(err);
        }
      }),
    );
  }

  /** Up to `budget` events, synchronously, each followed by a full drain; finished: no more to run or done() held. */
  private runTurn(until: number, budget: number, opts: { done?: () => boolean; afterEach?: () => void }): { ran: number; finished: boolean } {
    let ran = 0;
    try {
      while (ran < budget) {
        const ev = this.queue.peek();
        if (!ev || ev.atMs > until) return { ran, finished: true };
        this.queue.pop();
        ran++;
        if (!this.runnable(ev)) continue;
        this.nowMs = ev.atMs;
        this.note(ev.owner, ev.label);
        if (this.runOne(ev, opts)) return { ran, finished: true };
        // Its immediates, in order, while nothing else is due before them (a tie at this instant).
        while (this.immediates.length > 0) {
          const next = this.queue.peek();
          if (next && (next.atMs < this.nowMs || (next.atMs === this.nowMs && next.seq < this.immediates[0]!.seq))) break;
          const im = this.immediates.shift()!;
          ran++;
          if (this.runnable(im) && this.runOne(im, opts)) return { ran, finished: true };
        }
        this.queueImmediates();
      }
      return { ran, finished: false };
    } finally {
      this.queueImmediates();
    }
  }

  /** False for an event that does not run now: cancelled, its owner dead, or paused (then held). */
  private runnable(ev: SimEvent): boolean {
    if (ev.cancelled) return false;
    if (ev.owner === null) return true;
    if (this.dead.has(ev.owner)) return false;
    const held = this.paused.get(ev.owner);
    if (!held) return true;
    held.push(ev);
    return false;
  }

  /** Runs one event with its drain and the after-each checks; true when done() holds. */
  private runOne(ev: SimEvent, opts: { done?: () => boolean; afterEach?: () => void }): boolean {
    this.steps++;
    this.inEvent = true;
    try {
      this.drainAfter(ev.run);
    } finally {
      this.inEvent = false;
    }
    opts.afterEach?.();
    return opts.done?.() ?? false;
  }

  /** Immediates not run inline go to the queue, where their order (seq) puts them as before. */
  private queueImmediates(): void {
    if (this.immediates.length === 0) return;
    for (const ev of this.immediates) this.queue.push(ev);
    this.immediates = [];
  }

  /**
   * Runs `f` as a microtask and drains both queues. As a microtask, not called directly,
   * so that the queues run in the order they did when events ran inside an async loop:
   * the promise reactions `f` starts before its nextTicks.
   */
  private drainAfter(f: () => void): void {
    let failed = false;
    let error: unknown;
    queueMicrotask(() => {
      try {
        f();
      } catch (err) {
        failed = true;
        error = err;
      }
    });
    drainQueues();
    if (failed) throw error;
  }

  get pendingEvents(): number {
    return this.queue.size;
  }
}
