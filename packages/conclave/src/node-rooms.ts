// The rooms behind ConclaveNode (node.ts), built once per node and wired to each other here:
// who calls whom is decided in one place, and the facade only delegates to them.
import { LeaderRpc } from './leader-rpc.js';
import { Leasing } from './leases/lease.js';
import { Shutdown } from './lifecycle.js';
import type { NodeContext } from './node-context.js';
import { Operator } from './operator.js';
import { OverrideControl } from './override.js';
import { ReadGate } from './read-gate.js';
import { ReadyLoop } from './ready-loop.js';
import { RollbackKeeper } from './rollback-keeper.js';
import { nodeStatus, type NodeStatus } from './status.js';
import { WritePath } from './write-path.js';

export interface NodeRooms {
  readonly reads: ReadGate;
  readonly writePath: WritePath;
  readonly rpc: LeaderRpc;
  readonly rollback: RollbackKeeper;
  readonly loop: ReadyLoop;
  readonly override: OverrideControl;
  readonly operator: Operator;
  readonly shutdown: Shutdown;
  readonly leasing: Leasing;
}

/** What the rooms need from the facade: its status, its address, and where a fail-stop error goes. */
export interface FacadeHooks {
  status(): NodeStatus;
  address(): string;
  onFailStop(err: Error): void;
}

/** Builds the rooms on `ctx` and points the context's callbacks (schedule, fail-stop, status) at them. */
export function buildRooms(ctx: NodeContext, hooks: FacadeHooks): NodeRooms {
  const reads = new ReadGate(ctx);
  // LeaderRpc serves what WritePath and Operator do locally, and they call the leader through
  // it: the closures resolve them once all exist.
  let writePath: WritePath | null = null;
  let operator: Operator | null = null;
  const rpc = new LeaderRpc(ctx, {
    proposeLocal: (data, durability, needsOutcome, call) => writePath!.proposeLocal(data, durability, needsOutcome, call),
    changeMembershipLocal: (change, timeoutMs, force) => operator!.changeMembershipLocal(change, timeoutMs, force),
    status: () => hooks.status(),
  });
  writePath = new WritePath(ctx, reads, (method, params, timeoutMs) => rpc.callLeader(method, params, timeoutMs));
  const leasing = new Leasing(ctx, writePath, reads, (method, params, call) => rpc.callLeader(method, params, call));
  const rollback = new RollbackKeeper(ctx);
  const loop = new ReadyLoop(ctx, writePath.writes, reads, rollback);
  loop.onTick.push(() => leasing.keeper.check());
  const override = new OverrideControl(ctx, (timeoutMs) => rpc.leaderStatus(timeoutMs));
  operator = new Operator(ctx, rpc, reads, override, () => hooks.status(), () => hooks.address());
  ctx.scheduleLoop = () => loop.schedule();
  const shutdown = new Shutdown(ctx, { writePath, reads, loop, override, rpc }, (err) => hooks.onFailStop(err));
  ctx.failStop = (err) => shutdown.fail(err);
  ctx.status = () => hooks.status();
  return { reads, writePath, rpc, rollback, loop, override, operator, shutdown, leasing };
}

/** The node's status as the admin API and `conclave election debug` show it. */
export function roomsStatus(ctx: NodeContext, rooms: NodeRooms): NodeStatus {
  return nodeStatus({
    id: ctx.id,
    groupId: ctx.groupId,
    address: ctx.transport?.listenAddress ?? ctx.opts.listen,
    raft: ctx.raft.status(),
    appliedIndex: ctx.storage.applied,
    addressOf: (id) => ctx.addressOf(id),
    overrideOrigin: rooms.override.origin(),
    rollback: rooms.rollback.status(),
    wallNowMs: ctx.clock.wallNowMs(),
  });
}
