// What the KV state machine stores under a key: the value's msgpack bytes behind a small
// header with the key's revisions (etcd's meaning):
//   createRevision  the revision (log index) of the put that created the key
//   modRevision     the revision of the last put to it
//   version         puts since it was created (1 after the first)
//
// Layout: 0xc1, createRevision (8 bytes BE), modRevision (8), version (8), value bytes.
// 0xc1 is the one byte msgpack never uses, so a record without it is a bare value written
// before revisions existed: its meta reads as zeros. Snapshots carry records as they are.

/** msgpack's "never used" byte, marking a record with a header. */
const RECORD_MARK = 0xc1;
export const RECORD_HEADER_BYTES = 25;

export interface KeyMeta {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

const NO_META: KeyMeta = { createRevision: 0, modRevision: 0, version: 0 };

function writeU64(out: Buffer, n: number, at: number): void {
  out.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at);
  out.writeUInt32BE(n >>> 0, at + 4);
}

function readU64(b: Uint8Array, at: number): number {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return v.readUInt32BE(at) * 0x1_0000_0000 + v.readUInt32BE(at + 4);
}

export function encodeRecord(value: Uint8Array, meta: KeyMeta): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + value.length);
  out[0] = RECORD_MARK;
  writeU64(out, meta.createRevision, 1);
  writeU64(out, meta.modRevision, 9);
  writeU64(out, meta.version, 17);
  out.set(value, RECORD_HEADER_BYTES);
  return out;
}

function hasHeader(record: Uint8Array): boolean {
  return record.length >= RECORD_HEADER_BYTES && record[0] === RECORD_MARK;
}

/** The value's msgpack bytes inside a stored record (no copy). */
export function recordValue(record: Buffer): Buffer {
  return hasHeader(record) ? record.subarray(RECORD_HEADER_BYTES) : record;
}

export function recordMeta(record: Uint8Array): KeyMeta {
  if (!hasHeader(record)) return NO_META;
  return { createRevision: readU64(record, 1), modRevision: readU64(record, 9), version: readU64(record, 17) };
}

/** The record a put at `revision` stores, given the key's record before it (null: absent). */
export function putRecord(value: Uint8Array, previous: Buffer | null, revision: number): Buffer {
  if (previous === null) return encodeRecord(value, { createRevision: revision, modRevision: revision, version: 1 });
  const m = recordMeta(previous);
  // A bare value from before revisions: its creation is unknown, so it counts as created now.
  const created = m.createRevision === 0 ? revision : m.createRevision;
  return encodeRecord(value, { createRevision: created, modRevision: revision, version: m.version + 1 });
}
