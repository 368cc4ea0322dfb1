// NodeStorage's write queue: every write (and every read that must agree with the in-memory
// indexes) runs through one FIFO queue, so batches reach LevelDB in call order and the
// in-memory state changes only after its batch succeeded; the sync policies (the noSync
// write-behind buffer, deferred applies); the hard state side file; and the fail-stop.
// Functions over StorageState (storage-state.ts).
import type { HardState } from '@conclave/core';
import { encodeHardState } from './codec.js';
import { StorageClosedError, StorageIoError } from './errors.js';
import { META_HARD_STATE } from './keys.js';
import { HARD_STATE_FILE, writeHardStateFile } from './hard-state-file.js';
import type { BatchOp, RangeOptions } from './raw-db.js';
import type { StorageState } from './storage-state.js';

export const noop = (): void => {};

export function checkUsable(s: StorageState): void {
  if (s.failure) throw s.failure;
  if (s.state === 'closed') throw new StorageClosedError(s.path);
}

/** Runs `task` after every task queued before it. */
export function enqueue<T>(s: StorageState, task: () => Promise<T>): Promise<T> {
  if (s.failure) return Promise.reject(s.failure);
  if (s.state !== 'open') return Promise.reject(new StorageClosedError(s.path));
  const result = s.queueTail.then(() => {
    checkUsable(s);
    return task();
  });
  s.queueTail = result.then(noop, noop);
  return result;
}

export function fail(s: StorageState, err: unknown, what: string): never {
  if (!s.failure) {
    s.failure = new StorageIoError(s.path, what, err);
    s.onFailure?.(s.failure);
  }
  throw s.failure;
}

export async function writeRaw(s: StorageState, ops: BatchOp[], sync: boolean): Promise<void> {
  try {
    await s.db.batch(ops, { sync });
  } catch (err) {
    fail(s, err, 'write failed; storage is now fail-stop');
  }
}

export async function clearRange(s: StorageState, range: RangeOptions): Promise<void> {
  try {
    await s.db.clear(range);
  } catch (err) {
    fail(s, err, 'clearing a key range failed; storage is now fail-stop');
  }
}

/**
 * Writes one batch as the sync policy says. `kvChanges` lets buffered reads see buffered KV
 * writes. Under deferApplyWrites, an `apply` batch waits in the buffer and a `commit`
 * (a hard state whose commit alone moved) is written at once without fsync, as etcd does:
 * it survives a process crash, and after a power cut the commit is learned again.
 * Buffered batches always go first in the next synced batch: nothing unsynced may precede
 * a synced write, or a power cut could keep the later write and lose the earlier one
 * (LevelDB syncs only its current log file).
 */
export async function writePolicy(s: StorageState, ops: BatchOp[], kvChanges: Map<string, Buffer | null> | null, kind: 'log' | 'apply' | 'commit' = 'log'): Promise<void> {
  if (s.syncPolicy === 'noSync' || (kind === 'apply' && s.deferApplyWrites)) return buffered(s, ops, kvChanges);
  if (kind === 'commit' && s.deferApplyWrites) return writeRaw(s, ops, false);
  if (s.buffer.empty) return writeRaw(s, ops, s.syncPolicy === 'sync');
  const all = takeBuffered(s);
  for (const op of ops) all.push(op);
  try {
    await writeRaw(s, all, s.syncPolicy === 'sync');
  } finally {
    s.buffer.flushDone();
  }
}

/**
 * The buffered batches, for one write. Deferred applies carry the current hard state with
 * them, so that no durable applied index is ever ahead of the durable commit.
 */
export function takeBuffered(s: StorageState): BatchOp[] {
  const ops = s.buffer.take();
  if (s.deferApplyWrites) ops.push({ type: 'put', key: META_HARD_STATE, value: encodeHardState(s.hs) });
  return ops;
}

