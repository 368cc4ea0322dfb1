// Leases in the replicated state (issue #17): which leases exist, their TTL, and the keys
// attached to each. Granted, revoked and attached only by applied entries, so every member
// holds the same table; when a lease ends is the leader's decision (the driver), not ours.
//
// On disk they live inside the active KV generation, after every user key, so that
// snapshots carry them and an install replaces them with the rest of the state:
//   <kv prefix> 0xFF 'L' <u64 BE id>               -> msgpack [ttlMs, grantedRevision]
//   <kv prefix> 0xFF 'K' <u64 BE id> <utf8 key>    -> empty (the key is attached to the lease)
// 0xFF never occurs in UTF-8, so no user key sorts at or after <kv prefix> 0xFF.
// The table is also held in memory (bounded by MAX_LEASES and MAX_LEASE_KEYS): a put reads
// which lease a key had without a disk read.
import { InvalidArgumentError } from '@conclave/core';
import { packr, strictDecode } from './codec.js';
import { kvPrefix, KV_PREFIX_BYTES, type KvSpace } from './keys.js';
import type { BatchOp, RangeOptions } from './raw-db.js';

/** Byte after the KV prefix that starts the lease records; never a byte of UTF-8. */
export const LEASE_MARK = 0xff;
const REC_LEASE = 0x4c; // 'L'
const REC_KEY = 0x4b; // 'K'

/** Most leases alive at once in a group; a grant past it fails at apply (nothing written). */
export const MAX_LEASES = 10_000;
/** Most keys attached to one lease: its revocation deletes them all in one entry. */
export const MAX_LEASE_KEYS = 10_000;
/** Longest lease TTL: 30 days. */
export const MAX_LEASE_TTL_MS = 30 * 24 * 3600 * 1000;

export interface LeaseRecord {
  /** The revision (log index) of the grant, which is also the lease's id. */
  readonly id: number;
  readonly ttlMs: number;
  /** Attached keys, in insertion order. */
  readonly keys: Set<string>;
}

/** The end (exclusive) of generation `space`'s user keys: where the lease records start. */
export function kvUserEnd(space: KvSpace): Buffer {
  return Buffer.concat([kvPrefix(space), Buffer.from([LEASE_MARK])]);
}

