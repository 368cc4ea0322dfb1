// A simulated disk under an abstract-level database, with LevelDB's crash semantics:
// - batches go to the log in order; a batch written with `sync` is durable once it
//   completes, and so is every batch before it (one log file, one fdatasync);
// - batches written without `sync` may be lost at a crash, newest first: a seeded prefix
//   of them survives (the OS wrote back some of its dirty pages, in order);
// - a write in flight at the crash was handed to the OS: it may survive like the others;
// - every write takes a seeded latency, writes complete in order, and each completion is
//   a scheduler event;
// - injected failures, each sticky as LevelDB's background error is: a failing write
//   (nothing reaches the log), a failing sync (the record reached the log, unsynced: it may
//   come back after a crash though it was never acknowledged), and a full disk (ENOSPC).
// Reads see every write that completed. The side files of a data directory (written
// whole, fsynced, renamed) live beside it in `files`.
import { MemoryLevel } from 'memory-level';
import type { RawDb, StorageDisk } from '@conclave/storage';
import type { Scheduler } from './scheduler.js';

type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

interface LogRecord {
  readonly ops: readonly Op[];
  readonly sync: boolean;
}

export interface DiskProfile {
  /** Latency of one write, uniformly in [minWriteMs, maxWriteMs]; a sync adds syncMs. */
  minWriteMs: number;
  maxWriteMs: number;
  syncMs: number;
  /**
   * How often a batch issued while others are still outstanding lands in LevelDB's log before
   * one of them, and completes first. LevelDB orders concurrent writers only by who takes its
   * writer queue first (classic-level runs each batch on a libuv pool thread), so separate
   * outstanding batches have no order; what it does guarantee, and this disk keeps, is that a
   * completed sync makes durable every record before it in the log. 0 (the default) keeps
   * issue order. NodeStorage never has two batches outstanding (its queue runs them one by
   * one), which is what makes its log writes safe; this is here so that stays checked. The one
   * exception, its background clear of a replaced key space, is reordered like any batch.
   */
  reorderRate?: number;
}

export type DiskFault = 'write' | 'sync' | 'full';

export class DiskIoError extends Error {
  readonly code = 'LEVEL_IO_ERROR';
  constructor(
    readonly path: string,
    readonly fault: DiskFault,
  ) {
    super(
      fault === 'full'
        ? `IO error: ${path}/000003.log: No space left on device`
        : fault === 'sync'
          ? `IO error: ${path}/000003.log: fdatasync: Input/output error`
          : `IO error: ${path}/000003.log: Input/output error`,
    );
    this.name = 'DiskIoError';
  }
}

const keyOf = (b: Buffer): string => b.toString('latin1');

const NO_RECORDS: readonly LogRecord[] = [];

/** Files beside the database: each write replaces one whole, durably once it completes. */
export class SimFiles {
  private readonly durable = new Map<string, Buffer>();
  failNext: DiskFault | null = null;
  writes = 0;

  constructor(
    private readonly disk: SimDisk,
    private readonly sched: Scheduler,
  ) {}

  read(name: string): Buffer | null {
    const b = this.durable.get(name);
    return b ? Buffer.from(b) : null;
  }

  /** Write, fsync, rename, fsync the directory: all or nothing, at completion. */
  write(name: string, bytes: Uint8Array): Promise<void> {
    const fault = this.failNext ?? (this.disk.full ? 'full' : null);
    this.failNext = null;
    const copy = Buffer.from(bytes);
    const incarnation = this.disk.incarnation;
    return new Promise((resolve, reject) => {
      this.sched.after(this.disk.latencyMs(true), this.disk.owner, `disk ${this.disk.path} file ${name}${fault ? ` FAILS (${fault})` : ''}`, () => {
        if (incarnation !== this.disk.incarnation) return; // the process died first
        if (fault) return reject(new DiskIoError(`${this.disk.path}/${name}`, fault));
        this.durable.set(name, copy);
        this.writes++;
        resolve();
      });
    });
  }
}

export class SimDisk {
  readonly files: SimFiles;
  profile: DiskProfile;
  /** While true, every write fails with ENOSPC. */
  full = false;
  /** The next database write fails this way. */
  failNext: DiskFault | null = null;
  /** The scheduler owner of completions: the incarnation of the node using the disk. */
  owner: string | null = null;
  incarnation = 0;
  readonly stats = { batches: 0, syncs: 0, crashes: 0, unsyncedLost: 0, unsyncedKept: 0, failures: 0 };

  private readonly durable = new Map<string, [Buffer, Buffer]>();
  /** Records in the log after the last completed sync, oldest first. */
  private pending: LogRecord[] = [];
  private current: SimLevel | null = null;
  /** World time when the last queued write completes: writes complete in order (unless reordered). */
  private busyUntilMs = 0;
  /** Issued and not yet completed, in log order. */
  private outstanding: LogRecord[] = [];
  /** Which database issued each outstanding record. */
  private readonly issuer = new WeakMap<LogRecord, SimLevel>();
  /**
   * Batches issued while another of the same database was outstanding; of those, how many were
   * reordered, and how many overlapped a write other than a background clear (`ordered`: the
   * ones whose order matters).
   */
  readonly overlap = { concurrent: 0, reordered: 0, ordered: 0 };

