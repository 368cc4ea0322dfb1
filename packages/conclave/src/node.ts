// openNode(): the embedded replicated store. ConclaveNode is a facade over the rooms that do
// the work (node-rooms.ts builds and wires them; the README's layout lists them), sharing a
// NodeContext; the world (clock, disk, network) comes in through seams.ts.
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, type ConfChange, type GroupMetadata, type MemberType, type NodeId } from '@conclave/core';
import type { CommandOutcome, KvBatchOp, KvClearCommand, KvCommand, KvView, ScanOptions, TxnRequest } from '@conclave/storage';
import { registerAdminHandlers } from './admin-handlers.js';
import { bootWithStorage, openNodeStorage } from './boot.js';
import { Call, callOptionsOf, keyName, OPERATOR_TIMEOUT_MS, startedCall, TRANSFER_TIMEOUT_MS, type CallOptions } from './deadlines.js';
import { NodeClosedError } from './errors.js';
import type { NodeEvents } from './events.js';
import { logNodeEvents } from './log.js';
import { attachMetrics } from './metrics.js';
import { READY_TIMEOUT_MS, waitReady } from './lifecycle.js';
import { NodeContext } from './node-context.js';
import { buildRooms, roomsStatus, type NodeRooms } from './node-rooms.js';
import { resolveOptions, validateConsistency, type CommitToken, type Consistency, type Durability, type OpenNodeOptions } from './options.js';
import type { OverrideResult } from './override.js';
import { PRODUCTION_SEAMS, type NodeSeams } from './seams.js';
import type { NodeStatus, OverrideSource } from './status.js';
import { compareAndSet, runTxn, type TxnResult } from './txn.js';
import { openWatch, type Watcher, type WatchOptions, type WatchRange } from './watch/watch-hub.js';
import { describeWrite, written, type CasResult, type WriteResult } from './write-path.js';
import type { GrantLeaseOptions, KeepAliveResult, Lease, LeaseInfo } from './leases/lease.js';
import { registerLeaseHandlers } from './leases/lease-handlers.js';
import { acquireLock, type Lock, type LockOptions } from './lock.js';
import { Election } from './election-recipe.js';

export type { NodeEvents } from './events.js';
export { reviveError } from './leader-rpc.js';
export type { NodeState, NodeStatus, OverrideSource, RollbackStatus } from './status.js';
export type { CasResult, WriteResult } from './write-path.js';
export type { CallOptions } from './deadlines.js';

type WriteOptions = CallOptions & { durability?: Partial<Durability>; /** put: attach the key to this lease (grantLease). */ lease?: number };
type ReadOptions = CallOptions & { consistency?: Consistency; withMeta?: boolean };
type OperatorOptions = CallOptions & { force?: boolean };

export class ConclaveNode extends EventEmitter<NodeEvents> {
  readonly id: NodeId;
  readonly groupId: string;
  private readonly ctx: NodeContext;
  private readonly rooms: NodeRooms;

  private constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.id = ctx.id;
    this.groupId = ctx.groupId;
    this.rooms = buildRooms(ctx, {
      status: () => this.status(),
      address: () => this.address,
      onFailStop: (err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      },
    });
    ctx.emitEvent = (event, ...args) => void (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    logNodeEvents(this, ctx.opts.logger, () => ({ term: ctx.raft.currentTerm, role: ctx.raft.currentRole }));
  }

  /**
   * Opens (bootstrapping, restarting or joining) a node. See OpenNodeOptions.
   * `seams`: @internal, for the simulation (see openNodeWith in internal.ts).
   */
  static async open(options: OpenNodeOptions, seams: NodeSeams = PRODUCTION_SEAMS): Promise<ConclaveNode> {
    const node = new ConclaveNode(new NodeContext(resolveOptions(options), seams));
    await openNodeStorage(node.ctx);
    const { loop, override, rpc } = node.rooms;
    loop.attachStorage();
    try {
      await bootWithStorage(node.ctx, { loop, override, rpc, registerAdmin: () => { registerAdminHandlers(node.ctx.transport, node, node.ctx.clock); registerLeaseHandlers(node.ctx.transport, node.ctx, node.rooms.leasing, node); attachMetrics(node.ctx, node); } });
      if (node.ctx.opts.waitReady) await node.ready();
    } catch (err) {
      await node.rooms.shutdown.closeQuietly();
      throw err;
    }
    return node;
  }

