// Leader election for applications (issue #17), etcd's recipe (concurrency.Election): a
// campaign is a lock whose key holds the candidate's value; the leader is the key with the
// lowest createRevision under the election's prefix. observe() follows it with a watch.
import { prefixEnd } from '@conclave/core';
import type { CallOptions } from './deadlines.js';
import { InvalidArgumentError } from './errors.js';
import { Lock, recipePrefix, takeTurn, type LockOptions, type RecipeNode } from './lock.js';
import type { Clock } from './seams.js';

export interface Leadership {
  /** The leader's key under the election's prefix. */
  readonly key: string;
  readonly value: unknown;
  /** The createRevision of the leader's key: a fencing token, higher for every later leader. */
  readonly revision: number;
}

export class Election {
  private readonly prefix: string;
  private held: Lock | null = null;

  constructor(
    private readonly node: RecipeNode,
    private readonly clock: Clock,
    readonly name: string,
  ) {
    this.prefix = recipePrefix(name, 'election name');
  }

  /** Whether this campaign leads now (until resign() or loss). */
  get isLeader(): boolean {
    return this.held?.isHeld === true;
  }

  /** The lock behind this campaign's leadership (its signal, its `lost` event, its fencing token). */
  get leadership(): Lock | null {
    return this.held;
  }

  /** Resolves once this campaign leads (LockTimeoutError after timeoutMs; default 60,000 ms). */
  async campaign(value: unknown, opts: LockOptions = {}): Promise<Lock> {
    if (value === undefined) throw new InvalidArgumentError('campaign value must not be undefined');
    if (this.held?.isHeld === true) throw new InvalidArgumentError(`election '${this.name}': this campaign already leads; resign() first`);
    const turn = await takeTurn(this.node, this.clock, this.name, this.prefix, value, opts);
    const lock = new Lock(this.name, turn.key, turn.createRevision, turn.lease);
    lock.guard(this.node, turn.createRevision);
    this.held = lock;
    return lock;
  }

  /** Gives up leadership (or the place in the queue): the next candidate leads. */
  async resign(opts: CallOptions = {}): Promise<void> {
    const held = this.held;
    this.held = null;
    if (held) await held.release(opts);
  }

  /** The leader now (null if none), read linearizably. */
  async leader(): Promise<Leadership | null> {
    const end = prefixEnd(this.prefix);
    let best: Leadership | null = null;
    for await (const [key, meta] of this.node.scan(end === null ? { gte: this.prefix } : { gte: this.prefix, lt: end }, { withMeta: true, consistency: 'linearizable' })) {
      const m = meta as { value: unknown; createRevision: number };
      if (best === null || m.createRevision < best.revision) best = { key, value: m.value, revision: m.createRevision };
    }
    return best;
  }

  /**
   * The leaders, as they change: the current one first (if any), then each new one. Ends when
   * the loop breaks, `signal` aborts, or the node closes.
   */
  async *observe(opts: { signal?: AbortSignal } = {}): AsyncGenerator<Leadership, void, undefined> {
    const w = this.node.watch({ prefix: this.prefix }, { consistency: 'linearizable' });
    const onAbort = (): void => w.close();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let last: Leadership | null = await this.leader();
      if (last) yield last;
      for await (const batch of w) {
        if (batch.events.length === 0) continue;
        const now = await this.leader();
        if (now !== null && (last === null || now.key !== last.key || now.revision !== last.revision)) yield now;
        last = now;
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      w.close();
    }
  }
}
