// openNode(): the embedded replicated store. ConclaveNode is a facade over the rooms that
// do the work, each holding one thing: the Ready loop (ready-loop.ts), writes
// (write-path.ts, write-tracker.ts), reads (read-gate.ts), calls to the leader
// (leader-rpc.ts), rollback (rollback-keeper.ts), the override (override.ts), the operator's
// actions (operator.ts) and the status (status.ts). They share a NodeContext; the world
// (clock, disk, network) comes in through seams.ts.
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, type ConfChange, type GroupMetadata, type MemberType, type NodeId } from '@conclave/core';
import type { CommandOutcome, KvBatchOp, KvCommand, ScanOptions } from '@conclave/storage';
import { registerAdminHandlers } from './admin-handlers.js';
import { bootWithStorage, openNodeStorage } from './boot.js';
import { NodeClosedError } from './errors.js';
import type { NodeEvents } from './events.js';
import { LeaderRpc } from './leader-rpc.js';
import { NodeContext } from './node-context.js';
import { Operator } from './operator.js';
import { resolveOptions, validateConsistency, type CommitToken, type Consistency, type Durability, type OpenNodeOptions } from './options.js';
import { OverrideControl, type OverrideResult } from './override.js';
import { ReadGate } from './read-gate.js';
import { ReadyLoop } from './ready-loop.js';
import { RollbackKeeper } from './rollback-keeper.js';
import { PRODUCTION_SEAMS, type NodeSeams } from './seams.js';
import { nodeStatus, type NodeStatus, type OverrideSource } from './status.js';
import { WritePath, type CasResult, type WriteResult } from './write-path.js';

export type { NodeEvents } from './events.js';
export { reviveError } from './leader-rpc.js';
export type { NodeState, NodeStatus, OverrideSource, RollbackStatus } from './status.js';
export type { CasResult, WriteResult } from './write-path.js';

type WriteOptions = { durability?: Partial<Durability> };

export class ConclaveNode extends EventEmitter<NodeEvents> {
  readonly id: NodeId;
  readonly groupId: string;
  private readonly ctx: NodeContext;
  private readonly reads: ReadGate;
  private readonly writePath: WritePath;
  private readonly rpc: LeaderRpc;
  private readonly rollback: RollbackKeeper;
  private readonly loop: ReadyLoop;
  private readonly override: OverrideControl;
  private readonly operator: Operator;

  private constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.id = ctx.id;
    this.groupId = ctx.groupId;
    this.reads = new ReadGate(ctx);
    this.rpc = new LeaderRpc(ctx, {
      proposeLocal: (data, durability, needsOutcome) => this.writePath.proposeLocal(data, durability, needsOutcome),
      changeMembershipLocal: (change, timeoutMs, force) => this.operator.changeMembershipLocal(change, timeoutMs, force),
      status: () => this.status(),
    });
    this.writePath = new WritePath(ctx, this.reads, (method, params, timeoutMs) => this.rpc.callLeader(method, params, timeoutMs));
    this.rollback = new RollbackKeeper(ctx);
    this.loop = new ReadyLoop(ctx, this.writePath.writes, this.reads, this.rollback);
    this.override = new OverrideControl(ctx, (timeoutMs) => this.rpc.leaderStatus(timeoutMs));
    this.operator = new Operator(ctx, this.rpc, this.reads, this.override, () => this.status(), () => this.address);
    ctx.scheduleLoop = () => this.loop.schedule();
    ctx.failStop = (err) => this.fail(err);
    ctx.emitEvent = (event, ...args) => void (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
  }

  /**
   * Opens (bootstrapping, restarting or joining) a node. See OpenNodeOptions.
   * `seams`: @internal, for the simulation (see openNodeWith in internal.ts).
   */
  static async open(options: OpenNodeOptions, seams: NodeSeams = PRODUCTION_SEAMS): Promise<ConclaveNode> {
    const node = new ConclaveNode(new NodeContext(resolveOptions(options), seams));
    await openNodeStorage(node.ctx);
    node.loop.attachStorage();
    try {
      await bootWithStorage(node.ctx, { loop: node.loop, override: node.override, rpc: node.rpc, registerAdmin: () => registerAdminHandlers(node.ctx.transport, node, node.ctx.clock) });
    } catch (err) {
      await node.closeQuietly();
      throw err;
    }
    return node;
  }

