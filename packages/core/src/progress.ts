// The leader's view of each follower: how far it matches, what is in flight, and whether
// to probe, stream or send a snapshot. Modelled on etcd-io/raft's tracker package.
import { assert } from './errors.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded ring of the last index of each append in flight (the pipelining window). */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  count = 0;

  constructor(readonly capacity: number) {
    assert(capacity > 0, 'inflight capacity must be positive');
    this.buffer = new Array<number>(capacity).fill(0);
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights overflow');
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Frees every append whose last index is <= `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirst(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: one append is out, wait for its answer or the next heartbeat. */
  probeSent = false;
  /** Leader tick of the last message heard from this member, or -Infinity. */
  lastHeardTick = -Infinity;
  /**
   * Driver time (ms) at which the newest heartbeat this member answered was sent: the read
   * lease counts from there (an answer proves the member was ours no earlier than that).
   */
  leaseAckSentAtMs = -Infinity;
  /**
   * The member refused to give up committed entries that differ from ours (override
   * divergence): send it no snapshot until it asks for one (it accepted the rollback).
   */
  diverged = false;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(): void {
    this.state = 'snapshot';
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An append of entries up to `lastIndex` went out. */
  sentEntries(lastIndex: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex);
    } else {
      this.probeSent = true;
    }
  }

  /** A successful append response for `index`; returns whether the match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejected append for `rejected` with the follower's hint: move `next` back.
   * Returns false if the rejection is stale (from an earlier, already resolved probe).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }
}
