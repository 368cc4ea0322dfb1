// What the rooms of the driver share: the core, the storage, the transport, the seams, and
// the few actions every room needs: run the Ready loop, fail-stop, emit an event.
import type { GroupMetadata, NodeId, RaftNode } from '@conclave/core';
import type { NodeStorage } from '@conclave/storage';
import { NodeClosedError } from './errors.js';
import type { NodeEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import { sleepOn, type Clock, type NodeSeams, type PeerTransport } from './seams.js';

/** Shared state of one node. raft, storage and transport are set while it starts, before any room uses them. */
export class NodeContext {
  readonly id: NodeId;
  readonly groupId: string;
  readonly clock: Clock;
  raft!: RaftNode;
  storage!: NodeStorage;
  transport!: PeerTransport;
  closed = false;
  failure: Error | null = null;
  /** Set by the facade: the Ready loop's schedule, the fail-stop, the event emitter. */
  scheduleLoop: () => void = () => {};
  failStop: (err: Error) => void = () => {};
  emitEvent: <K extends keyof NodeEvents>(event: K, ...args: NodeEvents[K]) => void = () => {};

  constructor(
    readonly opts: ResolvedOptions,
    readonly seams: NodeSeams,
  ) {
    this.id = opts.id;
    this.groupId = opts.groupId;
    this.clock = seams.clock;
  }

  /** Runs the Ready loop after this turn (everything that arrives meanwhile joins one Ready). */
  schedule(): void {
    this.scheduleLoop();
  }

  /** Storage or the core broke its contract: stop, rather than go on wrong. */
  fail(err: Error): void {
    this.failStop(err);
  }

  emit<K extends keyof NodeEvents>(event: K, ...args: NodeEvents[K]): void {
    this.emitEvent(event, ...args);
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

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
