// Reading the watch history back (history.ts): the records of a revision range, with each
// change's previous value resolved from the older record it refers to. Records and the
// records they refer to are read from one LevelDB snapshot taken in the write queue, so a
// trim between the two reads cannot take a referred record away. Functions over StorageState.
import { InvalidArgumentError } from '@conclave/core';
import { isIndex } from './codec.js';
import { decodeStoredChanges, valueWritten, type HistoryRecord, type StoredChange } from './history.js';
import { HISTORY_RANGE, historyBound, historyRevisionOf } from './keys.js';
import type { RawSnapshot } from './raw-db.js';
import type { KvChange } from './storage-types.js';
import { enqueue, flushBuffered } from './write-queue.js';
import type { StorageState } from './storage-state.js';

function decodeOrCorrupt(s: StorageState, revision: number, bytes: Buffer): StoredChange[] {
  try {
    return decodeStoredChanges(bytes);
  } catch (err) {
    throw s.corrupt('history', revision, `watch history record ${revision}: ${(err as Error).message}`);
  }
}

/** The stored changes of the record at `revision`, read from `snapshot`, or null when absent. */
async function storedRecordAt(s: StorageState, snapshot: RawSnapshot, revision: number): Promise<StoredChange[] | null> {
  const it = s.db.iterator({ gte: historyBound(revision), lt: historyBound(revision + 1), snapshot, limit: 1 });
  try {
    const [pair] = await it.nextv(1);
    return pair === undefined ? null : decodeOrCorrupt(s, revision, pair[1]);
  } finally {
    await it.close();
  }
}

export async function readHistory(s: StorageState, from: number, maxBytes: number): Promise<{ records: HistoryRecord[]; upTo: number; start: number; compacted: boolean }> {
  if (!isIndex(from) || from < 1) throw new InvalidArgumentError(`history revision must be an integer >= 1 (got ${String(from)})`);
  const opened = await enqueue(s, async () => {
    await flushBuffered(s);
    const start = s.history.start;
    if (from < start) return { start, applied: s.appliedIndex, snapshot: null };
    // Taken inside the queue: it matches the applied index read here.
    return { start, applied: s.appliedIndex, snapshot: s.db.snapshot() };
  });
  if (opened.snapshot === null) return { records: [], upTo: from - 1, start: opened.start, compacted: true };
  const snapshot = opened.snapshot;
  const records: HistoryRecord[] = [];
  // The records read by this call, by revision: most references of a page point into it.
  const read = new Map<number, StoredChange[]>();
  const resolve = async (revision: number, c: StoredChange): Promise<KvChange> => {
    if (typeof c.prev !== 'number') return { type: c.type, key: c.key, value: c.value, prevValue: c.prev };
    let older = read.get(c.prev);
    if (older === undefined) {
      older = (await storedRecordAt(s, snapshot, c.prev)) ?? undefined;
      if (older !== undefined) read.set(c.prev, older);
    }
    const prevValue = older === undefined ? undefined : valueWritten(older, c.key);
    if (prevValue === undefined) throw s.corrupt('history', revision, `watch history record ${revision}: the previous value of ${JSON.stringify(c.key)} refers to revision ${c.prev}, which holds no put of it`);
    return { type: c.type, key: c.key, value: c.value, prevValue };
  };
  let bytes = 0;
  let upTo = opened.applied;
  const it = s.db.iterator({ gte: historyBound(from), lt: HISTORY_RANGE.lt, snapshot });
  try {
    for (;;) {
      const batch = await it.nextv(64);
      if (batch.length === 0) break;
      let full = false;
      for (const [k, v] of batch) {
        const revision = historyRevisionOf(k);
        if (revision > opened.applied) break;
        if (records.length > 0 && bytes + v.length > maxBytes) {
          upTo = revision - 1;
          full = true;
          break;
        }
        const stored = decodeOrCorrupt(s, revision, v);
        read.set(revision, stored);
        const changes: KvChange[] = [];
        for (const c of stored) {
          const resolved = await resolve(revision, c);
          // A resolved previous value counts as read: a page stays near maxBytes in memory.
          if (typeof c.prev === 'number') bytes += resolved.prevValue!.length;
          changes.push(resolved);
        }
        records.push({ revision, changes });
        bytes += v.length;
      }
      if (full) break;
    }
  } finally {
    await it.close();
    await snapshot.close();
  }
  return { records, upTo, start: opened.start, compacted: false };
}
