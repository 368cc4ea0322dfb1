// Value encodings for every record the storage writes. One Packr for the whole package.
//
// Records are NOT used (useRecords: false): a record's structure would have to be stored
// durably beside the data and kept forever, and every value here must stay decodable
// without that side state. Hot records (log entries, hard state) are small fixed tuples,
// which msgpack encodes about as compactly as a record would.
import { C1, Packr } from 'msgpackr';
import type { ConfChange, Entry, EntryType, GroupMetadata, HardState, SnapshotMeta } from '@conclave/core';
import { confChangeProblem, validateGroup } from '@conclave/core';

export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/** Most containers strictDecode walks before giving up: a bound, not a limit real values reach. */
const MAX_CONTAINERS_WALKED = 1_000_000;

/**
 * Unpacks and refuses what msgpackr lets through: trailing bytes throw in msgpackr itself,
 * but the never-used byte 0xC1 decodes to a sentinel object instead of failing.
 */
export function strictDecode(bytes: Uint8Array): unknown {
  const value: unknown = packr.unpack(bytes);
  if (value === C1) throw new Error('the never-used byte 0xC1');
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  const stack: object[] = [value];
  for (let walked = 0; stack.length > 0; walked++) {
    if (walked >= MAX_CONTAINERS_WALKED) throw new Error(`more than ${MAX_CONTAINERS_WALKED} nested containers`);
    const node = stack.pop()!;
    const children: unknown[] = Array.isArray(node) ? node : node instanceof Map ? [...node.keys(), ...node.values()] : Object.values(node);
    for (const child of children) {
      if (child === C1) throw new Error('the never-used byte 0xC1');
      if (typeof child === 'object' && child !== null && !(child instanceof Uint8Array) && !(child instanceof Date)) stack.push(child);
    }
  }
  return value;
}

/** Throws on bad msgpack (including trailing bytes and 0xC1); callers wrap it with context. */
export function decode(bytes: Uint8Array): unknown {
  return strictDecode(bytes);
}

/** Thrown by the decoders below; the caller turns it into a StorageCorruptError with the key. */
export class BadRecord extends Error {}

/** A non-negative safe integer: an index, a term or a count. */
export function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

const TYPE_CODES: Record<EntryType, number> = { normal: 0, noop: 1, conf: 2 };
const TYPES: readonly EntryType[] = ['normal', 'noop', 'conf'];

/** Log entry: [index, term, typeCode, data] or [index, term, 2, data, change] for conf. */
export function encodeEntry(entry: Entry): Buffer {
  const code = TYPE_CODES[entry.type];
  if (entry.change === undefined && code !== undefined && entry.data instanceof Uint8Array) {
    const direct = encodePlainEntry(entry.index, entry.term, code, entry.data);
    if (direct !== null) return direct;
  }
  return entry.change === undefined
    ? packr.pack([entry.index, entry.term, code, entry.data])
    : packr.pack([entry.index, entry.term, code, entry.data, entry.change]);
}

