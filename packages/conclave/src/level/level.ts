// ConclaveLevel: the replicated store as an abstract-level database, a drop-in for
// classic-level. A location alone opens a group of one in that directory; `conclave`
// options open a member of a replicated group; fromNode() wraps an open node.
// Writes go through the log with the node's durability (a batch is one entry, a clear one
// entry per MAX_CLEAR_KEYS keys); reads honour a consistency, per call or by default.
import { AbstractLevel, AbstractSnapshot, type AbstractDatabaseOptions } from 'abstract-level';
import { MAX_BATCH_OPS, MAX_CLEAR_KEYS, type KvBatchOp } from '@conclave/storage';
import { openNode, type ConclaveNode } from '../node.js';
import { resolveDurability, validateConsistency, type Consistency, type Durability, type OpenNodeOptions } from '../options.js';
import { InvalidArgumentError } from '../errors.js';
import { ConclaveIterator } from './iterator.js';
import { asBuffer, levelValue, nodeKey, nodeRange, type LevelRange } from './keys.js';
import { checkLocation } from './location.js';
import { ReadView } from './read-view.js';
import './option-types.js';

/** openNode options for a member of a replicated group; dataDir is the location. */
export type ConclaveMemberOptions = Partial<Omit<OpenNodeOptions, 'dataDir'>>;

export interface ConclaveLevelOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** Open a member of a replicated group (default: a group of one, member `n1`, on an ephemeral loopback port). */
  readonly conclave?: ConclaveMemberOptions;
  /** Reads' default consistency (default 'linearizable'); a read's own `consistency` option wins. */
  readonly consistency?: Consistency;
  /** Reads' default deadline for their consistency, in ms (default: the node's readTimeoutMs, 5000). */
  readonly readTimeoutMs?: number;
}

/** Per-call options ConclaveLevel adds to abstract-level's. */
export interface ConclaveReadOptions {
  readonly consistency?: Consistency;
  readonly readTimeoutMs?: number;
}
export interface ConclaveWriteOptions {
  /** This write's durability (default: the node's). */
  readonly durability?: Partial<Durability>;
  /** classic-level's option: true fsyncs the leader's log before the write resolves (localSync). */
  readonly sync?: boolean;
}

const SINGLE_MEMBER_ID = 'n1';
const EPHEMERAL_LOOPBACK = '127.0.0.1:0';
const DEFAULT_READ_TIMEOUT_MS = 5000;

const MANIFEST = {
  encodings: { buffer: true },
  implicitSnapshots: true,
  explicitSnapshots: true,
  has: true,
  getSync: false,
  seek: true,
  createIfMissing: true,
  errorIfExists: true,
  permanence: true,
  additionalMethods: {},
  signals: { iterators: false },
};

type BufferOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };
type RangeOptions = LevelRange & { limit: number; snapshot?: ConclaveSnapshot } & ConclaveReadOptions & ConclaveWriteOptions;

export class ConclaveLevel<K = string, V = string> extends AbstractLevel<Buffer, K, V> {
  readonly location: string;
  private nodeValue: ConclaveNode | null;
  private readonly ownsNode: boolean;
  private readonly memberOptions: ConclaveMemberOptions;
  private readonly defaultConsistency: Consistency;
  private readonly readTimeoutMs: number;

  constructor(location: string, options: ConclaveLevelOptions<K, V> = {}) {
    const { conclave, consistency, readTimeoutMs, [kFromNode]: from, ...forward } = options as ConclaveLevelOptions<K, V> & { [kFromNode]?: ConclaveNode };
    // Checked before super(): abstract-level opens the database on the next tick.
    if (from === undefined && (typeof location !== 'string' || location === '')) throw new InvalidArgumentError('ConclaveLevel needs a location: a data directory path');
    if (conclave !== undefined && (typeof conclave !== 'object' || conclave === null)) throw new InvalidArgumentError('the conclave option must be an object of openNode options');
    if (conclave && 'dataDir' in conclave) throw new InvalidArgumentError('conclave.dataDir is not an option: the location is the data directory');
    const defaultConsistency = validateConsistency(consistency ?? 'linearizable');
    const timeoutMs = readTimeoutMs === undefined ? (conclave?.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS) : positiveMs(readTimeoutMs, 'readTimeoutMs');
    super(MANIFEST, forward);
    this.location = location;
    this.nodeValue = from ?? null;
    this.ownsNode = from === undefined;
    this.memberOptions = conclave ?? {};
    this.defaultConsistency = defaultConsistency;
    this.readTimeoutMs = timeoutMs;
  }

  /** Wraps a node that is already open; close() leaves the node open. */
  static fromNode<K = string, V = string>(node: ConclaveNode, options: Omit<ConclaveLevelOptions<K, V>, 'conclave'> = {}): ConclaveLevel<K, V> {
    return new ConclaveLevel<K, V>('', { ...options, [kFromNode]: node } as ConclaveLevelOptions<K, V>);
  }

