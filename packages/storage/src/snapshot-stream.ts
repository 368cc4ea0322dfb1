// Streams the KV key space from a LevelDB iterator (which reads from the implicit snapshot
// taken when it was created) as chunks of at most `chunkMaxBytes` (<= 1 MiB).
import type { SnapshotMeta } from '@conclave/core';
import { READ_BATCH_ENTRIES } from './defaults.js';
import { KV_PREFIX_BYTES, userKeyOf } from './keys.js';
import { isLeaseRecordKey } from './leases.js';
import type { RawIterator } from './raw-db.js';
import { CHUNK_HEADER_MAX_BYTES, encodeChunk, PAIR_OVERHEAD_MAX_BYTES } from './snapshot-chunk.js';

export class SnapshotStream implements AsyncIterable<Uint8Array> {
  readonly meta: SnapshotMeta;
  private readonly it: RawIterator;
  private readonly chunkMaxBytes: number;
  private started = false;
  private closed = false;

  constructor(meta: SnapshotMeta, it: RawIterator, chunkMaxBytes: number) {
    this.meta = meta;
    this.it = it;
    this.chunkMaxBytes = chunkMaxBytes;
  }

  /** Releases the iterator (and its LevelDB snapshot). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.it.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.started || this.closed) throw new Error('a SnapshotStream can be iterated only once');
    this.started = true;
    try {
      let seq = 0;
      let pairs: (string | Uint8Array)[] = [];
      let bytes = CHUNK_HEADER_MAX_BYTES;
      // Bounded by the number of keys in the snapshot: each step consumes at least one or ends.
      for (;;) {
        const batch = await this.it.nextv(READ_BATCH_ENTRIES);
        if (batch.length === 0) break;
        for (const [k, v] of batch) {
          const size = PAIR_OVERHEAD_MAX_BYTES + (k.length - 1) + v.length;
          // A pair larger than a (test-sized) chunk bound goes alone; it always fits 1 MiB.
          if (pairs.length > 0 && bytes + size > this.chunkMaxBytes) {
            yield encodeChunk(seq++, false, pairs);
            pairs = [];
            bytes = CHUNK_HEADER_MAX_BYTES;
          }
          // Lease records (leases.ts) are not UTF-8: they travel as their bytes after the KV prefix.
          pairs.push(isLeaseRecordKey(k) ? k.subarray(KV_PREFIX_BYTES) : userKeyOf(k), v);
          bytes += size;
        }
      }
      yield encodeChunk(seq, true, pairs);
    } finally {
      await this.close();
    }
  }
}
