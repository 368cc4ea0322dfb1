// A node's readiness and its close (issue 22, items 1 and 5). ready(): a leader is known and
// this member has applied up to the leader's commit index (a ReadIndex answered by the leader
// says what that index is). close(): every pending call is told at once what became of it,
// after an optional drain of the writes in flight.
import { InvalidArgumentError } from '@conclave/core';
import { AbortedError, NodeClosedError, NotReadyError } from './errors.js';
import type { Call } from './deadlines.js';
import type { LeaderRpc } from './leader-rpc.js';
import type { OverrideControl } from './override.js';
import type { ReadyLoop } from './ready-loop.js';
import type { NodeContext } from './node-context.js';
import { explainMissingLeader } from './quorum-reach.js';
import type { ReadGate } from './read-gate.js';
import type { Timer } from './seams.js';
import type { WritePath } from './write-path.js';

/** ready()'s deadline when the caller gives none. */
export const READY_TIMEOUT_MS = 10_000;

/** Resolves once a leader is known and this member caught up with its commit index; else NotReadyError. */
export async function waitReady(ctx: NodeContext, reads: ReadGate, call: Call): Promise<void> {
  // A group whose members are still starting has no leader yet: wait for one to the deadline
  // (unlike a read, which fails at once when none can be elected), then say why there is none.
  for (let i = 0; i < 1_000_000 && ctx.raft.leaderId === null; i++) {
    call.checkNotStopped();
    if (call.expired) throw new NotReadyError('leader', `node ${ctx.id} is not ready: no leader known within ${call.timeoutMs} ms (${explainMissingLeader(ctx)})`);
    await call.sleep(ctx.opts.tickMs);
  }
  const leader = ctx.leaderHint();
  try {
    await reads.readBarrier('linearizable', call);
  } catch (err) {
    if (err instanceof AbortedError || err instanceof NodeClosedError || err === ctx.failure) throw err;
    throw new NotReadyError('caughtUp', `node ${ctx.id} is not ready: it knows leader ${leader} but did not catch up with its commit index within ${call.timeoutMs} ms (${(err as Error).message})`, err);
  }
}

/** close({ drainMs }): validated; 0 (the default) closes at once. */
export function drainMsOf(opts: { drainMs?: number } | undefined): number {
  const d = opts?.drainMs;
  if (d === undefined) return 0;
  if (typeof d !== 'number' || !Number.isFinite(d) || d < 0) throw new InvalidArgumentError(`drainMs must be a non-negative number of milliseconds, got ${JSON.stringify(d) ?? String(d)}`);
  return d;
}

/** Waits up to `drainMs` for the writes in flight (new calls are refused meanwhile); stops early if the node closes. */
export async function drainWrites(ctx: NodeContext, writes: WritePath, drainMs: number): Promise<void> {
  if (drainMs <= 0 || writes.inFlight === 0) return;
  ctx.draining = true;
  let timer: Timer | undefined;
  let onClose: (() => void) | undefined;
  try {
    await Promise.race([
      writes.drained(),
      new Promise<void>((resolve) => {
        timer = ctx.clock.setTimeout(resolve, drainMs);
        onClose = resolve;
        ctx.closeSignal.addEventListener('abort', onClose, { once: true });
      }),
    ]);
  } finally {
    if (timer !== undefined) ctx.clock.clearTimeout(timer);
    if (onClose) ctx.closeSignal.removeEventListener('abort', onClose);
  }
}

/** The rooms a close stops. */
export interface ShutdownRooms {
  readonly writePath: WritePath;
  readonly reads: ReadGate;
  readonly loop: ReadyLoop;
  readonly override: OverrideControl;
  readonly rpc: LeaderRpc;
}

/** The node's close (after an optional drain) and its fail-stop. */
export class Shutdown {
  private closing: Promise<void> | null = null;
  private quiet: Promise<void> | null = null;

  constructor(
    private readonly ctx: NodeContext,
    private readonly rooms: ShutdownRooms,
    private readonly emitError: (err: Error) => void,
  ) {}

  /** See ConclaveNode.close. A second close() without drainMs during a drain closes at once. */
  close(opts: { drainMs?: number } | undefined): Promise<void> {
    const drainMs = drainMsOf(opts);
    if (this.closing) return this.ctx.draining && drainMs === 0 ? this.closeNow() : this.closing;
    this.closing = drainWrites(this.ctx, this.rooms.writePath, drainMs).then(() => this.closeNow());
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    if (this.ctx.closed) return this.quiet ?? undefined; // closed already, or failed (and closing quietly)
    this.ctx.closed = true;
    this.failAll(new NodeClosedError(this.ctx.id), `node ${this.ctx.id} closed`);
    this.ctx.stopCalls(); // calls still waiting (to send, to propose, to read) end now: NODE_CLOSED
    await this.rooms.loop.idle();
    await this.closeQuietly();
    this.ctx.opts.logger.info('node_stopped', `node ${this.ctx.id} stopped`);
  }

  /** Stops the ticks, the connections, the transport and the storage, once. */
  closeQuietly(): Promise<void> {
    this.quiet ??= this.releaseAll();
    return this.quiet;
  }

  private async releaseAll(): Promise<void> {
    const { ctx, rooms } = this;
    ctx.closed = true;
    ctx.stopCalls();
    rooms.loop.stopTicking();
    rooms.override.close();
    rooms.rpc.close();
    await ctx.transport?.close().catch(() => {});
    await ctx.storage?.close().catch(() => {});
  }

  /** Writes in flight may have happened whatever stopped them (`why`); reads have no effect and fail with `err`. */
  private failAll(err: Error, why: string): void {
    this.rooms.writePath.writes.failAll(why, err);
    this.rooms.reads.failAll(err);
  }

  /** A storage failure breaks the Ready contract: stop, as etcd does, rather than go on wrong. */
  fail(err: Error): void {
    const ctx = this.ctx;
    if (ctx.failure) return;
    ctx.failure = err;
    ctx.stopCalls();
    ctx.opts.logger.error('node_failed', `stopping node ${ctx.id}: ${err.message}`, { code: (err as { code?: string }).code });
    this.failAll(err, `node ${ctx.id} failed (${err.message})`);
    void this.closeQuietly();
    this.emitError(err);
  }
}
