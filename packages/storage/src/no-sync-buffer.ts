// The `noSync` write-behind buffer: whole batches queued in order, written to LevelDB
// later as one batch, plus an overlay of the KV writes they carry so that reads (get,
// CAS) see them before they reach LevelDB.
import type { BatchOp } from './raw-db.js';

export class NoSyncBuffer {
  private ops: BatchOp[] = [];
  private bytes = 0;
  /** KV key -> stored bytes, or null for a delete: the queued writes. */
  private overlay = new Map<string, Buffer | null>();
  /** The overlay of a flush under way, read until LevelDB has it. */
  private flushing: Map<string, Buffer | null> | null = null;
  /** Grows with every change of the readable overlay: views cache their sorted copy by it. */
  version = 0;

  get pendingBytes(): number {
    return this.bytes;
  }

  get empty(): boolean {
    return this.ops.length === 0;
  }

  add(ops: readonly BatchOp[], kvChanges: ReadonlyMap<string, Buffer | null> | null): void {
    for (const op of ops) {
      this.ops.push(op);
      this.bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    }
    if (kvChanges) for (const [k, v] of kvChanges) this.overlay.set(k, v);
    this.version++;
  }

  /** Takes the queued batches for a flush; their overlay stays readable until flushDone(). */
  take(): BatchOp[] {
    const ops = this.ops;
    this.ops = [];
    this.bytes = 0;
    this.flushing = this.overlay;
    this.overlay = new Map();
    this.version++;
    return ops;
  }

  flushDone(): void {
    this.flushing = null;
    this.version++;
  }

  /** The readable overlay, oldest layer first: what reads see over LevelDB. */
  layers(): (ReadonlyMap<string, Buffer | null> | null)[] {
    return [this.flushing, this.overlay];
  }

  /** The queued value of a KV key: bytes, null (queued delete), or undefined (not queued). */
  lookup(key: string): Buffer | null | undefined {
    const queued = this.overlay.get(key);
    if (queued !== undefined) return queued;
    return this.flushing?.get(key);
  }

  /** Drops everything queued (a simulated crash). */
  discard(): void {
    this.ops = [];
    this.bytes = 0;
    this.overlay.clear();
    this.version++;
  }
}
