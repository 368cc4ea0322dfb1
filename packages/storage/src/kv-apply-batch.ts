// Applying committed entries to the KV state machine: their effects, the applied index,
// the group and the watch history in ONE batch. Functions over StorageState (storage-state.ts);
// one command's effects are kv-apply.ts's.
import { applyConfChange, assert, ConfChangeError, ConclaveError, InvalidArgumentError, LeaseNotFoundError } from '@conclave/core';
import type { Entry } from '@conclave/core';
import { encode } from './codec.js';
import { decodeRawCommand, type RawCommand } from './command.js';
import { META_APPLIED, META_GROUP, type KvSpace } from './keys.js';
import { applyCommand } from './kv-apply.js';
import { addKeysRead, prefetchRecords, type PrefetchedRecords } from './kv-prefetch.js';
import { KvView, Overlay } from './kv-view.js';
import type { ApplyReads } from './command-apply.js';
import type { BatchOp } from './raw-db.js';
import type { AppliedChange, ApplyResult } from './storage-types.js';
import { enqueue, writePolicy } from './write-queue.js';
import { decodeKv, readStored } from './kv-read.js';
import type { StorageState } from './storage-state.js';

export async function applyEntries(s: StorageState, entries: readonly Entry[]): Promise<ApplyResult[]> {
  return enqueue(s, async () => {
    if (entries.length === 0) return [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const expected = s.appliedIndex + 1 + i;
      assert(e.index === expected, () => `applyEntries: entry ${e.index} does not continue the applied index (expected ${expected})`);
      assert(e.index <= s.terms.lastIndex, () => `applyEntries: entry ${e.index} is beyond the persisted log (${s.terms.lastIndex})`);
    }
    const space = s.kvSpace;
    const ops: BatchOp[] = [];
    const changes = new Map<string, Buffer | null>();
    const results: ApplyResult[] = [];
    const byRevision: { revision: number; changes: AppliedChange[] }[] = [];
    let group = s.groupMeta;
    const startGroup = group;
    // Decoded first, so that the records they read come in one getMany (kv-prefetch.ts).
    const commands = new Map<number, RawCommand | InvalidArgumentError>();
    const keys = new Set<string>();
    for (const e of entries) {
      if (e.type !== 'normal' || e.data.length === 0) continue;
      try {
        const cmd = decodeRawCommand(e.data);
        commands.set(e.index, cmd);
        addKeysRead(cmd, keys);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        commands.set(e.index, err);
      }
    }
    const reads = applyReads(s, space, keys.size === 0 ? null : await prefetchRecords(s, space, keys));
    for (const e of entries) {
      if (e.type === 'noop' || (e.type === 'normal' && e.data.length === 0)) {
        results.push({ index: e.index, outcome: null, error: null });
      } else if (e.type === 'conf') {
        try {
          if (!e.change) throw new ConfChangeError(`conf entry ${e.index} carries no change`);
          if (!group) throw new ConfChangeError(`conf entry ${e.index} applied before the node has group metadata`);
          group = applyConfChange(group, e.change);
          results.push({ index: e.index, outcome: { op: 'conf', group }, error: null });
        } catch (err) {
          if (!(err instanceof ConclaveError)) throw err;
          results.push({ index: e.index, outcome: null, error: err });
        }
      } else {
        const cmd = commands.get(e.index)!;
        if (cmd instanceof InvalidArgumentError) {
          results.push({ index: e.index, outcome: null, error: cmd });
          continue;
        }
        const changed: AppliedChange[] = [];
        let outcome;
        try {
          outcome = await applyCommand(cmd, space, e.index, ops, changes, changed, reads);
        } catch (err) {
          // Refused at apply (a limit the state decides): nothing of it was written, on every member alike.
          if (!(err instanceof InvalidArgumentError) && !(err instanceof LeaseNotFoundError)) throw err;
          results.push({ index: e.index, outcome: null, error: err });
          continue;
        }
        results.push({ index: e.index, outcome, error: null, changes: changed });
        byRevision.push({ revision: e.index, changes: changed });
      }
    }
    const applied = entries[entries.length - 1]!.index;
    ops.push({ type: 'put', key: META_APPLIED, value: encode(applied) });
    if (group !== startGroup && group) ops.push({ type: 'put', key: META_GROUP, value: encode(group) });
    const historyPlan = s.history.planApply(byRevision, applied, ops);
    // A membership change is written at once (rare, and the group must not wait in memory).
    await writePolicy(s, ops, changes, group === startGroup ? 'apply' : 'log');
    s.appliedBytesSinceSnapshot += s.logSizes.bytesBetween(s.appliedIndex, applied);
    s.appliedIndex = applied;
    s.groupMeta = group;
    s.history.commit(historyPlan);
    return results;
  });
}

/**
 * What an apply reads: LevelDB under the buffered writes and the apply's own; `prefetched`
 * holds some of those records already (the batch's own writes are read before them). Queue-only.
 */
export function applyReads(s: StorageState, space: KvSpace, prefetched: PrefetchedRecords | null): ApplyReads {
  assert(space === s.kvSpace, () => `apply to KV generation ${space}, not the active ${s.kvSpace}`);
  return {
    readStored: async (k, sp) => {
      const known = sp === space ? prefetched?.get(k) : undefined;
      return known !== undefined ? known : readStored(s, k, sp);
    },
    decodeStored: (k, b) => decodeKv(s, k, b),
    leases: s.leaseTable,
    viewOver: (layers) => new KvView(s.db, space, s.appliedIndex, null, new Overlay([...s.buffer.layers(), ...layers])),
  };
}
