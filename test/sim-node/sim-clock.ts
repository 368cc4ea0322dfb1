// A node's clocks in the simulation. The monotonic clock runs at its own rate (drift) but
// never steps: that is what a monotonic clock promises, and what the driver's lease and
// maxLagMs rely on (packages/conclave/src/clock.ts). The wall clock runs with it and may be
// stepped either way, as NTP or an operator does. Timers are set in the node's own
// milliseconds, so a fast clock fires its timers early in the world's time.
//
// The bound (docs/reliability.md, 'lease'): a leader's lease is half the election timeout,
// counted on its clock, and followers hold their vote for a whole election timeout on
// theirs, so lease reads stay safe while no clock runs more than 2x faster than another,
// less transit. MAX_DRIFT keeps every rate within 1 +- 0.2, a ratio of at most 1.5.
import type { Scheduler, SimEvent } from './scheduler.js';

export const MAX_DRIFT = 0.2;

/** A timer of the driver's Clock seam; unref() means nothing here (the world decides when to stop). */
export class TimerHandle {
  event: SimEvent | null = null;
  cancelled = false;
  unref(): this {
    return this;
  }
}

export class SimClock {
  private rate: number;
  /** World time and local monotonic time at the last rate change. */
  private anchorWorldMs: number;
  private anchorLocalMs: number;
  private wallOffsetMs: number;

  constructor(
    private readonly sched: Scheduler,
    /** The scheduler owner of this clock's timers (the node's incarnation). */
    readonly owner: string,
    opts: { rate?: number; startMs?: number; wallOffsetMs?: number } = {},
  ) {
    this.rate = checkRate(opts.rate ?? 1);
    this.anchorWorldMs = sched.nowMs;
    this.anchorLocalMs = opts.startMs ?? 1_000_000;
    this.wallOffsetMs = opts.wallOffsetMs ?? 1_767_225_600_000; // 2026-01-01, so wall times read as dates
  }

  get driftRate(): number {
    return this.rate;
  }

  /** Local monotonic milliseconds, whole as production's (systemClock floors performance.now()). */
  nowMs(): number {
    return Math.floor(this.preciseNowMs());
  }

  private preciseNowMs(): number {
    return this.anchorLocalMs + (this.sched.nowMs - this.anchorWorldMs) * this.rate;
  }

  /** The wall clock: monotonic time plus whatever steps it took. */
  wallNowMs(): number {
    return Math.floor(this.preciseNowMs() + this.wallOffsetMs);
  }

  setRate(rate: number): void {
    const local = this.preciseNowMs();
    this.anchorWorldMs = this.sched.nowMs;
    this.anchorLocalMs = local;
    this.rate = checkRate(rate);
    this.sched.note(this.owner, `clock rate ${rate.toFixed(4)}`);
  }

  /** Steps the wall clock (never the monotonic one). */
  stepWall(deltaMs: number): void {
    this.wallOffsetMs += deltaMs;
    this.sched.note(this.owner, `wall clock stepped ${deltaMs >= 0 ? '+' : ''}${deltaMs.toFixed(0)} ms`);
  }

  /** World milliseconds until this clock has advanced `localMs` (a hair more: never early by rounding). */
  worldDelayMs(localMs: number): number {
    return Math.max(0, localMs) / this.rate + 1e-6;
  }

  setTimeout(fn: () => void, localMs: number, label = 'timer'): TimerHandle {
    const h = new TimerHandle();
    h.event = this.sched.after(this.worldDelayMs(localMs), this.owner, label, () => {
      if (!h.cancelled) fn();
    });
    return h;
  }

  setInterval(fn: () => void, localMs: number, label = 'interval'): TimerHandle {
    const h = new TimerHandle();
    const period = Math.max(1, localMs);
    const arm = (): void => {
      h.event = this.sched.after(this.worldDelayMs(period), this.owner, label, () => {
        if (h.cancelled) return;
        arm(); // re-armed first, so a throwing callback does not stop the interval
        fn();
      });
    };
    arm();
    return h;
  }

  clear(h: unknown): void {
    if (!(h instanceof TimerHandle)) return;
    h.cancelled = true;
    this.sched.cancel(h.event);
  }

  // The driver's Clock seam (packages/conclave/src/seams.ts) on top of the above.
  clearTimeout(h: unknown): void {
    this.clear(h);
  }

  clearInterval(h: unknown): void {
    this.clear(h);
  }

  /** After the current turn's promise jobs (the scheduler drains them), before any later timer. */
  setImmediate(fn: () => void): void {
    this.sched.immediate(this.owner, fn);
  }
}

function checkRate(rate: number): number {
  if (!(rate >= 1 - MAX_DRIFT && rate <= 1 + MAX_DRIFT)) throw new Error(`clock rate ${rate} is outside the documented bound 1 +- ${MAX_DRIFT}`);
  return rate;
}
