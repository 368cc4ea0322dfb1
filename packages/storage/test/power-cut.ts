// A power-cut model for the storage tests: a MemoryBackend whose database keeps, besides
// its live contents, the "durable" contents: only batches written with sync: true.
// clear() never syncs (as in classic-level), so its deletions are never durable. This is
// harsher than LevelDB, where a synced write also makes the unsynced writes before it in
// the same log file durable; code that is correct here does not depend on that.
import { MemoryBackend } from '../src/raw-db.js';
import type { BatchOp, RangeOptions, RawDb, RawIterator } from '../src/raw-db.js';

export class PowerCutError extends Error {
  constructor() {
    super('power cut');
  }
}

export class PowerCutBackend extends MemoryBackend {
  /** hex key -> value: what survives a power cut. */
  private readonly durable = new Map<string, Buffer>();
  /** Write calls (batch or clear) made so far. */
  writes = 0;
  /** The write call at which the power goes (that call and every later one fail); Infinity = never. */
  cutAt = Number.POSITIVE_INFINITY;

  constructor() {
    super();
    const live = this.db;
    const self = this;
    const step = (): void => {
      if (self.writes >= self.cutAt) throw new PowerCutError();
      self.writes++;
    };
    const wrapped: RawDb = {
      get status() {
        return live.status;
      },
      open: (o) => live.open(o),
      close: () => live.close(),
      get: (k, o) => live.get(k, o),
      getMany: (k) => live.getMany(k),
      snapshot: () => live.snapshot(),
      iterator: (o: RangeOptions): RawIterator => live.iterator(o),
      async batch(ops: BatchOp[], options?: { sync?: boolean }): Promise<void> {
        step();
        await live.batch(ops, options);
        if (options?.sync !== true) return;
        for (const op of ops) {
          if (op.type === 'put') self.durable.set(op.key.toString('hex'), Buffer.from(op.value));
          else self.durable.delete(op.key.toString('hex'));
        }
      },
      async clear(o: RangeOptions): Promise<void> {
        step();
        await live.clear(o);
      },
    };
    Object.defineProperty(this, 'db', { value: wrapped });
  }

  /** A fresh backend holding only what was durable: the disk after the power came back. */
  async afterPowerCut(): Promise<PowerCutBackend> {
    const next = new PowerCutBackend();
    await next.db.open({ createIfMissing: true });
    const ops: BatchOp[] = [...this.durable].map(([k, v]) => ({ type: 'put', key: Buffer.from(k, 'hex'), value: v }));
    // Large puts go in pieces: the model does not care about batch sizes.
    for (let i = 0; i < ops.length; i += 1000) await next.db.batch(ops.slice(i, i + 1000), { sync: true });
    next.writes = 0;
    return next;
  }
}
