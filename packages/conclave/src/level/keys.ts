// How ConclaveLevel's byte keys and values live in the node's KV space. Node keys are
// strings ordered by their UTF-8 bytes; a level key's bytes become the Latin-1 characters
// of the same codes (U+0000..U+00FF), whose UTF-8 order is the bytes' own order. Every
// level key gets the prefix U+0000, so the empty key is a node key too, and level data
// keeps to its own range of the node's key space.
import { decodeValue, type KvRange } from '@conclave/storage';

export const LEVEL_KEY_PREFIX = '\u0000';
/** The first node key after every level key. */
const LEVEL_KEYS_END = '\u0001';

export function nodeKey(key: Uint8Array): string {
  return LEVEL_KEY_PREFIX + Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function levelKey(key: string): Buffer {
  return Buffer.from(key.slice(1), 'latin1');
}

/** The stored value (a msgpack bin) as a Buffer; a level value is always bytes. */
export function levelValue(stored: Uint8Array, key: string): Buffer {
  return asBuffer(decodeValue(stored), key);
}

export function asBuffer(value: unknown, key: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  // Written under the level prefix through the node's own API with a non-bytes value.
  throw new LevelDecodeError(`the value of ${JSON.stringify(key)} is not bytes (${typeof value}): it was not written through ConclaveLevel`);
}

/** abstract-level's own code for a value that cannot be decoded. */
export class LevelDecodeError extends Error {
  readonly code = 'LEVEL_DECODE_ERROR';
}

export interface LevelRange {
  readonly gt?: Uint8Array;
  readonly gte?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly lte?: Uint8Array;
  readonly reverse?: boolean;
}

/** A level range as a node key range, always inside the level prefix; gte wins over gt, lte over lt (as abstract-level says). */
export function nodeRange(r: LevelRange): KvRange {
  const out: { gt?: string; gte?: string; lt?: string; lte?: string; reverse?: boolean } = { reverse: r.reverse === true };
  if (r.gte !== undefined && r.gte !== null) out.gte = nodeKey(r.gte);
  else if (r.gt !== undefined && r.gt !== null) out.gt = nodeKey(r.gt);
  else out.gte = LEVEL_KEY_PREFIX;
  if (r.lte !== undefined && r.lte !== null) out.lte = nodeKey(r.lte);
  else if (r.lt !== undefined && r.lt !== null) out.lt = nodeKey(r.lt);
  else out.lt = LEVEL_KEYS_END;
  return out;
}