  /** Resolves once a leader is known and this member applied up to its commit index; else NotReadyError naming what is missing. */
  ready(opts: CallOptions = {}): Promise<void> {
    this.ctx.checkAccepting();
    return waitReady(this.ctx, this.rooms.reads, Call.of(this.ctx, `node ${this.id}'s ready()`, opts, READY_TIMEOUT_MS));
  }

  /** The leader this member knows, now. */
  get leader(): { id: NodeId; address: string | null } | null {
    const id = this.ctx.raft.leaderId;
    return id === null ? null : { id, address: this.ctx.addressOf(id) };
  }

  /**
   * Stops the node; data stays on disk. Pending calls are rejected: writes proposed or sent with
   * WRITE_OUTCOME_UNKNOWN, the rest NODE_CLOSED. `drainMs`: first wait that long for writes in flight.
   */
  close(opts: { drainMs?: number } = {}): Promise<void> {
    return this.rooms.shutdown.close(opts);
  }

  // ------------------------------------------------------------------ writes (write-path.ts)

  /** Stores `value` (a Buffer or any msgpack value) under `key`. */
  async put(key: string, value: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
    return written(await this.write({ op: 'put', key, value, lease: opts.lease }, opts));
  }

  async delete(key: string, opts: WriteOptions = {}): Promise<WriteResult> {
    return written(await this.write({ op: 'del', key }, opts));
  }

  /** Several puts and deletes, applied atomically. */
  async batch(ops: readonly KvBatchOp[], opts: WriteOptions = {}): Promise<WriteResult> {
    return written(await this.write({ op: 'batch', ops }, opts));
  }

  /** Writes `next` (undefined deletes) if the key's value equals `expected` (undefined = absent). */
  compareAndSet(key: string, expected: unknown, next: unknown, opts: WriteOptions = {}): Promise<CasResult> {
    return compareAndSet(this.ctx, this.rooms.writePath, key, expected, next, opts);
  }

  /** etcd's Txn: `if` compares, then `then` or `else` operations, as ONE log entry (txn.ts). */
  txn(req: TxnRequest, opts: WriteOptions = {}): Promise<TxnResult> {
    return runTxn(this.ctx, this.rooms.writePath, req, opts);
  }

  // ------------------------------------------------------------------ leases, locks, elections (leases/, lock.ts, election-recipe.ts)
  /** Grants a lease through the log (id = its revision); keys put with `{ lease: id }` go when it ends. */
  grantLease(opts: GrantLeaseOptions): Promise<Lease> { return this.rooms.leasing.grant(opts); }
  /** Renews lease `id` for its TTL on the leader; LEASE_NOT_FOUND once it ended. */
  keepAliveLease(id: number, opts: CallOptions = {}): Promise<KeepAliveResult> { return this.rooms.leasing.keepAlive(id, opts); }
  /** Revokes lease `id`, deleting its keys in the same entry; LEASE_NOT_FOUND if it was not alive. */
  revokeLease(id: number, opts: CallOptions = {}): Promise<{ revision: number; deleted: number }> { return this.rooms.leasing.revoke(id, opts); }
  /** The leases alive here, with their keys; `remainingMs` only on the leader (null elsewhere). */
  leases(): LeaseInfo[] { return this.rooms.leasing.list(); }
  /** Waits for the turn on lock `name` (etcd's recipe), then holds it until release() or loss. */
  lock(name: string, opts: LockOptions = {}): Promise<Lock> { return acquireLock(this, this.ctx.clock, name, opts); }
  /** The election `name`: campaign(value), observe(), resign(). */
  election(name: string): Election { return new Election(this, this.ctx.clock, name); }

