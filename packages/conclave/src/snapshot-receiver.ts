// A follower's side of snapshot installs. The data of a snapshot streams in outside the
// Raft messages and is staged in storage; the leader's `snap` message comes after it. Each
// stream stages under its own install key, so two leaders' streams (a deposed one's and a
// new one's) never mix, and the core sees a `snap` message only when exactly its snapshot
// is staged whole. Once the core took it (restored its log to it), the staged install is
// held for the Ready that writes it: no other stream replaces it, and nothing aborts it.
import { ConclaveError, type SnapshotMeta } from '@conclave/core';
import type { NodeStorage } from '@conclave/storage';

/** A stream was refused because a snapshot the core already took waits for its Ready. */
export class SnapshotBusyError extends ConclaveError {
  constructor(message: string) {
    super('SNAPSHOT_BUSY', message);
  }
}

export class SnapshotReceiver {
  /** The snapshot the core restored to, until the Ready carrying it is written. */
  private taken: SnapshotMeta | null = null;
  /** Streams whose beginInstall is queued: it will replace the staged install, so none may be taken meanwhile. */
  private beginning = 0;

  constructor(private readonly storage: NodeStorage) {}

  /**
   * Stages one stream. Rejects (the transport tells the sender, which retries later) when
   * another stream replaces this one before it ends, or while a taken snapshot waits.
   */
  async receive(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>, opts: { rollback: boolean }): Promise<void> {
    if (this.taken) throw new SnapshotBusyError(`the snapshot at index ${this.taken.index} (term ${this.taken.term}) is being installed; this one is refused for now`);
    let key: number;
    this.beginning++;
    try {
      key = await this.storage.beginInstall(meta, opts);
    } finally {
      this.beginning--;
    }
    for await (const chunk of chunks) await this.storage.installChunk(chunk, key);
  }

  /** Whether `meta` (a `snap` message's) is exactly the staged snapshot, complete, and none is taken. */
  isStaged(meta: SnapshotMeta | null): boolean {
    if (!meta || this.taken || this.beginning > 0) return false;
    const s = this.storage.stagedInstall;
    return s !== null && s.complete && s.meta.index === meta.index && s.meta.term === meta.term;
  }

  /**
   * After the core stepped a staged snapshot's message: `pending` is the core's pending
   * snapshot. Taken: hold the install for its Ready. Passed over (the core already had
   * those entries): the install can never be used, drop it.
   */
  async afterStep(meta: SnapshotMeta, pending: SnapshotMeta | null): Promise<void> {
    if (pending && pending.index === meta.index && pending.term === meta.term) {
      this.taken = pending;
      return;
    }
    const s = this.storage.stagedInstall;
    if (s && s.meta.index === meta.index && s.meta.term === meta.term) await this.storage.abortInstall(s.key);
  }

  /** The Ready carrying the taken snapshot was written: the install is done. */
  installed(): void {
    this.taken = null;
  }

  /** A staged snapshot nobody took that the commit index passed will never be installed: drop it. */
  async dropPassedOver(commitIndex: number): Promise<void> {
    if (this.taken) return;
    const s = this.storage.stagedInstall;
    if (s && s.complete && commitIndex >= s.meta.index) await this.storage.abortInstall(s.key);
  }
}
