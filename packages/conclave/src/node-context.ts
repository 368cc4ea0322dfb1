// What the rooms of the driver share: the core, the storage, the transport, the seams, and
// the few actions every room needs: run the Ready loop, fail-stop, emit an event.
import { setMaxListeners } from 'node:events';
import { ConclaveError, InvariantError, type GroupMetadata, type NodeId, type RaftNode } from '@conclave/core';
import type { NodeStorage } from '@conclave/storage';
import { NodeClosedError } from './errors.js';
import type { NodeEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { NodeStatus } from './status.js';
import { sleepOn, type Clock, type NodeSeams, type PeerTransport } from './seams.js';
import { stampOf, type Stamp } from './write-trace.js';

/** The write path's metric hooks (metrics.ts); null with `metrics: false`. */
export interface WritePathMetrics {
  proposal<T>(write: () => Promise<T>): Promise<T>;
  storageWrite<T>(write: Promise<T>): Promise<T>;
  snapshotInstalled(): void;
}

/** Shared state of one node. raft, storage and transport are set while it starts, before any room uses them. */
export class NodeContext {
  readonly id: NodeId;
  readonly groupId: string;
  readonly clock: Clock;
  raft!: RaftNode;
  storage!: NodeStorage;
  transport!: PeerTransport;
  closed = false;
  /** close({ drainMs }) is waiting for writes in flight: new calls are refused (NODE_CLOSED). */
  draining = false;
  failure: Error | null = null;
  metrics: WritePathMetrics | null = null;
  /** Write tracing (write-trace.ts): null unless the seams carry a tracer. */
  readonly stamp: Stamp;
  /** Fires when the node closes or fails: every call waiting races it (deadlines.ts). */
  private readonly closing = new AbortController();
  readonly closeSignal: AbortSignal = this.closing.signal;
  /** What each waiting call does when the node stops (deadlines.ts): a Set costs far less per wait than a listener on closeSignal. */
  private readonly stopWaiters = new Set<() => void>();
  /** When this node started, on the monotonic clock (read fail-fast waits for connections after it). */
  readonly startedAtMs: number;
  /** Set by the facade: the Ready loop's schedule, the fail-stop, the event emitter. */
  scheduleLoop: () => void = () => {};
  failStop: (err: Error) => void = () => {};
  emitEvent: <K extends keyof NodeEvents>(event: K, ...args: NodeEvents[K]) => void = () => {};
  /** The node's status (the facade's status()), for the errors that explain a missing leader; null in a room on its own. */
  status: (() => NodeStatus) | null = null;

  constructor(
    readonly opts: ResolvedOptions,
    readonly seams: NodeSeams,
  ) {
    this.id = opts.id;
    this.groupId = opts.groupId;
    this.clock = seams.clock;
    this.stamp = stampOf(seams.tracer, seams.clock.nowUs?.bind(seams.clock));
    this.startedAtMs = seams.clock.nowMs();
    // Every waiting call listens (bounded by the pending-write and pending-read limits).
    setMaxListeners(0, this.closeSignal);
  }

  /** The node closes or fails: wake every call that waits (each then says what it did). */
  stopCalls(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    const waiters = [...this.stopWaiters];
    this.stopWaiters.clear();
    for (const w of waiters) w();
  }

  /** Runs `onStop` when the node closes or fails (never if it already has: check first); returns its removal. */
  onStop(onStop: () => void): () => void {
    this.stopWaiters.add(onStop);
    return () => this.stopWaiters.delete(onStop);
  }

  /** Runs the Ready loop after this turn (everything that arrives meanwhile joins one Ready). */
  schedule(): void {
    this.scheduleLoop();
  }

  /** Storage or the core broke its contract: stop, rather than go on wrong. */
  fail(err: Error): void {
    this.failStop(err);
  }

  /**
   * Calls the core on behalf of a caller. A typed refusal (not leader, too large, ...) is an
   * answer, thrown before the core changed anything; any other exception (a failed assertion)
   * leaves the core's state untrustworthy, so the node stops, as the Ready loop does.
   */
  core<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (!isRefusal(err)) this.fail(asError(err));
      throw err;
    }
  }

  emit<K extends keyof NodeEvents>(event: K, ...args: NodeEvents[K]): void {
    this.emitEvent(event, ...args);
  }

  /** A new call: refused while closing (draining) as well as once closed. */
  checkAccepting(): void {
    this.checkOpen();
    if (this.draining) throw new NodeClosedError(this.id, `node ${this.id} is closing: new calls are refused`);
  }

  /** Throws the failure that stopped the node, or NodeClosedError once it is closed. */
  checkOpen(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new NodeClosedError(this.id);
  }

  sleep(ms: number): Promise<void> {
    return sleepOn(this.clock, ms);
  }

  addressOf(id: NodeId): string | null {
    return this.raft.groupMetadata.members.find((m) => m.id === id)?.address ?? null;
  }

  /** "id@address" of the leader this node knows, for NotLeaderError. */
  leaderHint(): string | null {
    const l = this.raft.leaderId;
    return l ? `${l}@${this.addressOf(l) ?? '?'}` : null;
  }
}

/** The transport's peer set: every member not removed. */
export function addressesOf(group: GroupMetadata): Record<NodeId, string> {
  const out: Record<NodeId, string> = {};
  for (const m of group.members) if (!m.removed) out[m.id] = m.address;
  return out;
}

/** A typed answer from the core that left its state unchanged, as opposed to a failed assertion. */
export function isRefusal(err: unknown): boolean {
  return err instanceof ConclaveError && !(err instanceof InvariantError);
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