  private write(cmd: KvCommand, opts: WriteOptions, needsOutcome = false): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    return this.rooms.writePath.write(cmd, opts.durability, Call.of(this.ctx, describeWrite(cmd), opts, this.ctx.opts.writeTimeoutMs), needsOutcome);
  }

  /** The leader's half of a write (also serves writes forwarded by followers). */
  proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean, timeoutMs?: number): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    return this.rooms.writePath.proposeLocal(data, durability, needsOutcome, timeoutMs === undefined ? undefined : Call.within(this.ctx, 'the forwarded write', timeoutMs));
  }

  // ------------------------------------------------------------------ reads (read-gate.ts)

  /** The value of `key` (undefined if absent) under the given consistency (default linearizable). */
  async get(key: string, opts: ReadOptions = {}): Promise<unknown> {
    this.ctx.checkAccepting();
    if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string');
    const call = Call.of(this.ctx, `the read of key ${keyName(key)}`, opts, this.ctx.opts.readTimeoutMs);
    await this.rooms.reads.readBarrier(validateConsistency(opts.consistency ?? 'linearizable'), call);
    return opts.withMeta === true ? this.ctx.storage.getWithMeta(key) : this.ctx.storage.get(key);
  }

  /** Key/value pairs in a key range, in key order, under the given consistency. */
  async *scan(range: ScanOptions = {}, opts: ReadOptions = {}): AsyncGenerator<[string, unknown], void, undefined> {
    this.ctx.checkAccepting();
    const call = Call.of(this.ctx, 'the scan', opts, this.ctx.opts.readTimeoutMs);
    await this.rooms.reads.readBarrier(validateConsistency(opts.consistency ?? 'linearizable'), call);
    call.checkNotStopped();
    yield* this.ctx.storage.scan(opts.withMeta === true ? { ...range, withMeta: true } : range);
  }

  /** Changes in a range, in revision order, from this member's applied state (watch/watch-hub.ts). */
  watch(range: WatchRange, opts: WatchOptions = {}): Watcher {
    return openWatch(this.ctx, this.rooms.reads, range, opts);
  }

  /** Waits until a read under `c` may be served here; resolves with the applied index it needed (ConclaveLevel). */
  readBarrier(c: Consistency, timeoutMs: number): Promise<number> {
    return this.rooms.reads.readBarrier(c, timeoutMs);
  }

  /** ConclaveLevel (level/): a consistent view of the applied state; with `at`, that view moved on to the applied index `at.index` (null if it cannot be). */
  localView(): KvView;
  localView(at: { base: KvView; index: number }): Promise<KvView | null>;
  localView(at?: { base: KvView; index: number }): KvView | Promise<KvView | null> {
    this.ctx.checkOpen();
    return at ? this.ctx.storage.viewAt(at.base, at.index) : this.ctx.storage.view();
  }

  /** ConclaveLevel: one clear entry (at most MAX_CLEAR_KEYS keys of the range). */
  async clearRange(cmd: KvClearCommand, opts: { durability?: Partial<Durability> } = {}): Promise<WriteResult & { count: number; lastKey: string | null }> {
    const { token, outcome: o } = await this.rooms.writePath.write(cmd, opts.durability, undefined, true);
    return { token, revision: token.index, count: o?.op === 'clear' ? o.count : 0, lastKey: o?.op === 'clear' ? o.lastKey : null };
  }

  // ------------------------------------------------------------------ membership, override, leadership (operator.ts, override.ts)

  /** One membership change through the leader, resolved once applied here; an electable add under an override needs `force`. */
  changeMembership(change: ConfChange, timeoutMsOrOpts?: number | OperatorOptions, opts: OperatorOptions = {}): Promise<GroupMetadata> {
    const o = { ...opts, ...callOptionsOf(timeoutMsOrOpts) };
    return startedCall(this.ctx, Call.of(this.ctx, 'the membership change', o, OPERATOR_TIMEOUT_MS), (ms) => this.rooms.operator.changeMembership(change, ms, o.force === true));
  }

  /** `conclave group add-member`: a new id enters as `type`; a secondary already at `address` is promoted when `type` is electable. */
  addMember(id: NodeId, address: string, type: MemberType, timeoutMsOrOpts?: number | OperatorOptions, opts: OperatorOptions = {}): Promise<{ group: GroupMetadata; change: ConfChange['op'] }> {
    const o = { ...opts, ...callOptionsOf(timeoutMsOrOpts) };
    return startedCall(this.ctx, Call.of(this.ctx, `adding member ${id}`, o, OPERATOR_TIMEOUT_MS), (ms) => this.rooms.operator.addMember(id, address, type, ms, o));
  }

  /** `conclave group remove-member`: the leader itself is refused unless `transfer` (to the most caught-up electable member). */
  removeMember(id: NodeId, opts: CallOptions & { transfer?: boolean } = {}): Promise<{ group: GroupMetadata; removed: NodeId; transferredTo: NodeId | null }> {
    return startedCall(this.ctx, Call.of(this.ctx, `removing member ${id}`, opts, OPERATOR_TIMEOUT_MS), (ms) => this.rooms.operator.removeMember(id, { ...opts, timeoutMs: ms }));
  }

  /** Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE (0 = off): local, persisted, never replicated; above E only with `force`. */
  setElectableGroupSizeOverride(n: number, opts: { force?: boolean } = {}): Promise<OverrideResult> {
    return this.rooms.override.set(n, opts);
  }

  /** `conclave override set|clear`; with `untilMajority`, the node clears it once a true majority is back. */
  setOverrideByAdmin(n: number, opts: { untilMajority?: boolean } = {}): Promise<OverrideResult & { overrideSource: OverrideSource; overrideUntilMajority: boolean }> {
    return this.rooms.override.setByAdmin(n, opts);
  }

  /** Where this node's override comes from, and whether it will clear itself (`--until-majority`). */
  overrideOrigin(): { overrideSource: OverrideSource; overrideUntilMajority: boolean } {
    return this.rooms.override.origin();
  }

  /** Hands leadership to `target` (leader only); resolves when `target` leads or the timeout passes. */
  transferLeadership(target: NodeId, timeoutMsOrOpts?: number | CallOptions): Promise<void> {
    const call = Call.of(this.ctx, `the leadership transfer to ${target}`, callOptionsOf(timeoutMsOrOpts), TRANSFER_TIMEOUT_MS);
    return startedCall(this.ctx, call, (ms) => this.rooms.operator.transferLeadership(target, ms));
  }

  /** JE's transferMaster: leadership goes to the most caught-up of `ids`; a transfer under way is superseded only with `force`. */
  transferLeaderTo(ids: readonly NodeId[], opts: OperatorOptions = {}): Promise<{ previous: NodeId; leader: NodeId; address: string | null; alreadyLeader: boolean }> {
    return startedCall(this.ctx, Call.of(this.ctx, 'the leadership transfer', opts, OPERATOR_TIMEOUT_MS), (ms) => this.rooms.operator.transferLeaderTo(ids, { ...opts, timeoutMs: ms }));
  }

  /** OpenIO's `election leave`: step out of the election (or leadership) and start over. */
  leaveElection(): void {
    this.rooms.operator.leaveElection();
  }

  /** OpenIO's `election ping`: start an election now if no leader is known; never waits for its result. */
  pingElection(): { action: 'campaign' | 'none'; reason: string } {
    return this.rooms.operator.pingElection();
  }

  /** Why a client request could not finish before its deadline, said the way an operator can act on. */
  deadlineError(what: 'write' | 'read', timeoutMs: number): Error {
    return this.rooms.operator.deadlineError(what, timeoutMs);
  }

  /** The operator's answer to RollbackProhibitedError or DivergedWithoutOverrideError: roll back whatever the size. */
  async acceptRollback(): Promise<{ lostWriteCount: number; fromIndex: number; toIndex: number; file: string }> {
    this.ctx.checkOpen();
    return this.rooms.rollback.accept();
  }

  // ------------------------------------------------------------------ status

  status(): NodeStatus {
    return roomsStatus(this.ctx, this.rooms);
  }

  get isLeader(): boolean {
    return this.ctx.raft.currentRole === 'leader';
  }

  /** The address the transport listens on (useful with port 0). */
  get address(): string {
    return this.ctx.transport.listenAddress ?? this.ctx.opts.listen;
  }

  /** Fault injection for tests and the nemesis (the transport's own hook). */
  get faults() {
    return this.ctx.transport.faults;
  }

  /** Whether the `test.faults` admin method acts (openNode's enableFaultInjection). */
  get faultInjectionEnabled(): boolean {
    return this.ctx.opts.enableFaultInjection;
  }

  addressOf(id: NodeId): string | null {
    return this.ctx.addressOf(id);
  }

  electableIds(): NodeId[] {
    return this.rooms.operator.electableIds();
  }
}

/** Opens a node: see OpenNodeOptions and the README's embedding example. */
export function openNode(options: OpenNodeOptions): Promise<ConclaveNode> {
  return ConclaveNode.open(options);
}