/** Bytes msgpackr writes here for an unsigned 32-bit integer (useRecords false: fixint up to 0x7f). */
function uintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** A msgpack header whose 8-, 16- or 32-bit length or value follows its tag byte. */
function writeSized(out: Buffer, at: number, n: number, tag8: number, tag16: number, tag32: number): number {
  if (n < 0x100) {
    out[at] = tag8;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = tag16;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  out[at] = tag32;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}

function writeUint(out: Buffer, at: number, n: number): number {
  if (n >= 0x80) return writeSized(out, at, n, 0xcc, 0xcd, 0xce);
  out[at] = n;
  return at + 1;
}

/**
 * The bytes packr.pack([index, term, code, data]) gives (test: codec-entry), written into
 * one buffer of the exact size: the entry is encoded on every append of every member, and
 * msgpackr's general path costs more, and for large data allocates 4x the size in buffers
 * that the stored views keep alive. null (use packr) past 32-bit index or term.
 */
function encodePlainEntry(index: number, term: number, code: number, data: Uint8Array): Buffer | null {
  if (index >>> 0 !== index || term >>> 0 !== term) return null;
  const len = data.byteLength;
  const binHeader = len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
  const out = Buffer.allocUnsafe(1 + uintBytes(index) + uintBytes(term) + 1 + binHeader + len);
  out[0] = 0x94; // fixarray of 4
  let at = writeUint(out, 1, index);
  at = writeUint(out, at, term);
  out[at++] = code;
  at = writeSized(out, at, len, 0xc4, 0xc5, 0xc6);
  out.set(data, at);
  return out;
}

export function decodeEntry(bytes: Uint8Array): Entry {
  const raw = unpackOrBad(bytes);
  if (!Array.isArray(raw) || (raw.length !== 4 && raw.length !== 5)) throw new BadRecord('not a 4- or 5-element entry tuple');
  const [index, term, code, data, change] = raw as [unknown, unknown, unknown, unknown, unknown];
  if (!isIndex(index)) throw new BadRecord(`bad entry index ${String(index)}`);
  if (!isIndex(term)) throw new BadRecord(`bad entry term ${String(term)}`);
  const type = typeof code === 'number' ? TYPES[code] : undefined;
  if (type === undefined) throw new BadRecord(`unknown entry type code ${String(code)}`);
  if (!(data instanceof Uint8Array)) throw new BadRecord('entry data is not binary');
  if (type === 'conf') {
    return { index, term, type, data, change: checkConfChange(change) };
  }
  if (raw.length === 5) throw new BadRecord(`a ${type} entry carries a conf change`);
  return { index, term, type, data };
}

function checkConfChange(raw: unknown): ConfChange {
  const problem = confChangeProblem(raw);
  if (problem) throw new BadRecord(`conf entry: ${problem}`);
  return raw as ConfChange;
}

export function encodeHardState(hs: HardState): Buffer {
  return packr.pack([hs.term, hs.vote, hs.commit]);
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const raw = unpackOrBad(bytes);
  if (!Array.isArray(raw) || raw.length !== 3) throw new BadRecord('not a [term, vote, commit] tuple');
  const [term, vote, commit] = raw as [unknown, unknown, unknown];
  if (!isIndex(term)) throw new BadRecord(`bad term ${String(term)}`);
  if (typeof vote !== 'string') throw new BadRecord('vote is not a string');
  if (!isIndex(commit)) throw new BadRecord(`bad commit ${String(commit)}`);
  return { term, vote, commit };
}

export function decodeGroup(bytes: Uint8Array): GroupMetadata {
  const raw = unpackOrBad(bytes);
  try {
    return validateGroup(raw as GroupMetadata);
  } catch (err) {
    throw new BadRecord((err as Error).message);
  }
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Buffer {
  return packr.pack({ index: meta.index, term: meta.term, group: meta.group });
}

export function checkSnapshotMeta(raw: unknown): SnapshotMeta {
  const m = raw as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null) throw new BadRecord('snapshot meta is not a map');
  if (!isIndex(m.index) || !isIndex(m.term)) throw new BadRecord('snapshot meta has a bad index or term');
  let group: GroupMetadata;
  try {
    group = validateGroup(m.group as GroupMetadata);
  } catch (err) {
    throw new BadRecord(`snapshot meta group: ${(err as Error).message}`);
  }
  return { index: m.index, term: m.term, group };
}

export function decodeSnapshotMeta(bytes: Uint8Array): SnapshotMeta {
  return checkSnapshotMeta(unpackOrBad(bytes));
}

/** A log position: the compaction point is the (index, term) of the last entry removed. */
export interface LogPosition {
  readonly index: number;
  readonly term: number;
}

export function encodePosition(p: LogPosition): Buffer {
  return packr.pack([p.index, p.term]);
}

export function decodePosition(bytes: Uint8Array): LogPosition {
  const raw = unpackOrBad(bytes);
  if (!Array.isArray(raw) || raw.length !== 2 || !isIndex(raw[0]) || !isIndex(raw[1])) throw new BadRecord('not an [index, term] tuple');
  return { index: raw[0], term: raw[1] };
}

export function decodeIndex(bytes: Uint8Array): number {
  const raw = unpackOrBad(bytes);
  if (!isIndex(raw)) throw new BadRecord(`not an index: ${String(raw)}`);
  return raw;
}

export function unpackOrBad(bytes: Uint8Array): unknown {
  try {
    return strictDecode(bytes);
  } catch (err) {
    throw new BadRecord(`undecodable msgpack (${(err as Error).message})`);
  }
}