  constructor(
    readonly path: string,
    private readonly sched: Scheduler,
    profile: Partial<DiskProfile> = {},
  ) {
    this.profile = { minWriteMs: 0.05, maxWriteMs: 1, syncMs: 1, ...profile };
    this.files = new SimFiles(this, sched);
  }

  /** A database (not opened yet) on what the disk holds, its completions owned by `owner`. */
  open(owner: string): SimLevel {
    this.owner = owner;
    return this.createDb();
  }

  /** A database not opened yet; its open fails with LEVEL_LOCKED while another one holds the disk. */
  createDb(): SimLevel {
    return new SimLevel(this, this.incarnation);
  }

  /** Called by a database as it opens: the LOCK file. */
  lock(db: SimLevel): void {
    if (this.current && this.current !== db && !this.current.released) {
      throw Object.assign(new Error(`IO error: lock ${this.path}/LOCK: already held by process`), { code: 'LEVEL_LOCKED' });
    }
    this.current = db;
  }

  /** The disk as NodeStorage takes it (the storage seam's StorageDisk). */
  storageDisk(): StorageDisk {
    return {
      checkBeforeOpen: async () => {},
      createDb: () => this.createDb() as unknown as RawDb,
      damageReported: async () => [],
      readSideFile: async (name) => this.files.read(name),
      replaceSideFile: (name, bytes) => this.files.write(name, bytes),
    };
  }

  /** What a new database starts from: the durable state and every record since. */
  contents(): Op[] {
    const ops: Op[] = [...this.durable.values()].map(([key, value]) => ({ type: 'put' as const, key, value }));
    for (const r of this.pending) ops.push(...r.ops);
    return ops;
  }

  /**
   * The machine loses power (or the process dies with its writes in the OS, unsynced):
   * a seeded prefix of the unsynced records survives. Completions in flight never come.
   */
  crash(): { kept: number; lost: number } {
    const n = this.pending.length;
    const kept = Math.floor(this.sched.random() * (n + 1));
    for (const r of this.pending.slice(0, kept)) this.applyDurable(r.ops);
    this.pending = [];
    this.outstanding = [];
    this.incarnation++;
    if (this.current) this.current.released = true;
    this.current = null;
    this.busyUntilMs = this.sched.nowMs;
    this.stats.crashes++;
    this.stats.unsyncedKept += kept;
    this.stats.unsyncedLost += n - kept;
    this.sched.note(this.owner, `disk ${this.path} crash: ${kept} of ${n} unsynced batches survive`);
    return { kept, lost: n - kept };
  }

  /** The value a key has after a crash that keeps nothing unsynced (for tests). */
  durableGet(key: Buffer): Buffer | undefined {
    return this.durable.get(keyOf(key))?.[1];
  }

  get unsyncedBatches(): number {
    return this.pending.length;
  }

  latencyMs(sync: boolean): number {
    const p = this.profile;
    return p.minWriteMs + this.sched.random() * (p.maxWriteMs - p.minWriteMs) + (sync ? p.syncMs : 0);
  }

  /** Queues one write; resolves or rejects at its completion event. */
  write(db: SimLevel, ops: Op[], sync: boolean): Promise<void> {
    if (db.brokenBy) return Promise.reject(db.brokenBy);
    const fault: DiskFault | null = this.failNext ?? (this.full ? 'full' : null);
    this.failNext = null;
    // The ops themselves, not copies: memory-level keeps these same buffers readable, and
    // storage never changes a buffer it handed to a write (copying values near 1 MiB on
    // every write was a large share of a seed with big values).
    const record: LogRecord = { ops: ops.slice(), sync };
    // Outstanding batches have no order in LevelDB's log: this one may go before one of them.
    // Only this database's own: a database closed (or failed) with a write still out is a
    // finished process in production, its writes done before another could open the files.
    let before: LogRecord | null = null;
    const mine = this.outstanding.length === 0 ? NO_RECORDS : this.outstanding.filter((r) => this.issuer.get(r) === db);
    if (mine.length > 0) {
      this.overlap.concurrent++;
      // NodeStorage clears a replaced snapshot's key space in the background: unsynced deletes of
      // keys nobody reads, which may land anywhere (open() clears them again). Any other overlap
      // would put the log's own writes out of order.
      if (!isBackgroundClear(record) && mine.some((r) => !isBackgroundClear(r))) this.overlap.ordered++;
      if (this.sched.random() < (this.profile.reorderRate ?? 0)) before = mine[Math.floor(this.sched.random() * mine.length)]!;
    }
    this.issuer.set(record, db);
    // A failed sync left the record in the log; a failed write left nothing readable.
    if (fault !== 'write' && fault !== 'full') {
      const at = before ? this.pending.indexOf(before) : -1;
      if (at >= 0) this.pending.splice(at, 0, record);
      else this.pending.push(record);
    }
    if (before) {
      this.overlap.reordered++;
      this.outstanding.splice(this.outstanding.indexOf(before), 0, record);
    } else this.outstanding.push(record);
    const doneMs = before ? this.sched.nowMs + this.latencyMs(sync) : Math.max(this.sched.nowMs, this.busyUntilMs) + this.latencyMs(sync);
    if (!before) this.busyUntilMs = doneMs;
    const incarnation = this.incarnation;
    const label = `disk ${this.path} ${sync ? 'sync ' : ''}batch of ${ops.length}${fault ? ` FAILS (${fault})` : ''}`;
    if (fault) db.brokenBy = new DiskIoError(this.path, fault); // later writes fail at once, as LevelDB's do
    return new Promise((resolve, reject) => {
      this.sched.at(doneMs, this.owner, label, () => {
        if (incarnation !== this.incarnation) return; // the process died first: never answered
        const at = this.outstanding.indexOf(record);
        if (at >= 0) this.outstanding.splice(at, 1);
        if (fault) {
          this.stats.failures++;
          return reject(db.brokenBy);
        }
        this.stats.batches++;
        if (sync) {
          this.stats.syncs++;
          const upTo = this.pending.indexOf(record);
          for (const r of this.pending.slice(0, upTo + 1)) this.applyDurable(r.ops);
          this.pending = this.pending.slice(upTo + 1);
        }
        db.applyCompleted(ops).then(resolve, reject);
      });
    });
  }

