// Snapshot streams, which move outside the Message channel because a snapshot can be far
// larger than a frame. On the sender's outgoing link:
//
//   sender -> receiver  snapBegin { id, meta }
//   receiver -> sender  snapAck   { id, consumed: 0, window }     (accepted; credit granted)
//   sender -> receiver  chunk frames (FrameKind.SnapshotChunk), at most `window` bytes
//                       beyond what the receiver's consumer has taken
//   receiver -> sender  snapAck   { id, consumed }                (each time the consumer takes a chunk)
//   sender -> receiver  snapEnd   { id, bytes }
//   receiver -> sender  snapDone  { id, ok, error? }              (after the receiving handler settles)
//   sender -> receiver  snapAbort { id, reason }                  (the sender's source failed)
//
// Credit is counted from what the receiving driver has *consumed*, not what arrived, so a
// slow stager slows the sender instead of filling memory: at most `window` bytes of one
// stream are buffered on either side.
import { SnapshotStreamError } from './errors.js';

type Waiter = { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void };

/** The receiving side's view of a stream: the AsyncIterable handed to the onSnapshot handler. */
export class ChunkStream implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private waiter: Waiter | null = null;
  private iterated = false;
  /** Received, not yet taken by the consumer. */
  bufferedBytes = 0;
  receivedBytes = 0;
  consumedBytes = 0;
  ended = false;
  error: SnapshotStreamError | null = null;
  cancelled = false;

  constructor(
    /** Called with the running total each time the consumer takes a chunk. */
    private readonly onConsumed: (consumedBytes: number) => void,
    private readonly onCancel: () => void,
  ) {}

  push(chunk: Uint8Array): void {
    if (this.ended || this.error || this.cancelled) return;
    this.receivedBytes += chunk.length;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.consumedBytes += chunk.length;
      w.resolve({ value: chunk, done: false });
      this.onConsumed(this.consumedBytes);
      return;
    }
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  end(): void {
    if (this.ended || this.error) return;
    this.ended = true;
    if (this.waiter && this.chunks.length === 0) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  fail(error: SnapshotStreamError): void {
    if (this.error || this.cancelled || (this.ended && this.chunks.length === 0)) return;
    this.error = error;
    this.chunks.length = 0;
    this.bufferedBytes = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(error);
    }
  }

  /** All bytes arrived and were taken by the consumer. */
  get complete(): boolean {
    return this.ended && this.chunks.length === 0 && !this.error && !this.cancelled;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error('a snapshot chunk stream can be iterated only once');
    this.iterated = true;
    return {
      next: () => {
        if (this.error) return Promise.reject(this.error);
        const chunk = this.chunks.shift();
        if (chunk) {
          this.bufferedBytes -= chunk.length;
          this.consumedBytes += chunk.length;
          this.onConsumed(this.consumedBytes);
          return Promise.resolve({ value: chunk, done: false });
        }
        if (this.ended || this.cancelled) return Promise.resolve({ value: undefined, done: true });
        return new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        if (!this.complete && !this.error && !this.cancelled) {
          this.cancelled = true;
          this.chunks.length = 0;
          this.bufferedBytes = 0;
          this.onCancel();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** The sending side's state for one stream. */
export class OutgoingSnapshot {
  sentBytes = 0;
  consumedBytes = 0;
  /** Granted by the receiver's first ack; null until the stream is accepted. */
  windowBytes: number | null = null;
  failure: SnapshotStreamError | null = null;
  finished = false;
  /** The receiver sent snapDone: it knows the outcome, no abort needed. */
  receiverDone = false;
  private waiter: (() => void) | null = null;
  private stallTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly peer: string,
    private readonly stallTimeoutMs: number,
  ) {}

  /** Receiver progress (snapAck). */
  ack(consumedBytes: number, windowBytes: number | undefined): void {
    if (windowBytes !== undefined && this.windowBytes === null) this.windowBytes = windowBytes;
    if (consumedBytes > this.consumedBytes) this.consumedBytes = consumedBytes;
    this.wake();
  }

  /** The receiver reported the outcome (snapDone). */
  done(ok: boolean, error: string): void {
    this.receiverDone = true;
    if (ok) this.finished = true;
    else this.fail(new SnapshotStreamError(this.peer, `the receiver ${this.peer} failed the snapshot: ${error}`));
    this.wake();
  }

  fail(error: SnapshotStreamError): void {
    if (!this.failure && !this.finished) this.failure = error;
    this.wake();
  }

  /** Waits until `cond` holds, the stream fails, or nothing moves for stallTimeoutMs. */
  async until(cond: () => boolean, what: string): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (cond()) return;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        this.stallTimer = setTimeout(() => {
          this.fail(new SnapshotStreamError(this.peer, `snapshot stream to ${this.peer} stalled for ${this.stallTimeoutMs} ms waiting for ${what}`));
        }, this.stallTimeoutMs);
      });
    }
  }

  /** Something moved (credit, a socket write completed): re-check what until() waits for. */
  wake(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}