  /** Stops the node: pending operations fail with NodeClosedError; data stays on disk. */
  async close(): Promise<void> {
    if (this.ctx.closed) return;
    this.ctx.closed = true;
    const err = new NodeClosedError(this.id);
    this.failAll(err, `node ${this.id} closed`);
    await this.loop.idle();
    await this.closeQuietly();
  }

  private async closeQuietly(): Promise<void> {
    this.ctx.closed = true;
    this.loop.stopTicking();
    this.override.close();
    this.rpc.close();
    await this.ctx.transport?.close().catch(() => {});
    await this.ctx.storage?.close().catch(() => {});
  }

  /** Writes in flight may have happened whatever stopped them (`why`); reads have no effect and fail with `err`. */
  private failAll(err: Error, why: string): void {
    this.writePath.writes.failAll(why, err);
    this.reads.failAll(err);
  }

  /** A storage failure breaks the Ready contract: stop, as etcd does, rather than go on wrong. */
  private fail(err: Error): void {
    if (this.ctx.failure) return;
    this.ctx.failure = err;
    this.ctx.opts.logger.error(`stopping node ${this.id}: ${err.message}`);
    this.failAll(err, `node ${this.id} failed (${err.message})`);
    void this.closeQuietly();
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // ------------------------------------------------------------------ writes (write-path.ts)

  /** Stores `value` (a Buffer or any msgpack value) under `key`. */
  async put(key: string, value: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
    const r = await this.writePath.write({ op: 'put', key, value }, opts.durability);
    return { token: r.token };
  }

  async delete(key: string, opts: WriteOptions = {}): Promise<WriteResult> {
    const r = await this.writePath.write({ op: 'del', key }, opts.durability);
    return { token: r.token };
  }

  /** Several puts and deletes, applied atomically. */
  async batch(ops: readonly KvBatchOp[], opts: WriteOptions = {}): Promise<WriteResult> {
    const r = await this.writePath.write({ op: 'batch', ops }, opts.durability);
    return { token: r.token };
  }

  /** Writes `next` (undefined deletes) if the key's value equals `expected` (undefined = absent). */
  async compareAndSet(key: string, expected: unknown, next: unknown, opts: WriteOptions = {}): Promise<CasResult> {
    const r = await this.writePath.write({ op: 'cas', key, expected, value: next } as KvCommand, opts.durability, true);
    const outcome = r.outcome;
    return { token: r.token, succeeded: outcome?.op === 'cas' ? outcome.succeeded : false, current: outcome?.op === 'cas' ? outcome.current : undefined };
  }

  /** The leader's half of a write (also serves writes forwarded by followers). */
  proposeLocal(data: Uint8Array, durability: Durability, needsOutcome: boolean): Promise<{ token: CommitToken; outcome: CommandOutcome | null }> {
    return this.writePath.proposeLocal(data, durability, needsOutcome);
  }

  // ------------------------------------------------------------------ reads (read-gate.ts)

  /** The value of `key` (undefined if absent) under the given consistency (default linearizable). */
  async get(key: string, opts: { consistency?: Consistency; timeoutMs?: number } = {}): Promise<unknown> {
    this.ctx.checkOpen();
    if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string');
    await this.readBarrier(validateConsistency(opts.consistency ?? 'linearizable'), opts.timeoutMs ?? this.ctx.opts.readTimeoutMs);
    return this.ctx.storage.get(key);
  }

  /** Key/value pairs in a key range, in key order, under the given consistency. */
  async *scan(range: ScanOptions = {}, opts: { consistency?: Consistency; timeoutMs?: number } = {}): AsyncGenerator<[string, unknown], void, undefined> {
    this.ctx.checkOpen();
    await this.readBarrier(validateConsistency(opts.consistency ?? 'linearizable'), opts.timeoutMs ?? this.ctx.opts.readTimeoutMs);
    yield* this.ctx.storage.scan(range);
  }

  /** Waits until a read under `c` may be served from this node's state machine. */
  readBarrier(c: Consistency, timeoutMs: number): Promise<void> {
    return this.reads.readBarrier(c, timeoutMs);
  }

  // ------------------------------------------------------------------ membership, override, leadership (operator.ts, override.ts)

  /**
   * Proposes one membership change through the leader; resolves once it is applied here.
   * Adding an electable member while this node or the leader runs with an override is
   * refused unless `force` (the override would fall below a true majority of the new E).
   */
  changeMembership(change: ConfChange, timeoutMs = 10_000, opts: { force?: boolean } = {}): Promise<GroupMetadata> {
    return this.operator.changeMembership(change, timeoutMs, opts.force === true);
  }

  changeMembershipLocal(change: ConfChange, timeoutMs: number, force = false): Promise<GroupMetadata> {
    return this.operator.changeMembershipLocal(change, timeoutMs, force);
  }

  /** `conclave group add-member`: a new id enters as `type`; a secondary already at `address` is promoted when `type` is electable. */
  addMember(id: NodeId, address: string, type: MemberType, timeoutMs = 10_000, opts: { force?: boolean } = {}): Promise<{ group: GroupMetadata; change: ConfChange['op'] }> {
    return this.operator.addMember(id, address, type, timeoutMs, opts);
  }

  /** `conclave group remove-member`: the leader itself is refused unless `transfer` (to the most caught-up electable member). */
  removeMember(id: NodeId, opts: { transfer?: boolean; timeoutMs?: number } = {}): Promise<{ group: GroupMetadata; removed: NodeId; transferredTo: NodeId | null }> {
    return this.operator.removeMember(id, opts);
  }

  /**
   * Sets this node's ELECTABLE_GROUP_SIZE_OVERRIDE (0 = off). Local, persisted in this node's
   * settings, never replicated. Larger than the electable group size only with `force`.
   */
  setElectableGroupSizeOverride(n: number, opts: { force?: boolean } = {}): Promise<OverrideResult> {
    return this.override.set(n, opts);
  }

  /** `conclave override set|clear`; with `untilMajority`, the node clears it once a true majority is back. */
  setOverrideByAdmin(n: number, opts: { untilMajority?: boolean } = {}): Promise<OverrideResult & { overrideSource: OverrideSource; overrideUntilMajority: boolean }> {
    return this.override.setByAdmin(n, opts);
  }

  /** Where this node's override comes from, and whether it will clear itself (`--until-majority`). */
  overrideOrigin(): { overrideSource: OverrideSource; overrideUntilMajority: boolean } {
    return this.override.origin();
  }

  /** Hands leadership to `target` (leader only); resolves when `target` leads or the timeout passes. */
  transferLeadership(target: NodeId, timeoutMs = 5000): Promise<void> {
    return this.operator.transferLeadership(target, timeoutMs);
  }

  /** JE's transferMaster: leadership goes to the most caught-up of `ids`; a transfer under way is superseded only with `force`. */
  transferLeaderTo(ids: readonly NodeId[], opts: { force?: boolean; timeoutMs?: number } = {}): Promise<{ previous: NodeId; leader: NodeId; address: string | null; alreadyLeader: boolean }> {
    return this.operator.transferLeaderTo(ids, opts);
  }

  /** OpenIO's `election leave`: step out of the election (or leadership) and start over. */
  leaveElection(): void {
    this.operator.leaveElection();
  }

  /** OpenIO's `election ping`: start an election now if no leader is known; never waits for its result. */
  pingElection(): { action: 'campaign' | 'none'; reason: string } {
    return this.operator.pingElection();
  }

  /** Why a client request could not finish before its deadline, said the way an operator can act on. */
  deadlineError(what: 'write' | 'read', timeoutMs: number): Error {
    return this.operator.deadlineError(what, timeoutMs);
  }

  /** The operator's answer to RollbackProhibitedError or DivergedWithoutOverrideError: roll back whatever the size. */
  async acceptRollback(): Promise<{ lostWriteCount: number; fromIndex: number; toIndex: number; file: string }> {
    this.ctx.checkOpen();
    return this.rollback.accept();
  }

  // ------------------------------------------------------------------ status

  status(): NodeStatus {
    const ctx = this.ctx;
    return nodeStatus({
      id: this.id,
      groupId: this.groupId,
      address: ctx.transport?.listenAddress ?? ctx.opts.listen,
      raft: ctx.raft.status(),
      appliedIndex: ctx.storage.applied,
      addressOf: (id) => ctx.addressOf(id),
      overrideOrigin: this.override.origin(),
      rollback: this.rollback.status(),
      wallNowMs: ctx.clock.wallNowMs(),
    });
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
    return this.operator.electableIds();
  }
}

/** Opens a node: see OpenNodeOptions and the README's embedding example. */
export function openNode(options: OpenNodeOptions): Promise<ConclaveNode> {
  return ConclaveNode.open(options);
}
