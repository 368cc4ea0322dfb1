// Distributed locks on leases, transactions and watch (issue #17), etcd's recipe
// (concurrency.Mutex): each contender puts a key under the lock's prefix, attached to its
// own lease, in a transaction; the key's createRevision is its place in the queue. It holds
// the lock once no key under the prefix has a lower createRevision, and until then watches
// only the key just before its own (no herd). The createRevision is the fencing token:
// every holder's is higher than every earlier holder's, because a contender's turn comes
// only once every key created before its own is gone, so holders go in createRevision order.
// A holder whose lease ends (expired at the leader, or revoked) loses the lock: its key is
// deleted in the revocation's entry, and the next contender's wait ends there.
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, prefixEnd } from '@conclave/core';
import type { TxnRequest } from '@conclave/storage';
import type { CallOptions } from './deadlines.js';
import { AbortedError, CompactedError, LockLostError, LockTimeoutError } from './errors.js';
import type { GrantLeaseOptions, Lease } from './leases/lease.js';
import type { Clock } from './seams.js';
import type { TxnResult } from './txn.js';
import type { Watcher, WatchOptions, WatchRange } from './watch/watch-hub.js';

/** What the recipes use of the node: its public API only. */
export interface RecipeNode {
  grantLease(opts: GrantLeaseOptions): Promise<Lease>;
  txn(req: TxnRequest, opts?: CallOptions): Promise<TxnResult>;
  scan(range: { gte: string; lt?: string }, opts: { withMeta: true; consistency: 'linearizable' }): AsyncIterable<[string, unknown]>;
  watch(range: WatchRange, opts?: WatchOptions): Watcher;
}

export interface LockOptions {
  /** The TTL of the holder's lease, kept alive while it holds or waits (default 60,000 ms). */
  readonly ttlMs?: number;
  /** How long to wait for the turn (default 60,000 ms); then LockTimeoutError, and nothing is held. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export const DEFAULT_LOCK_TTL_MS = 60_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
/** Most contenders looked at per scan of the queue. */
const MAX_QUEUE_SCAN = 100_000;

export interface LockEvents {
  /** The lock was lost before release(): its lease ended or its key was deleted. */
  lost: [err: LockLostError];
}

/** A held lock. Stop the work it protects on `lost` (or when `signal` aborts). */
export class Lock extends EventEmitter<LockEvents> {
  /** Aborted with LockLostError when the lock is lost; not aborted by release(). */
  readonly signal: AbortSignal;
  private readonly lostController = new AbortController();
  private released = false;
  private ownWatch: Watcher | null = null;

  constructor(
    readonly name: string,
    /** The key this holder put under the lock's prefix. */
    readonly key: string,
    /** The revision that created `key`: strictly higher than every earlier holder's. Pass it to what the lock protects. */
    readonly fencingToken: number,
    readonly lease: Lease,
  ) {
    super();
    this.signal = this.lostController.signal;
  }

  get isHeld(): boolean {
    return !this.released && !this.signal.aborted;
  }

  /** Releases the lock: revokes its lease, which deletes its key (the next contender's turn). */
  async release(opts: CallOptions = {}): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.ownWatch?.close();
    try {
      await this.lease.revoke(opts);
    } catch (err) {
      // Already gone (expired): nothing is held, which is what release wants.
      if ((err as { code?: string }).code !== 'LEASE_NOT_FOUND') throw err;
    }
  }

  /** @internal Watches the holder's own key and lease: either ending means the lock is lost. */
  guard(node: RecipeNode, fromRevision: number): void {
    this.lease.once('lost', () => this.lose());
    if (this.lease.signal.aborted) return this.lose();
    const w = node.watch({ key: this.key }, { fromRevision });
    this.ownWatch = w;
    void (async () => {
      try {
        for await (const batch of w) if (batch.events.some((e) => e.type === 'delete')) return this.lose();
      } catch {
        // The watch ended (node closed, compacted): the lease keep-alive still tells.
      }
    })();
  }

  private lose(): void {
    if (this.released || this.signal.aborted) return;
    this.ownWatch?.close();
    this.lease.close();
    const err = new LockLostError(this.name, `lock '${this.name}' (fencing token ${this.fencingToken}) was lost: its lease ended or its key was deleted before release`);
    this.lostController.abort(err);
    if (this.listenerCount('lost') > 0) this.emit('lost', err);
  }
}

/** The prefix of a lock or election name: its keys are `<name>/<lease id>`. */
export function recipePrefix(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError(`${what} must be a non-empty string (got ${JSON.stringify(name) ?? String(name)})`);
  return name.endsWith('/') ? name : `${name}/`;
}

