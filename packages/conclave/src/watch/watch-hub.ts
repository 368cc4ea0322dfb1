// The watchers of one member: opened by node.watch(), fed by the Ready loop after each apply
// (in revision order, from the member's applied state, leader or follower), closed with
// CompactedError when a snapshot install replaces the state under them, and with
// NodeClosedError when the node stops.
import { InvalidArgumentError } from '@conclave/core';
import type { ApplyResult } from '@conclave/storage';
import { Call, type CallOptions } from '../deadlines.js';
import { CompactedError, NodeClosedError } from '../errors.js';
import type { NodeContext } from '../node-context.js';
import { validateConsistency, type Consistency } from '../options.js';
import type { ReadGate } from '../read-gate.js';
import { watchMatcher, type WatchRange } from './watch-range.js';
import { Watcher, type WatchSource } from './watcher.js';

export type { WatchBatch, WatchEvent } from './watcher.js';
export { Watcher } from './watcher.js';
export type { WatchRange } from './watch-range.js';

export interface WatchOptions extends CallOptions {
  /** The first revision wanted (replayed from this member's history); default: the next one applied here. */
  readonly fromRevision?: number;
  /** Each event carries the value before it. */
  readonly prevValue?: boolean;
  /** Before starting: 'none' (default) starts from this member's applied state; others wait as a read would ('linearizable': caught up to the leader's commit). */
  readonly consistency?: Consistency;
  /** An idle watcher gets an empty batch with the current revision this often (default 10,000 ms). */
  readonly progressMs?: number;
}

export const DEFAULT_WATCH_PROGRESS_MS = 10_000;

class WatchHub implements WatchSource {
  private readonly watchers = new Set<Watcher>();
  revision: number;
  /** Bytes queued in all watchers of this member, bounded by watchBuffersSizeBytes. */
  private queuedBytes = 0;

  constructor(private readonly ctx: NodeContext) {
    this.revision = ctx.storage.applied;
    const closeAll = (): void => {
      for (const w of [...this.watchers]) w.fail(this.ctx.failure ?? new NodeClosedError(this.ctx.id, `node ${this.ctx.id} closed; watch again on another member from the last revision + 1`));
    };
    if (ctx.closeSignal.aborted) closeAll();
    else ctx.closeSignal.addEventListener('abort', closeAll, { once: true });
  }

  get size(): number {
    return this.watchers.size;
  }

  readHistory(from: number, maxBytes: number) {
    return this.ctx.storage.readHistory(from, maxBytes);
  }

  release(w: Watcher): void {
    this.watchers.delete(w);
  }

  account(deltaBytes: number): void {
    this.queuedBytes += deltaBytes;
  }

  add(w: Watcher): void {
    this.watchers.add(w);
  }

  onApplied(results: readonly ApplyResult[], applied: number): void {
    if (this.watchers.size > 0) {
      for (const r of results) {
        if (!r.changes || r.changes.length === 0) continue;
        for (const w of this.watchers) w.offer(r.index, r.changes);
      }
    }
    this.revision = applied;
    for (const w of this.watchers) w.advance(applied);
    // Over the member's budget: the watchers furthest behind go first (each frees its queue).
    const budget = this.ctx.opts.watchBuffersSizeBytes;
    while (this.queuedBytes > budget && this.watchers.size > 0) {
      let slowest: Watcher | null = null;
      for (const w of this.watchers) if (slowest === null || w.queuedBytes > slowest.queuedBytes) slowest = w;
      if (slowest === null || slowest.queuedBytes === 0) break;
      slowest.overflow(`this member's watchers hold more than watchBuffersSizeBytes (${budget}) and it was the furthest behind`);
    }
  }

  onInstalled(index: number): void {
    this.revision = index;
    for (const w of [...this.watchers]) {
      w.fail(new CompactedError(index + 1, `a snapshot at revision ${index} replaced this member's state; its history starts at ${index + 1}: watch again on a member that holds revision ${w.lastRevision + 1}, or read afresh`));
    }
  }
}

const hubs = new WeakMap<NodeContext, WatchHub>();

function hubOf(ctx: NodeContext): WatchHub {
  let h = hubs.get(ctx);
  if (!h) hubs.set(ctx, (h = new WatchHub(ctx)));
  return h;
}

/** Ready loop: entries were applied up to `applied` (a no-op until a first watch). */
export function watchesApplied(ctx: NodeContext, results: readonly ApplyResult[], applied: number): void {
  hubs.get(ctx)?.onApplied(results, applied);
}

/** Ready loop: a snapshot replaced the state at `index`. */
export function watchesInstalled(ctx: NodeContext, index: number): void {
  hubs.get(ctx)?.onInstalled(index);
}

/** node.watch(): validates, then starts (after the consistency's wait) a watcher. */
export function openWatch(ctx: NodeContext, reads: ReadGate, range: WatchRange, opts: WatchOptions = {}): Watcher {
  ctx.checkAccepting();
  const { matcher } = watchMatcher(range);
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('watch options must be an object');
  const from = opts.fromRevision;
  if (from !== undefined && (!Number.isSafeInteger(from) || from < 1)) throw new InvalidArgumentError(`fromRevision must be an integer >= 1 (got ${JSON.stringify(from)})`);
  const progressMs = opts.progressMs ?? DEFAULT_WATCH_PROGRESS_MS;
  if (!Number.isSafeInteger(progressMs) || progressMs < 1) throw new InvalidArgumentError(`progressMs must be a positive integer (got ${JSON.stringify(opts.progressMs)})`);
  if (opts.prevValue !== undefined && typeof opts.prevValue !== 'boolean') throw new InvalidArgumentError('prevValue must be a boolean');
  const consistency = validateConsistency(opts.consistency ?? 'none');
  const hub = hubOf(ctx);
  if (hub.size >= ctx.opts.maxWatchers) throw new InvalidArgumentError(`this member has ${hub.size} watchers open, its maxWatchers; close some first`);
  const w = new Watcher(hub, matcher, { queueSizeBytes: ctx.opts.watchQueueSizeBytes, progressMs, prevValue: opts.prevValue === true }, ctx.clock);
  hub.add(w);
  w.abortOn(opts.signal);
  if (consistency === 'none') w.start(from ?? hub.revision + 1);
  else {
    const call = Call.of(ctx, 'the watch', opts, ctx.opts.readTimeoutMs);
    reads.readBarrier(consistency, call).then(
      () => w.start(from ?? hub.revision + 1),
      (err: unknown) => w.fail(err as Error),
    );
  }
  return w;
}