  /** The node under this database (null while a database that opens its own node is closed). */
  get node(): ConclaveNode | null {
    return this.nodeValue;
  }

  async _open(options: { createIfMissing?: boolean; errorIfExists?: boolean }): Promise<void> {
    if (!this.ownsNode) return;
    await checkLocation(this.location, options.createIfMissing !== false, options.errorIfExists === true);
    this.nodeValue = await this.openOwnNode();
  }

  /** Opens the node this database owns (a subclass may open it otherwise, e.g. with its group). */
  protected async openOwnNode(): Promise<ConclaveNode> {
    const m = this.memberOptions;
    const alone = m.peers === undefined && m.join === undefined;
    const id = m.id ?? SINGLE_MEMBER_ID;
    const listen = m.listen ?? EPHEMERAL_LOOPBACK;
    const node = await openNode({
      // A group of one is a local database: like classic-level's, it does not keep the
      // process alive by itself (a member with peers serves them until closed).
      ...(alone ? { peers: { [id]: listen }, keepProcessAlive: false } : {}),
      ...m,
      id,
      listen,
      dataDir: this.location,
    } as OpenNodeOptions);
    // A group of one elects itself within the open's first Ready turns (core: SOLE_VOTER):
    // wait for that, so that the first write does not go looking for a leader.
    // (A new group's membership is not applied yet when openNode resolves: `alone` says it.)
    if (alone || node.electableIds().length === 1) await leaderOrTimeout(node, SOLE_LEADER_WAIT_MS);
    return node;
  }

  protected async closeOwnNode(node: ConclaveNode): Promise<void> {
    await node.close();
  }

  async _close(): Promise<void> {
    const node = this.nodeValue;
    if (!this.ownsNode || node === null) return;
    this.nodeValue = null;
    await this.closeOwnNode(node);
  }

  // ------------------------------------------------------------------ writes

  async _put(key: Buffer, value: Buffer, options: ConclaveWriteOptions): Promise<void> {
    await this.afterReadPoints();
    await this.openNode().put(nodeKey(key), value, { durability: this.durability(options) });
  }

  async _del(key: Buffer, options: ConclaveWriteOptions): Promise<void> {
    await this.afterReadPoints();
    await this.openNode().delete(nodeKey(key), { durability: this.durability(options) });
  }

  /** One log entry, so all or nothing (at most MAX_BATCH_OPS operations). */
  async _batch(operations: readonly BufferOp[], options: ConclaveWriteOptions): Promise<void> {
    if (operations.length === 0) return;
    await this.afterReadPoints();
    const ops: KvBatchOp[] = operations.map((op) => (op.type === 'put' ? { op: 'put', key: nodeKey(op.key), value: op.value } : { op: 'del', key: nodeKey(op.key) }));
    await this.openNode().batch(ops, { durability: this.durability(options) });
  }

  /**
   * One clear entry per MAX_CLEAR_KEYS keys, each deleting the next keys of the range in
   * the state it is applied to; like classic-level's clear, a large clear is not atomic.
   * With a snapshot, the keys the snapshot sees are deleted, in batches.
   */
  async _clear(options: RangeOptions): Promise<void> {
    await this.afterReadPoints();
    const node = this.openNode();
    const durability = this.durability(options);
    let remaining = options.limit < 0 ? Infinity : options.limit;
    if (options.snapshot) return this.clearSeen(node, options, remaining, durability);
    const range = nodeRange(options);
    // Each entry deletes at least one key or ends the loop, so it ends with the range's keys.
    while (remaining > 0) {
      const limit = Math.min(remaining, MAX_CLEAR_KEYS);
      const r = await node.clearRange({ op: 'clear', ...range, limit }, { durability });
      remaining -= r.count;
      if (r.count < limit || r.lastKey === null) return;
      // Go on after the last key deleted: what is written behind it now stays, as with an iterator.
      if (range.reverse) {
        delete (range as { lte?: string }).lte;
        (range as { lt?: string }).lt = r.lastKey;
      } else {
        delete (range as { gte?: string }).gte;
        (range as { gt?: string }).gt = r.lastKey;
      }
    }
  }

  private async clearSeen(node: ConclaveNode, options: RangeOptions, remaining: number, durability: Partial<Durability> | undefined): Promise<void> {
    const view = await options.snapshot!.readView.get();
    const it = view.iterator(nodeRange(options));
    try {
      while (remaining > 0) {
        const keys = await it.nextv(Math.min(remaining, MAX_BATCH_OPS));
        if (keys.length === 0) return;
        await node.batch(keys.map(([key]) => ({ op: 'del', key })), { durability });
        remaining -= keys.length;
      }
    } finally {
      await it.close();
    }
  }

  // ------------------------------------------------------------------ reads

  async _get(key: Buffer, options: ConclaveReadOptions & { snapshot?: ConclaveSnapshot }): Promise<Buffer | undefined> {
    const k = nodeKey(key);
    if (options.snapshot) return viewGet(options.snapshot.readView, k);
    const node = this.openNode();
    const v = await node.get(k, { consistency: this.consistency(options), timeoutMs: this.timeout(options) });
    return v === undefined ? undefined : asBuffer(v, k);
  }