export function leaseRange(space: KvSpace): RangeOptions {
  return { gte: kvUserEnd(space), lt: kvPrefix(space + 1) };
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

function leaseKey(space: KvSpace, id: number): Buffer {
  return Buffer.concat([kvPrefix(space), Buffer.from([LEASE_MARK, REC_LEASE]), u64(id)]);
}

function attachKey(space: KvSpace, id: number, key: string): Buffer {
  return Buffer.concat([kvPrefix(space), Buffer.from([LEASE_MARK, REC_KEY]), u64(id), Buffer.from(key, 'utf8')]);
}

/** Whether a stored key (with its KV prefix) is a lease record. */
export function isLeaseRecordKey(key: Buffer): boolean {
  return key.length > KV_PREFIX_BYTES && key[KV_PREFIX_BYTES] === LEASE_MARK;
}

/** A lease record as a snapshot carries it: its key bytes after the KV prefix; checked on install. */
export function checkLeaseSnapshotPair(rest: Uint8Array, value: Uint8Array, what: string): void {
  const ok = rest.length >= 10 && rest[0] === LEASE_MARK && (rest[1] === REC_LEASE ? rest.length === 10 : rest[1] === REC_KEY && value.length === 0);
  if (!ok) throw new InvalidArgumentError(`${what} is not a lease record`);
  if (rest[1] === REC_LEASE) decodeLeaseValue(value, what);
}

function decodeLeaseValue(value: Uint8Array, what: string): number {
  let v: unknown;
  try {
    v = strictDecode(value);
  } catch (err) {
    throw new InvalidArgumentError(`${what}: lease record is not msgpack (${(err as Error).message})`);
  }
  const ttlMs = Array.isArray(v) ? v[0] : undefined;
  if (!isTtlMs(ttlMs)) throw new InvalidArgumentError(`${what}: lease record has no valid ttlMs`);
  return ttlMs;
}

export function isTtlMs(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_LEASE_TTL_MS;
}

/**
 * The lease table of the active generation. Changed only through a LeaseChanges staged by
 * one command and committed when that command succeeded (a failed command leaves nothing).
 */
export class LeaseTable {
  private readonly leases = new Map<number, LeaseRecord>();
  private readonly keyLease = new Map<string, number>();

  get size(): number {
    return this.leases.size;
  }

  get(id: number): LeaseRecord | undefined {
    return this.leases.get(id);
  }

  leaseOf(key: string): number {
    return this.keyLease.get(key) ?? 0;
  }

  all(): LeaseRecord[] {
    return [...this.leases.values()];
  }

  clear(): void {
    this.leases.clear();
    this.keyLease.clear();
  }

  /** Loads the records of the active generation ('K' sorts before 'L': leases first, then keys). */
  load(pairs: readonly [Buffer, Buffer][], describeWhere: string): void {
    this.clear();
    const idOf = (rest: Buffer): number => (rest.length >= 10 ? rest.readUInt32BE(2) * 0x1_0000_0000 + rest.readUInt32BE(6) : 0);
    for (const [k, v] of pairs) {
      const rest = k.subarray(KV_PREFIX_BYTES);
      if (rest[1] === REC_LEASE && rest.length === 10) this.leases.set(idOf(rest), { id: idOf(rest), ttlMs: decodeLeaseValue(v, describeWhere), keys: new Set() });
      else if (rest[1] !== REC_KEY || rest.length < 10) throw new InvalidArgumentError(`${describeWhere}: unknown lease record`);
    }
    for (const [k] of pairs) {
      const rest = k.subarray(KV_PREFIX_BYTES);
      if (rest[1] !== REC_KEY) continue;
      const id = idOf(rest);
      const key = rest.toString('utf8', 10);
      const lease = this.leases.get(id);
      if (!lease) throw new InvalidArgumentError(`${describeWhere}: key ${JSON.stringify(key)} attached to lease ${id}, which has no record`);
      lease.keys.add(key);
      this.keyLease.set(key, id);
    }
  }

  /** Applies what one command staged (after it succeeded). */
  commit(c: LeaseChanges): void {
    for (const ch of c.list) {
      switch (ch.t) {
        case 'grant':
          this.leases.set(ch.id, { id: ch.id, ttlMs: ch.ttlMs, keys: new Set() });
          break;
        case 'revoke':
          for (const k of this.leases.get(ch.id)?.keys ?? []) this.keyLease.delete(k);
          this.leases.delete(ch.id);
          break;
        case 'attach':
          this.leases.get(ch.id)?.keys.add(ch.key);
          this.keyLease.set(ch.key, ch.id);
          break;
        case 'detach':
          this.leases.get(ch.id)?.keys.delete(ch.key);
          if (this.keyLease.get(ch.key) === ch.id) this.keyLease.delete(ch.key);
          break;
      }
    }
  }
}

type Change = { t: 'grant'; id: number; ttlMs: number } | { t: 'revoke'; id: number } | { t: 'attach' | 'detach'; id: number; key: string };

/** One command's lease changes, staged with its writes: seen by its own later steps, committed if it succeeds. */
export class LeaseChanges {
  readonly list: Change[] = [];
  /** key -> lease as this command left it (0: none). */
  private readonly keys = new Map<string, number>();
  private readonly alive = new Map<number, boolean>();
  private readonly added = new Map<number, number>();

  constructor(
    private readonly table: LeaseTable,
    private readonly space: KvSpace,
    private readonly ops: BatchOp[],
  ) {}

  exists(id: number): boolean {
    return this.alive.get(id) ?? this.table.get(id) !== undefined;
  }

  leaseOf(key: string): number {
    return this.keys.get(key) ?? this.table.leaseOf(key);
  }

  grant(id: number, ttlMs: number): void {
    if (this.table.size >= MAX_LEASES) throw new InvalidArgumentError(`${MAX_LEASES} leases are alive; revoke some before granting more`);
    this.list.push({ t: 'grant', id, ttlMs });
    this.alive.set(id, true);
    this.ops.push({ type: 'put', key: leaseKey(this.space, id), value: packr.pack([ttlMs, id]) });
  }

  /** Removes the lease's records; the caller deletes its keys first (detach of each). */
  revoke(id: number): void {
    this.list.push({ t: 'revoke', id });
    this.alive.set(id, false);
    this.ops.push({ type: 'del', key: leaseKey(this.space, id) });
  }

  /** The keys attached to `id` now, as this command left them. */
  keysOf(id: number): string[] {
    const out: string[] = [];
    for (const k of this.table.get(id)?.keys ?? []) if (this.leaseOf(k) === id) out.push(k);
    for (const [k, l] of this.keys) if (l === id && !this.table.get(id)?.keys.has(k)) out.push(k);
    return out;
  }

  /** `key` is now written with lease `id` (0: none): moves its attachment. */
  setKeyLease(key: string, id: number): void {
    const prev = this.leaseOf(key);
    if (prev === id) return;
    if (prev !== 0) {
      this.list.push({ t: 'detach', id: prev, key });
      this.ops.push({ type: 'del', key: attachKey(this.space, prev, key) });
    }
    if (id !== 0) {
      const count = (this.table.get(id)?.keys.size ?? 0) + (this.added.get(id) ?? 0);
      if (count >= MAX_LEASE_KEYS) throw new InvalidArgumentError(`lease ${id} already has ${MAX_LEASE_KEYS} keys attached; at most ${MAX_LEASE_KEYS} allowed`);
      this.added.set(id, (this.added.get(id) ?? 0) + 1);
      this.list.push({ t: 'attach', id, key });
      this.ops.push({ type: 'put', key: attachKey(this.space, id, key), value: Buffer.alloc(0) });
    }
    this.keys.set(key, id);
  }
}

/** A lease id as a command carries it: 0 (none) or a positive safe integer; the error names `what`. */
export function checkLeaseId(v: unknown, what: string, allowNone: boolean): number {
  if (v === undefined || v === null) {
    if (allowNone) return 0;
  } else if (typeof v === 'number' && Number.isSafeInteger(v) && (v > 0 || (allowNone && v === 0))) {
    return v;
  }
  throw new InvalidArgumentError(`${what} must be a lease id, a positive integer (got ${JSON.stringify(v) ?? String(v)})`);
}
