// Reads that check what they read: single records, the settings, the log. A record
// that does not decode or breaks the log's shape is a StorageCorruptError naming its key
// space and index or key.
import type { Entry } from '@conclave/core';
import { BadRecord, decodeEntry, isIndex, unpackOrBad } from './codec.js';
import { MAX_RECORDS_PER_OPEN_SCAN, READ_BATCH_BYTES, READ_BATCH_ENTRIES } from './defaults.js';
import { StorageCorruptError, type KeySpace } from './errors.js';
import { LOG_RANGE, logIndexOf, settingName, SETTINGS_RANGE } from './keys.js';
import type { RawDb, RawIterator } from './raw-db.js';
import { DEFAULT_SETTINGS, overrideSpanProblem, type LocalSettings } from './storage-types.js';
import type { TermIndex } from './term-index.js';

/** Reads one record; undefined if absent, StorageCorruptError naming its key space if undecodable. */
export async function readRecord<T>(db: RawDb, path: string, key: Buffer, space: KeySpace, decodeFn: (b: Buffer) => T): Promise<T | undefined> {
  const bytes = await db.get(key);
  if (bytes === undefined) return undefined;
  try {
    return decodeFn(bytes);
  } catch (err) {
    if (err instanceof BadRecord) throw new StorageCorruptError(path, space, null, err.message);
    throw err;
  }
}

export async function readSettings(db: RawDb, path: string): Promise<LocalSettings> {
  const it = db.iterator(SETTINGS_RANGE);
  const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  try {
    for (let step = 0; step < MAX_RECORDS_PER_OPEN_SCAN; step++) {
      const batch = await it.nextv(READ_BATCH_ENTRIES);
      if (batch.length === 0) break;
      for (const [key, value] of batch) {
        const name = settingName(key);
        let v: unknown;
        try {
          v = unpackOrBad(value);
        } catch (err) {
          throw new StorageCorruptError(path, 'settings', name, (err as Error).message);
        }
        if (name === 'electableGroupSizeOverride' && !isIndex(v)) throw new StorageCorruptError(path, 'settings', name, `not an integer >= 0: ${String(v)}`);
        if (name === 'overrideSpan') {
          const problem = overrideSpanProblem(v);
          if (problem !== null) throw new StorageCorruptError(path, 'settings', name, problem);
        }
        settings[name] = v; // unknown names (from a newer build) are kept, not interpreted
      }
    }
  } finally {
    await it.close();
  }
  return settings as unknown as LocalSettings;
}

/**
 * How many records the next iterator step may take so that it holds about READ_BATCH_BYTES:
 * a step of 1000 entries of 512 KiB would be 500 MiB at once.
 */
export class ReadStep {
  private largestBytes = 0;
  constructor(private readonly first = 16) {}
  saw(bytes: number): void {
    if (bytes > this.largestBytes) this.largestBytes = bytes;
  }
  get count(): number {
    if (this.largestBytes === 0) return this.first;
    return Math.max(1, Math.min(READ_BATCH_ENTRIES, Math.floor(READ_BATCH_BYTES / this.largestBytes)));
  }
}

/**
 * Reads and checks the whole log after the compaction point, filling `terms` (a fresh
 * index) and `onRecord` (each entry's stored size), in steps of bounded bytes.
 */
export async function readWholeLog(db: RawDb, path: string, terms: TermIndex, onRecord: (index: number, bytes: number) => void = () => {}): Promise<Entry[]> {
  const compacted = terms.compacted;
  const it = db.iterator(LOG_RANGE);
  const entries: Entry[] = [];
  let expected = compacted.index + 1;
  let prevTerm = compacted.term;
  const step = new ReadStep();
  try {
    for (let n = 0; n < MAX_RECORDS_PER_OPEN_SCAN; n++) {
      const batch = await it.nextv(step.count);
      if (batch.length === 0) break;
      for (const [key, value] of batch) {
        step.saw(value.length);
        onRecord(logIndexOf(key), value.length);
        const index = logIndexOf(key);
        if (index < 0) throw new StorageCorruptError(path, 'log', key.toString('hex'), 'malformed log key');
        if (index !== expected) {
          throw new StorageCorruptError(path, 'log', index, index <= compacted.index ? `entry at or below the compaction point ${compacted.index}` : `gap in the log: expected index ${expected}`);
        }
        const entry = decodeLogRecord(path, index, value);
        if (entry.term < prevTerm) throw new StorageCorruptError(path, 'log', index, `term ${entry.term} is below the previous term ${prevTerm}`);
        terms.push(index, entry.term);
        entries.push(entry);
        prevTerm = entry.term;
        expected++;
      }
    }
  } finally {
    await it.close();
  }
  return entries;
}

/** Decodes the log record stored at `index`; a bad record is a StorageCorruptError naming it. */
function decodeLogRecord(path: string, index: number, value: Uint8Array): Entry {
  let entry: Entry;
  try {
    entry = decodeEntry(value);
  } catch (err) {
    if (err instanceof BadRecord) throw new StorageCorruptError(path, 'log', index, err.message);
    throw err;
  }
  if (entry.index !== index) throw new StorageCorruptError(path, 'log', index, `the record carries index ${entry.index}`);
  return entry;
}

/** Reads entries [lo, hi) from an iterator over that range, stopping once past maxBytes (at least one). */
export async function readLogRange(it: RawIterator, path: string, lo: number, hi: number, maxBytes: number): Promise<Entry[]> {
  const out: Entry[] = [];
  let bytes = 0;
  const step = new ReadStep();
  try {
    for (let expected = lo; expected < hi; ) {
      const batch = await it.nextv(Math.min(step.count, hi - expected));
      if (batch.length === 0) throw new StorageCorruptError(path, 'log', expected, `entry missing (reading [${lo}, ${hi}))`);
      for (const [key, value] of batch) {
        const index = logIndexOf(key);
        if (index !== expected) throw new StorageCorruptError(path, 'log', index < 0 ? key.toString('hex') : index, `expected index ${expected}`);
        const entry = decodeLogRecord(path, index, value);
        step.saw(value.length);
        bytes += value.length;
        if (out.length > 0 && bytes > maxBytes) return out;
        out.push(entry);
        expected++;
      }
    }
    return out;
  } finally {
    await it.close();
  }
}
