// One call's deadline and cancellation (issue 22, item 2): every operation takes
// `{ timeoutMs, signal }`, as etcd's client takes a context. A Call says how much time is
// left and whether the caller aborted or the node closed, and races a wait against both.
// Time comes from the node's Clock only (seams.ts), so the simulation runs it too.
import { InvalidArgumentError } from '@conclave/core';
import { AbortedError, NodeClosedError, WriteOutcomeUnknownError } from './errors.js';
import type { NodeContext } from './node-context.js';
import type { Timer } from './seams.js';

/** Default deadlines of the operator's calls (membership, transferLeaderTo; transferLeadership). */
export const OPERATOR_TIMEOUT_MS = 10_000;
export const TRANSFER_TIMEOUT_MS = 5000;

/** What every operation accepts. */
export interface CallOptions {
  /** The call's deadline, in ms from now (defaults: packages/conclave/README.md, "Deadlines"). */
  readonly timeoutMs?: number;
  /** Aborts the call: see AbortedError and WriteOutcomeUnknownError for what the write did. */
  readonly signal?: AbortSignal;
}

/** Why a call stopped before its work was done. */
export type StopReason = 'aborted' | 'closed';

export class Call {
  readonly deadlineMs: number;

  private constructor(
    private readonly ctx: NodeContext,
    /** The operation, in the application's words ("put of key 'k'"): for messages. */
    readonly what: string,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
  ) {
    this.deadlineMs = ctx.clock.nowMs() + timeoutMs;
  }

  /** Validates the caller's options; `defaultMs` when no timeoutMs is given. */
  static of(ctx: NodeContext, what: string, opts: CallOptions | undefined, defaultMs: number): Call {
    const o = opts ?? {};
    if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options must be an object');
    const t = o.timeoutMs;
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0)) throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds, got ${JSON.stringify(t) ?? String(t)}`);
    const s = o.signal;
    if (s !== undefined && !(s instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
    return new Call(ctx, what, t ?? defaultMs, s);
  }

  /** An internal call of `timeoutMs` (a room's own deadline), or `c` itself when it is a Call. */
  static within(ctx: NodeContext, what: string, c: Call | number): Call {
    return c instanceof Call ? c : new Call(ctx, what, Math.max(1, c), undefined);
  }

  /** Milliseconds left before the deadline (0 once passed). */
  get leftMs(): number {
    return Math.max(0, this.deadlineMs - this.ctx.clock.nowMs());
  }

  get expired(): boolean {
    return this.leftMs <= 0;
  }

  get stopped(): StopReason | null {
    if (this.ctx.closed || this.ctx.failure) return 'closed';
    if (this.signal?.aborted) return 'aborted';
    return null;
  }

  /** Before anything took effect: throws ABORTED, NODE_CLOSED (or the node's failure). */
  checkNotStopped(): void {
    const why = this.stopped;
    if (why) throw this.notDone(why);
  }

  /** The error for a call that stopped before it took effect. */
  notDone(why: StopReason): Error {
    if (why === 'closed') return this.ctx.failure ?? new NodeClosedError(this.ctx.id, `${this.what}: node ${this.ctx.id} closed before it was done; it did not happen`);
    return new AbortedError(`${this.what} was aborted before it took effect; it did not happen`, this.signal?.reason);
  }

  /** `p`, or the error `stoppedErr` gives as soon as the caller aborts or the node closes. */
  race<T>(p: Promise<T>, stoppedErr: (why: StopReason) => Error): Promise<T> {
    const why = this.stopped;
    if (why) {
      p.catch(() => {});
      return Promise.reject(stoppedErr(why));
    }
    const signal = this.signal;
    return new Promise<T>((resolve, reject) => {
      const onStop = (): void => {
        done();
        p.catch(() => {}); // its own outcome has nobody to go to now
        reject(stoppedErr(this.stopped ?? 'closed'));
      };
      const offClose = this.ctx.onStop(onStop);
      const done = (): void => {
        offClose();
        signal?.removeEventListener('abort', onStop);
      };
      signal?.addEventListener('abort', onStop, { once: true });
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }

  /** Waits `ms` (never past the deadline); returns early when the caller aborts or the node closes. */
  sleep(ms: number): Promise<void> {
    const clock = this.ctx.clock;
    let timer: Timer | undefined;
    const slept = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, Math.max(1, Math.min(ms, this.leftMs)));
    });
    return this.race(slept, () => new Error('stopped')).then(
      () => undefined,
      () => {
        if (timer !== undefined) clock.clearTimeout(timer);
      },
    );
  }
}

/** A key as messages show it: quoted, and cut short when long. */
export function keyName(key: unknown): string {
  if (typeof key !== 'string') return `(${typeof key})`;
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}...` : key);
}

/** The operator's calls once took a bare timeoutMs: both forms are accepted. */
export function callOptionsOf<T extends CallOptions>(x: number | T | undefined): T {
  return (typeof x === 'number' ? { timeoutMs: x } : (x ?? {})) as T;
}

/**
 * Runs an operator's action (a membership change, a leadership transfer) within `call`:
 * ABORTED before it starts; once started, an abort or a close stops the wait and leaves it
 * "may have happened" (the change may commit, the leadership may still move).
 */
export function startedCall<T>(ctx: NodeContext, call: Call, run: (timeoutMs: number) => Promise<T>): Promise<T> {
  ctx.checkAccepting();
  call.checkNotStopped();
  const stoppedAs = (why: StopReason): Error =>
    new WriteOutcomeUnknownError(`${call.what} was started and then ${why === 'aborted' ? 'aborted by the caller' : `node ${ctx.id} closed`} before it was done; it may or may not take effect`);
  return call.race(run(call.timeoutMs), stoppedAs);
}
