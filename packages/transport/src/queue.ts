// A peer's outgoing queue: encoded messages copied into frame buffers as they are sent, so
// a flush only slices off whole frames. Bounded in messages and in bytes; the caller drops
// what does not fit. Copying at enqueue also means a queued message holds only its own
// bytes, never a slab of the encoder's buffer.
import { assert } from '@conclave/core';
import { FrameKind } from './constants.js';

interface Frame {
  buf: Buffer;
  usedBytes: number;
  messages: number;
}

/** Under Buffer.poolSize / 2, so a lone small message's frame comes from Node's buffer pool. */
const MIN_FRAME_BYTES = 2048;

export interface QueuedFrame {
  readonly data: Buffer;
  readonly messages: number;
}

export class OutboundQueue {
  private readonly frames: Frame[] = [];
  private nextFrameBytes = MIN_FRAME_BYTES;
  /** Encoded message bytes in the queue (frame headers and spare capacity not counted). */
  queuedBytes = 0;
  queuedMessages = 0;

  constructor(
    readonly maxQueueBytes: number,
    readonly maxQueueMessages: number,
    /** Frames are sealed once they reach about this size. */
    private readonly frameTargetBytes: number,
  ) {}

  /** True if a message of `sizeBytes` fits within both bounds, counting `reservedBytes/Messages` held elsewhere (delayed by the fault hook). */
  fits(sizeBytes: number, reservedBytes = 0, reservedMessages = 0): boolean {
    return this.queuedMessages + reservedMessages + 1 <= this.maxQueueMessages && this.queuedBytes + reservedBytes + sizeBytes <= this.maxQueueBytes;
  }

  /** Copies `encoded` into the open frame or a new one. The caller checked fits(). */
  push(encoded: Uint8Array): void {
    const len = encoded.length;
    let last = this.frames[this.frames.length - 1];
    if (!last || last.usedBytes + len > last.buf.length) {
      if (last && last.usedBytes >= last.buf.length / 2) this.nextFrameBytes = Math.min(this.frameTargetBytes, this.nextFrameBytes * 2);
      last = { buf: Buffer.allocUnsafe(Math.max(1 + len, this.nextFrameBytes)), usedBytes: 1, messages: 0 };
      last.buf[0] = FrameKind.Messages;
      this.frames.push(last);
    }
    last.buf.set(encoded, last.usedBytes);
    last.usedBytes += len;
    last.messages++;
    this.queuedBytes += len;
    this.queuedMessages++;
    assert(this.queuedBytes <= this.maxQueueBytes && this.queuedMessages <= this.maxQueueMessages, 'outgoing queue over its bound');
  }

  get empty(): boolean {
    return this.frames.length === 0;
  }

  /** Removes the oldest frame (sealing it if it is the open one). */
  shift(): QueuedFrame | undefined {
    const f = this.frames.shift();
    if (!f) return undefined;
    this.queuedBytes -= f.usedBytes - 1;
    this.queuedMessages -= f.messages;
    // A small frame means little traffic: start the next one small again.
    if (this.frames.length === 0 && f.usedBytes < f.buf.length / 4) this.nextFrameBytes = MIN_FRAME_BYTES;
    return { data: f.buf.subarray(0, f.usedBytes), messages: f.messages };
  }

  /** Empties the queue; returns the number of messages discarded. */
  clear(): number {
    const n = this.queuedMessages;
    this.frames.length = 0;
    this.queuedBytes = 0;
    this.queuedMessages = 0;
    this.nextFrameBytes = MIN_FRAME_BYTES;
    return n;
  }
}
