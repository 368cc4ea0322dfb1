// ReadIndex (Raft thesis 6.4): a read is linearizable once the leader has confirmed, by a
// heartbeat round acknowledged by a quorum, that it was still leader at `index`.
import type { NodeId } from './types.js';

export interface PendingRead {
  readonly context: string;
  readonly index: number;
  /** Who asked: this node, or a follower to answer with readIndexResp. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  private queue: PendingRead[] = [];

  constructor(readonly maxPending: number) {}

  get length(): number {
    return this.queue.length;
  }

  full(): boolean {
    return this.queue.length >= this.maxPending;
  }

  add(read: PendingRead): void {
    this.queue.push(read);
  }

  newestContext(): string | null {
    return this.queue.length ? this.queue[this.queue.length - 1]!.context : null;
  }

  /** Records `from`'s ack of `context`; returns the acks of that read, or null if unknown. */
  ack(context: string, from: NodeId): Set<NodeId> | null {
    const read = this.queue.find((r) => r.context === context);
    if (!read) return null;
    read.acks.add(from);
    return read.acks;
  }

  /** Releases every read queued up to and including `context` (a later ack confirms earlier reads). */
  releaseThrough(context: string): PendingRead[] {
    const i = this.queue.findIndex((r) => r.context === context);
    if (i < 0) return [];
    return this.queue.splice(0, i + 1);
  }

  clear(): PendingRead[] {
    const all = this.queue;
    this.queue = [];
    return all;
  }
}