function checkMs(v: unknown, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive number of milliseconds (got ${JSON.stringify(v) ?? String(v)})`);
  return v;
}

export interface Turn {
  readonly key: string;
  readonly createRevision: number;
  readonly lease: Lease;
}

/**
 * Joins the queue under `prefix` with `value` and waits for the turn (lock and campaign).
 * On timeout, abort or loss, the contender's lease is revoked (its key with it) before the
 * error: nothing is left queued.
 */
export async function takeTurn(node: RecipeNode, clock: Clock, name: string, prefix: string, value: unknown, opts: LockOptions): Promise<Turn> {
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('lock options must be an object');
  const ttlMs = checkMs(opts.ttlMs, 'ttlMs', DEFAULT_LOCK_TTL_MS);
  const timeoutMs = checkMs(opts.timeoutMs, 'timeoutMs', DEFAULT_LOCK_TIMEOUT_MS);
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  const deadline = clock.nowMs() + timeoutMs;
  const lease = await node.grantLease({ ttlMs, autoKeepAlive: true, timeoutMs });
  const key = `${prefix}${lease.id}`;
  try {
    const put = await node.txn(
      {
        if: [{ key, target: 'createRevision', op: '==', value: 0 }],
        then: [{ op: 'put', key, value, lease: lease.id }],
        else: [{ op: 'get', key }],
      },
      { timeoutMs: Math.max(1, deadline - clock.nowMs()) },
    );
    const got = put.results[0];
    const createRevision = put.succeeded ? put.revision : got?.op === 'get' && got.kv ? got.kv.createRevision : 0;
    if (createRevision === 0) throw new LockLostError(name, `'${name}': the contender's key ${key} vanished before it queued`);
    for (let i = 0; i < MAX_QUEUE_SCAN; i++) {
      const before = await predecessor(node, prefix, createRevision);
      if (before === null) return { key, createRevision, lease };
      await waitGone(node, clock, before, createRevision, deadline, signal, lease, name, timeoutMs);
    }
    throw new LockTimeoutError(name, timeoutMs);
  } catch (err) {
    lease.close();
    await lease.revoke({ timeoutMs: 5000 }).catch(() => {});
    throw err;
  }
}

/** The key just before `mine` in the queue (the highest createRevision below it), or null: our turn. */
async function predecessor(node: RecipeNode, prefix: string, mine: number): Promise<string | null> {
  const end = prefixEnd(prefix);
  let best: { key: string; rev: number } | null = null;
  let n = 0;
  for await (const [k, meta] of node.scan(end === null ? { gte: prefix } : { gte: prefix, lt: end }, { withMeta: true, consistency: 'linearizable' })) {
    const rev = (meta as { createRevision: number }).createRevision;
    if (rev < mine && (best === null || rev > best.rev)) best = { key: k, rev };
    if (++n >= MAX_QUEUE_SCAN) break;
  }
  return best?.key ?? null;
}

/** Waits for `key` to be deleted (seen by a watch from `fromRevision`, when it certainly existed). */
async function waitGone(node: RecipeNode, clock: Clock, key: string, fromRevision: number, deadline: number, signal: AbortSignal | undefined, lease: Lease, name: string, timeoutMs: number): Promise<void> {
  const w = node.watch({ key }, { fromRevision });
  const it = w[Symbol.asyncIterator]();
  let timer: ReturnType<Clock['setTimeout']> | null = null;
  let onAbort: (() => void) | null = null;
  const stop = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new LockTimeoutError(name, timeoutMs)), Math.max(1, deadline - clock.nowMs()));
    onAbort = () => reject(lease.signal.aborted ? new LockLostError(name, `'${name}': the contender's lease ended while it waited`) : new AbortedError(`waiting for '${name}' was aborted; it was not taken`, signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    lease.signal.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted === true || lease.signal.aborted) onAbort();
  });
  stop.catch(() => {});
  try {
    for (let i = 0; i < 1_000_000; i++) {
      const r = await Promise.race([it.next(), stop]);
      if (r.done === true) return; // the watch ended (node closing): look at the queue again
      if (r.value.events.some((e) => e.type === 'delete')) return;
    }
  } catch (err) {
    // History compacted past our revision: the queue is looked at again.
    if (!(err instanceof CompactedError)) throw err;
  } finally {
    if (timer !== null) clock.clearTimeout(timer);
    if (onAbort !== null) {
      signal?.removeEventListener('abort', onAbort);
      lease.signal.removeEventListener('abort', onAbort);
    }
    w.close();
  }
}

/** node.lock(): waits for the turn, then holds the lock until release() or loss. */
export async function acquireLock(node: RecipeNode, clock: Clock, name: string, opts: LockOptions = {}): Promise<Lock> {
  const prefix = recipePrefix(name, 'lock name');
  const turn = await takeTurn(node, clock, name, prefix, '', opts);
  const lock = new Lock(name, turn.key, turn.createRevision, turn.lease);
  lock.guard(node, turn.createRevision);
  return lock;
}
