// One watcher: an async iterable of batches of changes in its range, in revision order, each
// revision whole. It first replays the member's history from `fromRevision` (page by page,
// pulled only as the consumer keeps up), then follows the applies live. A live queue past
// its byte limit closes it with WatchOverflowError rather than buffer without bound.
import { decodeValue, type KvChange } from '@conclave/storage';
import { AbortedError, CompactedError, WatchOverflowError } from '../errors.js';
import type { Clock, Timer } from '../seams.js';
import type { KeyMatcher } from './watch-range.js';

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new value (absent for a delete). */
  readonly value?: unknown;
  readonly revision: number;
  /** The value before (with `prevValue: true`; absent if the key was absent). */
  readonly prevValue?: unknown;
}

export interface WatchBatch {
  /** Empty for a progress notification. */
  readonly events: readonly WatchEvent[];
  /** Every change up to this revision has been given: resume from revision + 1. */
  readonly revision: number;
}

/** What a watcher reads: the member's history and where its live applies stand. */
export interface WatchSource {
  /** The last revision handed to live watchers. */
  readonly revision: number;
  readHistory(from: number, maxBytes: number): Promise<{ records: { revision: number; changes: readonly KvChange[] }[]; upTo: number; start: number; compacted: boolean }>;
  release(w: Watcher): void;
  /** Bytes this member's watchers hold queued changed by `delta` (the node-wide bound). */
  account(deltaBytes: number): void;
}

export interface WatcherLimits {
  readonly queueSizeBytes: number;
  readonly progressMs: number;
  readonly prevValue: boolean;
}

/** Bytes a change holds in a queue: its key and values, and a little for the object. */
function sizeOf(c: KvChange): number {
  return 48 + c.key.length * 2 + (c.value?.length ?? 0) + (c.prevValue?.length ?? 0);
}

export class Watcher implements AsyncIterable<WatchBatch> {
  private queue: { revision: number; changes: KvChange[] }[] = [];
  private queued = 0;
  /** The first revision not yet queued nor given. */
  private next = 0;
  /** Following the applies live (history replay done). */
  private synced = false;
  private lastGiven = 0;
  private error: Error | null = null;
  private closed = false;
  private progressDue = false;
  private givenSinceTick = false;
  private wake: (() => void) | null = null;
  private space: (() => void) | null = null;
  private timer: Timer | null = null;

  private startedResolve: (from: number) => void = () => {};
  private startedReject: (err: Error) => void = () => {};
  /** Resolves with the first revision the watcher gives once it starts (after its consistency's wait). */
  readonly started: Promise<number> = new Promise<number>((resolve, reject) => {
    this.startedResolve = resolve;
    this.startedReject = reject;
  });

  constructor(
    private readonly source: WatchSource,
    private readonly matches: KeyMatcher,
    private readonly limits: WatcherLimits,
    private readonly clock: Clock,
  ) {
    this.started.catch(() => {}); // a failure before the start reaches the consumer through the iteration
  }

  /** The revision of the last batch given to the consumer. */
  get lastRevision(): number {
    return this.lastGiven;
  }

  /** Starts at `from` (first revision wanted): replays history up to the live applies, then follows them. */
  start(from: number): void {
    if (this.closed) return;
    this.startedResolve(from);
    this.next = from;
    this.lastGiven = from - 1;
    this.armProgress();
    void this.catchUp().catch((err: unknown) => this.fail(err as Error));
  }

  private async catchUp(): Promise<void> {
    // Each turn reads at least one record or ends: bounded by the history's length.
    for (;;) {
      if (this.closed) return;
      if (this.next > this.source.revision) {
        this.synced = true; // synchronously with the check: no apply slips in between
        return;
      }
      // Pull the next page only once the consumer has taken most of the last.
      while (this.queued > this.limits.queueSizeBytes / 2 && !this.closed) await new Promise<void>((r) => (this.space = r));
      if (this.closed) return;
      const page = await this.source.readHistory(this.next, Math.max(1024, Math.floor(this.limits.queueSizeBytes / 4)));
      if (this.closed) return;
      if (page.compacted) {
        this.fail(new CompactedError(page.start, `revision ${this.next} is compacted on this member: its history starts at revision ${page.start}`));
        return;
      }
      for (const r of page.records) if (r.revision >= this.next) this.push(r.revision, r.changes);
      this.next = Math.max(this.next, page.upTo + 1);
      this.signal();
    }
  }

