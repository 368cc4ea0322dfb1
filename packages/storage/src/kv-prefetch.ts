// The stored records an apply batch reads, fetched in one LevelDB getMany before it runs.
// Each put and delete reads its key's record (the revision header, the watch history's
// previous value); one `get` per key was the largest CPU item of a node under load
// (bench/README.md, issue 15), one getMany per batch costs a fraction of it.
//
// Why the fetched records are exact: an apply is a write-queue task, and every write of a
// KV record is one (applies and snapshot installs), so no record of the active generation
// changes while the batch applies except by the batch itself; a noSync buffer flush moves
// records to LevelDB but keeps them readable until LevelDB has them, so `readStored` answers
// the same all along. The batch's own writes are read before these (CommandApply.current:
// the command's own, then the batch's earlier entries', then storage).
import { assert } from '@conclave/core';
import type { RawCommand } from './command.js';
import { kvKey, type KvSpace } from './keys.js';
import type { StorageState } from './storage-state.js';

/** Stored records by key (null: absent) as `readStored` returns them before the batch writes. */
export type PrefetchedRecords = ReadonlyMap<string, Buffer | null>;

/**
 * Adds the keys whose records applying `cmd` reads: the keys it puts or deletes (their records
 * are kept anyway, as the watch history's previous values) and a transaction's compares.
 * Keys found by a range (clear, deleteRange, a lease's keys) and a transaction's branches
 * are left to a read when applied.
 */
export function addKeysRead(cmd: RawCommand, out: Set<string>): void {
  switch (cmd.op) {
    case 'put':
    case 'del':
    case 'cas':
      out.add(cmd.key);
      return;
    case 'batch':
      for (const op of cmd.ops) out.add(op.key);
      return;
    case 'txn':
      for (const c of cmd.compares) out.add(c.key);
      return;
    default:
      return;
  }
}

/** The records of `keys` in generation `space` (the active one). Queue-only. */
export async function prefetchRecords(s: StorageState, space: KvSpace, keys: ReadonlySet<string>): Promise<PrefetchedRecords> {
  assert(space === s.kvSpace, () => `prefetch from KV generation ${space}, not the active ${s.kvSpace}`);
  const records = new Map<string, Buffer | null>();
  const missing: string[] = [];
  for (const k of keys) {
    const queued = s.buffer.lookup(k);
    if (queued !== undefined) records.set(k, queued);
    else missing.push(k);
  }
  if (missing.length === 0) return records;
  const found = await s.db.getMany(missing.map((k) => kvKey(space, k)));
  for (let i = 0; i < missing.length; i++) records.set(missing[i]!, found[i] ?? null);
  return records;
}
