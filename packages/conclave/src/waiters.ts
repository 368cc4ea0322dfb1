// Bounded sets of promises waiting for an index to be reached, each with a deadline.
import { systemClock, type Clock, type Timer } from './seams.js';

interface Waiter {
  readonly index: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: Timer;
}

/** Waits for a monotonically increasing index (the applied index, say) to reach a value. */
export class IndexWaiters {
  private waiters: Waiter[] = [];

  constructor(
    private readonly what: string,
    readonly maxWaiters: number,
    private readonly clock: Clock = systemClock,
  ) {}

  get size(): number {
    return this.waiters.length;
  }

  /** Resolves once `advance(i)` is called with i >= index; rejects with `onTimeout()` after `timeoutMs`. */
  wait(index: number, current: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (current >= index) return Promise.resolve();
    if (this.waiters.length >= this.maxWaiters) {
      return Promise.reject(onTimeout());
    }
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(onTimeout());
      }, timeoutMs);
      this.waiters.push({ index, resolve, reject, timer });
    });
  }

  advance(current: number): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= current) {
        this.clock.clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  rejectAll(err: Error): void {
    for (const w of this.waiters) {
      this.clock.clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters = [];
  }

  toString(): string {
    return `${this.waiters.length} waiting for the ${this.what}`;
  }
}
