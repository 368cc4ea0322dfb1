// The snapshot stream's chunk format: a msgpack tuple
//   [CHUNK_FORMAT, seq, last, [key1, value1, key2, value2, ...]]
// keys are strings, values the stored msgpack bytes of each value (bin). `seq` counts from
// 0 and `last` marks the final chunk, so the receiver notices a lost, repeated or missing
// chunk before it switches to the new state.
import { checkLeaseSnapshotPair } from './leases.js';
import { RECORD_HEADER_BYTES, recordValue } from './kv-record.js';
import { InvalidArgumentError } from '@conclave/core';
import { packr, strictDecode } from './codec.js';
import { checkKey, MAX_VALUE_BYTES } from './command.js';
import { SNAPSHOT_CHUNK_MAX_BYTES } from './defaults.js';

export const CHUNK_FORMAT = 1;
/** Bytes of the tuple around the pairs, at most (fixarray, format, uint32 seq, bool, array32 header). */
export const CHUNK_HEADER_MAX_BYTES = 16;
/** Bytes msgpack adds around one pair, at most (str32 header + bin32 header). */
export const PAIR_OVERHEAD_MAX_BYTES = 10;

export interface DecodedChunk {
  readonly seq: number;
  readonly last: boolean;
  /** [key, stored value bytes] pairs. */
  readonly pairs: readonly (readonly [string | Uint8Array, Uint8Array])[];
}

/** `pairs` alternates key and value bytes. */
export function encodeChunk(seq: number, last: boolean, pairs: readonly (string | Uint8Array)[]): Buffer {
  const bytes = packr.pack([CHUNK_FORMAT, seq, last, pairs]);
  if (bytes.length > SNAPSHOT_CHUNK_MAX_BYTES) {
    // Cannot happen: keys and values are bounded so that one pair always fits.
    throw new InvalidArgumentError(`snapshot chunk ${seq} is ${bytes.length} bytes, over ${SNAPSHOT_CHUNK_MAX_BYTES}`);
  }
  return bytes;
}

/** Validates a received chunk; throws InvalidArgumentError naming the chunk and what is wrong. */
export function decodeChunk(chunk: Uint8Array): DecodedChunk {
  if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError('snapshot chunk must be a Uint8Array');
  if (chunk.length > SNAPSHOT_CHUNK_MAX_BYTES) {
    throw new InvalidArgumentError(`snapshot chunk is ${chunk.length} bytes, over ${SNAPSHOT_CHUNK_MAX_BYTES}`);
  }
  let raw: unknown;
  try {
    raw = strictDecode(chunk);
  } catch (err) {
    throw new InvalidArgumentError(`snapshot chunk is not valid msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw) || raw.length !== 4 || raw[0] !== CHUNK_FORMAT) {
    throw new InvalidArgumentError(`snapshot chunk is not a [${CHUNK_FORMAT}, seq, last, pairs] tuple`);
  }
  const [, seq, last, flat] = raw as [number, unknown, unknown, unknown];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new InvalidArgumentError(`snapshot chunk has a bad sequence number ${String(seq)}`);
  if (typeof last !== 'boolean') throw new InvalidArgumentError(`snapshot chunk ${seq} has a non-boolean last flag`);
  if (!Array.isArray(flat) || flat.length % 2 !== 0) throw new InvalidArgumentError(`snapshot chunk ${seq} pairs must be an array of even length`);
  const pairs: [string | Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const key: unknown = flat[i];
    const value: unknown = flat[i + 1];
    if (key instanceof Uint8Array && value instanceof Uint8Array) {
      // A lease record (leases.ts): its key bytes after the KV prefix.
      checkLeaseSnapshotPair(key, value, `snapshot chunk ${seq} pair #${i / 2}`);
      pairs.push([key, value]);
      continue;
    }
    checkKey(key, `snapshot chunk ${seq} key #${i / 2}`);
    if (!(value instanceof Uint8Array) || value.length > MAX_VALUE_BYTES + RECORD_HEADER_BYTES) {
      throw new InvalidArgumentError(`snapshot chunk ${seq} value of key ${JSON.stringify(key)} must be binary of at most ${MAX_VALUE_BYTES + RECORD_HEADER_BYTES} bytes`);
    }
    try {
      // Values travel as stored: a record of the value and its revisions (kv-record.ts).
      if (strictDecode(recordValue(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) === undefined) throw new Error('a value must not be undefined');
    } catch (err) {
      throw new InvalidArgumentError(`snapshot chunk ${seq} value of key ${JSON.stringify(key)} is not valid msgpack: ${(err as Error).message}`);
    }
    pairs.push([key, value]);
  }
  return { seq, last, pairs };
}