  private applyDurable(ops: readonly Op[]): void {
    for (const op of ops) {
      if (op.type === 'put') this.durable.set(keyOf(op.key), [op.key, op.value]);
      else this.durable.delete(keyOf(op.key));
    }
  }
}

/** Unsynced deletes only: NodeStorage's background clear of a replaced key space. */
function isBackgroundClear(r: LogRecord): boolean {
  return !r.sync && r.ops.every((op) => op.type === 'del');
}

interface BatchOptions {
  sync?: boolean;
}

/** abstract-level's private implementation methods (documented for implementers, not typed). */
interface LevelInternals {
  _open(this: SimLevel, options: object): Promise<void>;
  _close(this: SimLevel): Promise<void>;
  _batch(this: SimLevel, ops: Op[], options: object): Promise<void>;
}
const base = MemoryLevel.prototype as unknown as LevelInternals;

/** The database a node opens on a SimDisk: memory-level's reads, the disk's writes. */
export class SimLevel extends MemoryLevel<Buffer, Buffer> {
  /** The sticky error after a failed write. */
  brokenBy: DiskIoError | null = null;
  /** Closed or crashed: the disk may be opened again. */
  released = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly incarnation: number,
  ) {
    super({ keyEncoding: 'buffer', valueEncoding: 'buffer' });
    // An array batch goes straight to _batch, as production's raw-db.ts sends small ones
    // (abstract-level's public array batch clones and re-validates every op).
    const chained = this.batch.bind(this) as unknown as () => unknown;
    Object.defineProperty(this, 'batch', {
      value: (ops?: Op[], options?: BatchOptions) => (Array.isArray(ops) ? this._batch(ops, options ?? {}) : chained()),
    });
  }

  async _open(options: object): Promise<void> {
    if (this.incarnation !== this.disk.incarnation) throw new Error(`disk ${this.disk.path}: this database belongs to a crashed process`);
    this.disk.lock(this);
    await base._open.call(this, options);
    const ops = this.disk.contents();
    if (ops.length > 0) await base._batch.call(this, ops, {});
  }

  async _close(): Promise<void> {
    this.released = true;
    await base._close.call(this);
  }

  async _put(key: Buffer, value: Buffer, options: BatchOptions): Promise<void> {
    return this._batch([{ type: 'put', key, value }], options);
  }

  async _del(key: Buffer, options: BatchOptions): Promise<void> {
    return this._batch([{ type: 'del', key }], options);
  }

  async _batch(operations: Op[], options: BatchOptions): Promise<void> {
    if (this.released || this.incarnation !== this.disk.incarnation) return new Promise(() => {}); // a dead process's write never returns
    return this.disk.write(this, operations, options?.sync === true);
  }

  /** clear() is LevelDB deletes written without sync. */
  async _clear(options: Record<string, unknown>): Promise<void> {
    const range: Record<string, unknown> = {};
    for (const k of ['gt', 'gte', 'lt', 'lte', 'reverse']) if (options[k] !== undefined) range[k] = options[k];
    if (typeof options.limit === 'number' && options.limit >= 0) range.limit = options.limit;
    const keys = await this.keys(range).all();
    if (keys.length === 0) return;
    return this._batch(
      keys.map((key) => ({ type: 'del', key })),
      { sync: false },
    );
  }

  /** Makes a completed write readable. */
  applyCompleted(ops: Op[]): Promise<void> {
    return base._batch.call(this, ops, {});
  }
}
