// The KV state at an index between two applies. A member applies committed entries in
// batches, so LevelDB may never hold the state at a given index (a read point); a view
// taken before it, with the entries after it applied again in memory by the same
// applyCommand, is that state exactly. ConclaveLevel's iterators on a follower read it.
import { InvalidArgumentError, type Entry } from '@conclave/core';
import { decodeRawCommand, decodeValue, type RawCommand } from './command.js';
import { applyCommand } from './kv-apply.js';
import type { ApplyReads } from './command-apply.js';
import type { KvView } from './kv-view.js';
import type { AppliedChange } from './storage-types.js';
import type { LeaseTable } from './leases.js';
import type { BatchOp } from './raw-db.js';

/** Most entries replayed for one view; a member further behind than this re-takes its view (see NodeStorage.viewAt). */
export const VIEW_REPLAY_MAX_ENTRIES = 10_000;
/** Most log bytes replayed for one view (the changes live in memory while the view is open). */
export const VIEW_REPLAY_MAX_BYTES = 16 * 1024 * 1024;

/**
 * `base` with `entries` (the committed entries right after it, in order) applied over it in
 * memory, or null when that cannot be exact (leases). The result shares base's LevelDB
 * snapshot: close it, not base.
 */
export async function replayOnto(base: KvView, entries: readonly Entry[], leases: LeaseTable): Promise<KvView | null> {
  // Leases are applied against the lease table, which only exists as of the member's applied
  // index, not base's: with any lease alive or changing, there is no exact replay (null).
  if (leases.size > 0) return null;
  const batch = new Map<string, Buffer | null>(); // the records the entries wrote, by key
  const ops: BatchOp[] = []; // the LevelDB writes, unused: the state stays in memory
  const changes: AppliedChange[] = []; // watch history, unused here
  let index = base.appliedIndex;
  const reads: ApplyReads = {
    readStored: (key) => base.getRecord(key),
    leases,
    // Only an outcome reads it, and outcomes are not kept here.
    decodeStored: (_key, bytes) => decodeValue(bytes),
    viewOver: (layers) => base.borrow(index, new Map(layers.flatMap((l) => [...l]))),
  };
  for (const e of entries) {
    if (e.index !== index + 1) throw new InvalidArgumentError(`replay: entry ${e.index} does not follow ${index}`);
    index = e.index;
    // Conf changes and no-ops leave the KV state alone, as an invalid command does when applied.
    if (e.type !== 'normal' || e.data.length === 0) continue;
    let cmd: RawCommand;
    try {
      cmd = decodeRawCommand(e.data);
    } catch (err) {
      if (err instanceof InvalidArgumentError) continue;
      throw err;
    }
    if (cmd.op === 'leaseGrant' || cmd.op === 'leaseRevoke') return null;
    try {
      await applyCommand(cmd, base.space, e.index, ops, batch, changes, reads);
    } catch (err) {
      // Refused at apply on every member alike: it wrote nothing.
      if (!(err instanceof InvalidArgumentError)) throw err;
    }
    ops.length = 0;
    changes.length = 0;
  }
  return base.over(index, batch);
}
