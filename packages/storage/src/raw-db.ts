// The small slice of abstract-level that NodeStorage uses, so that `level` (LevelDB on
// disk) and `memory-level` plug in the same way. Keys and values are always Buffers.
import { Level } from 'level';
import { MemoryLevel } from 'memory-level';

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface RangeOptions {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse?: boolean;
  limit?: number;
  /** Read from this snapshot instead of the latest state. */
  snapshot?: RawSnapshot;
  /** false: keys only (the values are not read; use only the keys of each pair). */
  values?: boolean;
}

export interface RawIterator {
  nextv(size: number): Promise<[Buffer, Buffer][]>;
  /** Moves to the first key at or after `target` (at or before it in reverse), within the range. */
  seek(target: Buffer): void;
  close(): Promise<void>;
}

/** A LevelDB snapshot (abstract-level's explicit snapshot): taken synchronously, released by close(). */
export interface RawSnapshot {
  close(): Promise<void>;
}

export interface RawDb {
  readonly status: string;
  /** writeBufferSize: LevelDB only (memory-level ignores it). */
  open(options?: { createIfMissing?: boolean; errorIfExists?: boolean; writeBufferSize?: number }): Promise<void>;
  close(): Promise<void>;
  get(key: Buffer, options?: { snapshot?: RawSnapshot }): Promise<Buffer | undefined>;
  /** The values of `keys` in order (undefined: absent), in one call to the database. */
  getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]>;
  snapshot(): RawSnapshot;
  batch(ops: BatchOp[], options?: { sync?: boolean }): Promise<void>;
  iterator(options: RangeOptions): RawIterator;
  clear(options: RangeOptions): Promise<void>;
}

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

interface ChainedBatch {
  put(key: Buffer, value: Buffer): ChainedBatch;
  del(key: Buffer): ChainedBatch;
  write(options: { sync: boolean }): Promise<void>;
}

/** Batches up to this many ops go through the private array API, larger ones through a chained batch. */
const SMALL_BATCH_OPS = 32;

/**
 * Batch writes, tuned by measurement (bench/storage.ts):
 * - abstract-level's public array batch clones and re-validates every op (about 3.5 µs per
 *   op, most of the CPU of a 256-entry append), so large batches use the chained form,
 *   which hands each op to the native batch as it comes (256 entries: 1350 -> 400 µs);
 * - small batches (a one-entry Ready) go straight to the implementation's `_batch`, the
 *   documented abstract-level private API, saving a few µs of wrapper per durable write.
 *   NodeStorage only writes while the database is open, which is the check it skips.
 */
function withFastBatches(db: unknown): RawDb {
  const level = db as RawDb & {
    batch(): ChainedBatch;
    _batch?: (ops: BatchOp[], options: { sync: boolean }) => Promise<void>;
  };
  const publicBatch = level.batch;
  const privateBatch = level._batch;
  return Object.assign(level, {
    batch(this: typeof level, ops?: BatchOp[], options?: { sync?: boolean }): Promise<void> | ChainedBatch {
      if (ops === undefined) return publicBatch.call(this) as unknown as ChainedBatch;
      const sync = options?.sync === true;
      if (ops.length <= SMALL_BATCH_OPS && privateBatch !== undefined) return privateBatch.call(this, ops, { sync });
      const batch = publicBatch.call(this) as unknown as ChainedBatch;
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
      return batch.write({ sync });
    },
  }) as RawDb;
}

export function createLevelDb(path: string): RawDb {
  return withFastBatches(new Level<Buffer, Buffer>(path, BUFFERS));
}

/**
 * An in-memory database that outlives the NodeStorage instances opened on it, so that a
 * simulation can "restart" a node on the same data. Like LevelDB's LOCK, only one open
 * NodeStorage may hold it at a time.
 */
export class MemoryBackend {
  readonly db: RawDb = withFastBatches(new MemoryLevel<Buffer, Buffer>(BUFFERS));
  /** True while a NodeStorage holds it. */
  held = false;
}
