// Reading the KV state machine (views, get, scan). Functions over
// StorageState (storage-state.ts).
import { assert, InvalidArgumentError } from '@conclave/core';
import type { Entry } from '@conclave/core';
import { isIndex } from './codec.js';
import { checkKey, decodeValue } from './command.js';
import { mapOpenError } from './data-directory.js';
import { READ_BATCH_ENTRIES } from './defaults.js';
import { LogCompactedError } from './errors.js';
import { kvKey, kvPrefix, userKeyOf, type KvSpace } from './keys.js';
import { kvUserEnd } from './leases.js';
import { recordMeta, recordValue, type KeyMeta } from './kv-record.js';
import { KvView, Overlay } from './kv-view.js';
import { replayOnto, VIEW_REPLAY_MAX_BYTES, VIEW_REPLAY_MAX_ENTRIES } from './kv-replay.js';
import type { RangeOptions } from './raw-db.js';
import type { ScanOptions } from './storage-types.js';
import { checkUsable, enqueue, flushBuffered } from './write-queue.js';
import { logEntries } from './storage-log.js';
import type { StorageState } from './storage-state.js';

/** Reads of one get() before it gives up on installs switching generations under it (each install takes a whole snapshot transfer). */
const MAX_GET_ATTEMPTS = 100;

export function view(s: StorageState): KvView {
  checkUsable(s);
  if (s.overlayCache.version !== s.buffer.version) s.overlayCache = { version: s.buffer.version, overlay: new Overlay(s.buffer.layers()) };
  return new KvView(s.db, s.kvSpace, s.appliedIndex, s.db.snapshot(), s.overlayCache.overlay);
}

export async function viewAt(s: StorageState, base: KvView, index: number): Promise<KvView | null> {
  checkUsable(s);
  if (!isIndex(index) || index < base.appliedIndex) throw new InvalidArgumentError(`viewAt: ${index} is before the view's ${base.appliedIndex}`);
  if (index === base.appliedIndex) return base;
  // Not applied (here, a rollback's install may have lowered the applied index): no such state.
  if (index > s.appliedIndex || index - base.appliedIndex > VIEW_REPLAY_MAX_ENTRIES || base.space !== s.kvSpace) return null;
  let entries: Entry[];
  try {
    entries = await logEntries(s, base.appliedIndex + 1, index + 1, VIEW_REPLAY_MAX_BYTES);
  } catch (err) {
    if (err instanceof LogCompactedError) return null;
    throw err;
  }
  // Generations are never reused: the same one still active means no install since base,
  // so these committed entries are the ones applied over it.
  if (base.space !== s.kvSpace || entries.length !== index - base.appliedIndex) return null;
  return replayOnto(base, entries, s.leaseTable);
}

/** The stored bytes of a key (null if absent), seeing noSync-buffered writes. */
export async function readStored(s: StorageState, key: string, space: KvSpace): Promise<Buffer | null> {
  if (space === s.kvSpace) {
    const queued = s.buffer.lookup(key);
    if (queued !== undefined) return queued;
  }
  return (await s.db.get(kvKey(space, key))) ?? null;
}

export function decodeKv(s: StorageState, key: string, bytes: Uint8Array): unknown {
  try {
    return decodeValue(bytes);
  } catch (err) {
    throw s.corrupt('kv', key, `undecodable msgpack value (${(err as Error).message})`);
  }
}

export async function get(s: StorageState, key: string): Promise<unknown> {
  checkKey(key, 'key');
  checkUsable(s);
  // get() skips the write queue, so an install can switch generations while it reads and
  // the old one's clear can hide the key: read again from the new generation. A
  // generation is cleared only once it is no longer active, so a read that ends with its
  // generation still active was not touched by a clear.
  for (let attempt = 0; ; attempt++) {
    const space = s.kvSpace;
    const bytes = await readStored(s, key, space);
    if (space === s.kvSpace || attempt >= MAX_GET_ATTEMPTS) {
      assert(space === s.kvSpace, () => `get('${key}'): the KV generation changed under ${MAX_GET_ATTEMPTS} reads in a row`);
      return bytes === null ? undefined : decodeKv(s, key, recordValue(bytes));
    }
  }
}

export async function getWithMeta(s: StorageState, key: string): Promise<({ value: unknown } & KeyMeta) | undefined> {
  checkKey(key, 'key');
  const rec = await enqueue(s, async () => readStored(s, key, s.kvSpace));
  return rec === null ? undefined : { value: decodeKv(s, key, recordValue(rec)), ...recordMeta(rec) };
}

export async function* scan(s: StorageState, options: ScanOptions = {}): AsyncGenerator<[string, unknown], void, undefined> {
  for (const bound of ['gte', 'gt', 'lte', 'lt'] as const) {
    const v = options[bound];
    if (v !== undefined && typeof v !== 'string') throw new InvalidArgumentError(`scan option ${bound} must be a string`);
  }
  if (options.limit !== undefined && !isIndex(options.limit)) throw new InvalidArgumentError(`scan limit must be an integer >= 0 (got ${String(options.limit)})`);
  if (options.limit === 0) return;
  const it = await enqueue(s, async () => {
    await flushBuffered(s);
    const prefix = kvPrefix(s.kvSpace);
    const bound = (s: string): Buffer => Buffer.concat([prefix, Buffer.from(s, 'utf8')]);
    const range: RangeOptions = { reverse: options.reverse === true };
    if (options.gt !== undefined) range.gt = bound(options.gt);
    else range.gte = bound(options.gte ?? '');
    if (options.lt !== undefined) range.lt = bound(options.lt);
    else if (options.lte !== undefined) range.lte = bound(options.lte);
    else range.lt = kvUserEnd(s.kvSpace);
    if (options.limit !== undefined) range.limit = options.limit;
    return s.db.iterator(range);
  });
  try {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let count = 0;
    for (let step = 0; count < limit; step++) {
      const batch = await it.nextv(READ_BATCH_ENTRIES).catch((err: unknown) => {
        // A damaged table shows only when read: say so with the directory, as at open.
        throw (err as { code?: unknown }).code === 'LEVEL_CORRUPTION' ? mapOpenError(s.path, err) : err;
      });
      if (batch.length === 0) return;
      for (const [k, v] of batch) {
        const key = userKeyOf(k);
        const value = decodeKv(s, key, recordValue(v));
        yield [key, options.withMeta === true ? { value, ...recordMeta(v) } : value];
        count++;
      }
    }
  } finally {
    await it.close();
  }
}