  async _getMany(keys: readonly Buffer[], options: ConclaveReadOptions & { snapshot?: ConclaveSnapshot }): Promise<(Buffer | undefined)[]> {
    // One read point for all of them, and one state: an apply between two gets never shows.
    const view = options.snapshot?.readView ?? this.readView(options);
    try {
      return await Promise.all(keys.map((k) => viewGet(view, nodeKey(k))));
    } finally {
      if (!options.snapshot) await view.close();
    }
  }

  async _has(key: Buffer, options: ConclaveReadOptions & { snapshot?: ConclaveSnapshot }): Promise<boolean> {
    return (await this._get(key, options)) !== undefined;
  }

  async _hasMany(keys: readonly Buffer[], options: ConclaveReadOptions & { snapshot?: ConclaveSnapshot }): Promise<boolean[]> {
    return (await this._getMany(keys, options)).map((v) => v !== undefined);
  }

  /** Reads a snapshot of the applied state taken now (see read-view.ts). */
  _iterator(options: RangeOptions & { keys?: boolean; values?: boolean }): ConclaveIterator<this> {
    const snapshot = options.snapshot;
    const source = snapshot ? { view: snapshot.readView, ownsView: false } : { view: this.readView(options), ownsView: true };
    return new ConclaveIterator(this, options as never, source);
  }

  /** db.snapshot({ consistency }): the snapshot's reads all see one state, taken now (see read-view.ts). */
  _snapshot(options: ConclaveReadOptions): ConclaveSnapshot {
    return new ConclaveSnapshot(options, this.readView(options));
  }

  private readView(options: ConclaveReadOptions): ReadView {
    const view = new ReadView(this.openNode(), this.consistency(options), this.timeout(options));
    const settled = view.get().then(
      () => {},
      () => {},
    );
    this.readPointsPending.add(settled);
    void settled.then(() => this.readPointsPending.delete(settled));
    return view;
  }

  /**
   * Read points this db still waits for: a write made after a read was created waits for
   * them first. On a follower, a read point comes from the leader over the peer link and a
   * write goes to it over another connection; without the wait the write could reach the
   * leader first and show in the read (an iterator's implicit snapshot).
   */
  private readonly readPointsPending = new Set<Promise<void>>();

  private async afterReadPoints(): Promise<void> {
    if (this.readPointsPending.size > 0) await Promise.all([...this.readPointsPending]);
  }

  // ------------------------------------------------------------------ helpers

  private openNode(): ConclaveNode {
    // abstract-level calls the private API only while open, when the node is there.
    return this.nodeValue!;
  }

  private consistency(options: ConclaveReadOptions): Consistency {
    return options.consistency === undefined ? this.defaultConsistency : validateConsistency(options.consistency);
  }

  private timeout(options: ConclaveReadOptions): number {
    return options.readTimeoutMs === undefined ? this.readTimeoutMs : positiveMs(options.readTimeoutMs, 'readTimeoutMs');
  }

  private durability(options: ConclaveWriteOptions): Partial<Durability> | undefined {
    const d = options.durability;
    if (options.sync !== undefined && typeof options.sync !== 'boolean') throw new InvalidArgumentError('sync must be a boolean');
    // sync: false keeps the node's own durability: it never weakens the syncPolicy.
    if (options.sync === true) return { ...(d ?? {}), localSync: true };
    if (d !== undefined) resolveDurability(d, { localSync: false, replicaAck: 'simpleMajority', ackTimeoutMs: 1 });
    return d;
  }
}

/** An explicit snapshot: the applied state when db.snapshot() was called (see read-view.ts). */
export class ConclaveSnapshot extends AbstractSnapshot {
  constructor(
    options: object,
    readonly readView: ReadView,
  ) {
    super(...([options] as unknown as []));
  }

  async _close(): Promise<void> {
    await this.readView.close();
  }
}

const kFromNode = Symbol('conclave.fromNode');
/** How long an open waits for a group of one to lead; past it, writes wait for a leader as usual. */
const SOLE_LEADER_WAIT_MS = 2000;

function leaderOrTimeout(node: ConclaveNode, timeoutMs: number): Promise<void> {
  if (node.isLeader) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      node.off('stateChange', onState);
      resolve();
    };
    const onState = (state: string): void => {
      if (state === 'leader') done();
    };
    const timer = setTimeout(done, timeoutMs);
    node.on('stateChange', onState);
  });
}

async function viewGet(view: ReadView, k: string): Promise<Buffer | undefined> {
  const stored = await (await view.get()).get(k);
  return stored === null ? undefined : levelValue(stored, k);
}

function positiveMs(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`${name} must be an integer number of ms >= 1 (got ${JSON.stringify(v) ?? String(v)})`);
  return v;
}