/** Adds a batch to the write-behind buffer; flushed by size, by timer, or by the next direct write. */
export async function buffered(s: StorageState, ops: BatchOp[], kvChanges: Map<string, Buffer | null> | null): Promise<void> {
  s.buffer.add(ops, kvChanges);
  if (s.buffer.pendingBytes >= s.noSyncFlushBytes) {
    await flushBuffered(s);
  } else if (s.flushTimer === null) {
    s.flushTimer = s.timers.setTimeout(() => {
      s.flushTimer = null;
      if (s.state === 'open' && !s.failure) enqueue(s, () => flushBuffered(s)).catch(noop);
    }, s.noSyncFlushIntervalMs);
    s.flushTimer.unref();
  }
}

/** A write that must not sit in the noSync buffer (install, settings): flushes the buffer first. */
export async function writeDirect(s: StorageState, ops: BatchOp[], sync = s.syncPolicy === 'sync'): Promise<void> {
  if (!sync || s.buffer.empty) {
    await flushBuffered(s);
    return writeRaw(s, ops, sync);
  }
  // One synced batch, the buffered batches first: one fsync rather than two.
  stopFlushTimer(s);
  const all = takeBuffered(s);
  for (const op of ops) all.push(op);
  try {
    await writeRaw(s, all, true);
  } finally {
    s.buffer.flushDone();
  }
}

export function stopFlushTimer(s: StorageState): void {
  if (s.flushTimer !== null) {
    s.timers.clearTimeout(s.flushTimer);
    s.flushTimer = null;
  }
}

/** noSync: writes the buffered batches to the OS as one batch (whole batches, in order). Queue-only. */
export async function flushBuffered(s: StorageState): Promise<void> {
  stopFlushTimer(s);
  if (s.buffer.empty) return;
  const ops = takeBuffered(s);
  try {
    // Synced under deferApplyWrites: see writePolicy.
    await writeRaw(s, ops, s.syncPolicy === 'sync');
  } finally {
    s.buffer.flushDone();
  }
}

export async function sync(s: StorageState): Promise<void> {
  return enqueue(s, async () => {
    if (s.flushTimer !== null) {
      s.timers.clearTimeout(s.flushTimer);
      s.flushTimer = null;
    }
    // The hard state as a carrier: LevelDB fsyncs its log only with a batch.
    const ops = s.buffer.empty ? [] : takeBuffered(s);
    ops.push({ type: 'put', key: META_HARD_STATE, value: encodeHardState(s.hs) });
    try {
      await writeRaw(s, ops, true);
    } finally {
      s.buffer.flushDone();
    }
  });
}

export async function flush(s: StorageState): Promise<void> {
  return enqueue(s, () => flushBuffered(s));
}

/** True when `next` must go to the side file: a new term or vote, or a lower commit (a rollback). */
export function hardStateFileChanges(s: StorageState, next: HardState): boolean {
  return next.term !== s.hs.term || next.vote !== s.hs.vote || next.commit < s.hs.commit;
}

/**
 * Writes a batch that carries the hard state `next` (not yet s.hs) directly. A change
 * the side file records is fsynced whatever the sync policy, and the side file follows
 * it, so that LevelDB's copy is never older than the side file's unless the disk lost it.
 * A lower commit goes to the side file first, so a crash in between leaves LevelDB ahead.
 */
export async function writeWithHardState(s: StorageState, ops: BatchOp[], next: HardState): Promise<void> {
  const recorded = hardStateFileChanges(s, next);
  if (recorded && next.commit < s.hs.commit) await writeSideFile(s, { ...s.hs, commit: next.commit });
  await writeDirect(s, ops, recorded || s.syncPolicy === 'sync');
  if (recorded) await writeSideFile(s, next);
}

export async function writeSideFile(s: StorageState, hs: HardState): Promise<void> {
  if (s.disk === null) return; // a memory backend has no directory, and no disk to lose
  try {
    await writeHardStateFile(s.disk, hs);
  } catch (err) {
    fail(s, err, `writing the hard state side file ${HARD_STATE_FILE} failed; storage is now fail-stop`);
  }
}