  /** Live: the changes applied at `revision` (the hub calls in revision order). */
  offer(revision: number, changes: readonly KvChange[]): void {
    if (!this.synced || this.closed || revision < this.next) return;
    this.push(revision, changes);
    this.next = revision + 1;
    if (this.queued > this.limits.queueSizeBytes) {
      this.overflow(`more than ${this.limits.queueSizeBytes} bytes of events queued`);
      return;
    }
    this.signal();
  }

  /** Live: everything up to `applied` was offered. */
  advance(applied: number): void {
    if (this.synced && !this.closed && applied >= this.next) this.next = applied + 1;
  }

  private push(revision: number, changes: readonly KvChange[]): void {
    const mine = changes.filter((c) => this.matches(c.key));
    if (mine.length === 0) return;
    this.queue.push({ revision, changes: mine });
    let bytes = 0;
    for (const c of mine) bytes += sizeOf(c);
    this.setQueued(this.queued + bytes);
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Bytes of changes queued, not yet given. */
  get queuedBytes(): number {
    return this.queued;
  }

  private setQueued(bytes: number): void {
    this.source.account(bytes - this.queued);
    this.queued = bytes;
  }

  /** Closed for falling behind: the consumer resumes from the revision after the last it was given. */
  overflow(why: string): void {
    this.fail(new WatchOverflowError(this.lastGiven, `the watcher fell behind: ${why}; it was given revisions up to ${this.lastGiven}, watch again from ${this.lastGiven + 1}`));
  }

  /** Ends the watcher with `err` at once (queued events are dropped). */
  fail(err: Error): void {
    if (this.closed) return;
    this.error = err;
    this.startedReject(err);
    this.stop();
  }

  close(): void {
    this.startedReject(new AbortedError('the watch was closed before it started'));
    this.stop();
  }

  private stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.setQueued(0);
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.source.release(this);
    this.signal();
    this.space?.();
  }

  private armProgress(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (!this.givenSinceTick && this.synced && this.queue.length === 0) {
        this.progressDue = true;
        this.signal();
      }
      this.givenSinceTick = false;
      this.armProgress();
    }, this.limits.progressMs);
  }

  /** Everything queued, as one batch of whole revisions, up to the revision all of it covers. */
  private take(): WatchBatch {
    const events: WatchEvent[] = [];
    for (const q of this.queue) {
      for (const c of q.changes) {
        const e: { type: 'put' | 'delete'; key: string; revision: number; value?: unknown; prevValue?: unknown } = { type: c.type, key: c.key, revision: q.revision };
        if (c.value !== null) e.value = decodeValue(c.value);
        if (this.limits.prevValue && c.prevValue !== null) e.prevValue = decodeValue(c.prevValue);
        events.push(e);
      }
    }
    this.queue = [];
    this.setQueued(0);
    this.space?.();
    this.space = null;
    return this.given({ events, revision: this.next - 1 });
  }

  private given(b: WatchBatch): WatchBatch {
    this.lastGiven = Math.max(this.lastGiven, b.revision);
    this.givenSinceTick = true;
    return b;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchBatch, void, undefined> {
    try {
      // Each turn gives a batch, or waits for one (woken by an apply, a page, progress or close).
      for (;;) {
        if (this.error) throw this.error;
        if (this.closed) return;
        if (this.queue.length > 0) yield this.take();
        else if (this.progressDue) {
          this.progressDue = false;
          yield this.given({ events: [], revision: this.next - 1 });
        } else await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      this.close();
    }
  }

  /** Stops the watcher when `signal` fires (AbortedError to the consumer). */
  abortOn(signal: AbortSignal | undefined): void {
    if (!signal) return;
    if (signal.aborted) this.fail(new AbortedError('the watch was aborted'));
    else signal.addEventListener('abort', () => this.fail(new AbortedError('the watch was aborted')), { once: true });
  }
}
