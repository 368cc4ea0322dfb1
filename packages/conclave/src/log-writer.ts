// The Ready loop's log writes, off its critical path (etcd raft's AsyncStorageWrites): each
// Ready's entries and hard state go to storage without the loop waiting for them, so the
// next Ready (new proposals, appends to followers, acks received meanwhile) is handled while
// the fsync runs. One write is in flight at a time: NodeStorage runs its batches one after
// another anyway, and LevelDB makes a synced batch durable together with every batch before
// it, so completions come back in the order the Readies were taken. The Readies that queue
// behind the write in flight go to disk as ONE batch (group commit). A Ready's messages that
// must wait for its write (acks, votes) are released, and the core told (persisted()), only
// once that write is durable; a Ready with nothing to write waits for the writes before it.
import type { Entry, HardState, Ready } from '@conclave/core';
import { entrySizeBytes } from '@conclave/core';
import type { ReadyWrite } from '@conclave/storage';

/** Bytes of entries queued behind the write in flight before the Ready loop waits for room (backpressure). */
export const MAX_QUEUED_WRITE_BYTES = 64 * 1024 * 1024;

export class LogWriter {
  private queue: Ready[] = [];
  private queuedBytesValue = 0;
  private inFlight = false;
  private failed = false;
  /** Woken after each completion (drained(), roomFor()). */
  private waiters: (() => void)[] = [];

  constructor(
    /** Writes one merged batch; resolves once it is durable. */
    private readonly write: (w: ReadyWrite) => Promise<void>,
    /** The Readies of a completed write, in the order they were submitted. */
    private readonly onDurable: (rds: readonly Ready[]) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Nothing queued or in flight. */
  get idle(): boolean {
    return !this.inFlight && this.queue.length === 0;
  }

  get queuedBytes(): number {
    return this.queuedBytesValue;
  }

  /** Queues `rd`'s write (which may be empty: its after-persist messages wait for the writes before it). */
  submit(rd: Ready): void {
    if (this.failed) return;
    this.queue.push(rd);
    for (const e of rd.entries) this.queuedBytesValue += entrySizeBytes(e);
    if (!this.inFlight) this.issue();
  }

  /** Resolves once nothing is queued or in flight (or a write failed). */
  async drained(): Promise<void> {
    while ((this.inFlight || this.queue.length > 0) && !this.failed) await this.nextCompletion();
  }

  /** Resolves once the queue is under MAX_QUEUED_WRITE_BYTES. */
  async roomFor(): Promise<void> {
    while (this.queuedBytesValue > MAX_QUEUED_WRITE_BYTES && !this.failed) await this.nextCompletion();
  }

  private nextCompletion(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private issue(): void {
    const batch = this.queue;
    this.queue = [];
    this.queuedBytesValue = 0;
    this.inFlight = true;
    let w: ReadyWrite | null;
    try {
      w = mergeWrites(batch);
    } catch (err) {
      this.fail(err);
      return;
    }
    (w ? this.write(w) : Promise.resolve()).then(
      () => {
        this.inFlight = false;
        if (this.failed) return;
        this.onDurable(batch);
        if (this.queue.length > 0) this.issue();
        this.wake();
      },
      (err: unknown) => this.fail(err),
    );
  }

  private fail(err: unknown): void {
    this.inFlight = false;
    this.failed = true;
    this.queue = [];
    this.onError(err);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * The writes of several Readies as one batch: their entries in order (a later Ready's
 * entries replace the tail from their first index, as storage would), the last hard state.
 * Null when there is nothing to write.
 */
export function mergeWrites(rds: readonly Ready[]): ReadyWrite | null {
  let entries: readonly Entry[] = [];
  let hardState: HardState | null = null;
  for (const rd of rds) {
    if (rd.snapshot) throw new Error('a Ready with a snapshot is installed on its own, never merged');
    if (rd.entries.length > 0) {
      if (entries.length === 0) entries = rd.entries;
      else {
        const first = rd.entries[0]!.index;
        const base = entries[0]!.index;
        if (first > entries[entries.length - 1]!.index + 1) throw new Error(`merged log writes are not contiguous: ${first} after ${entries[entries.length - 1]!.index}`);
        entries = first <= base ? rd.entries : [...entries.slice(0, first - base), ...rd.entries];
      }
    }
    if (rd.hardState) hardState = rd.hardState;
  }
  if (entries.length === 0 && hardState === null) return null;
  return { entries, hardState };
}
