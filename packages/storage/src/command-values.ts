// The values and keys commands carry: their checks, limits and encoding (shared by the
// plain commands in command.ts and transactions in txn-command.ts).
import { InvalidArgumentError } from '@conclave/core';
import { packr, strictDecode } from './codec.js';

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 8 * 1024;
/** Largest value, in bytes of its msgpack encoding; keeps one key/value pair inside a 1 MiB snapshot chunk. */
export const MAX_VALUE_BYTES = 1024 * 1024 - 16 * 1024;
/** Most operations in one batch command. */
export const MAX_BATCH_OPS = 10_000;
/**
 * Largest encoded command: one log entry, so one Raft append, which must fit a transport
 * frame (16 MiB) with room to spare; bigger writes are refused with RequestTooLargeError.
 */
export const MAX_COMMAND_BYTES = 4 * 1024 * 1024;
/**
 * Most keys one clear entry deletes. The limit travels in the entry, so every member deletes
 * the same keys (the first `limit` in range of the same state) whatever its version; a
 * bigger clear is several entries (see ConclaveLevel's clear). It bounds an apply's memory.
 */
export const MAX_CLEAR_KEYS = 1000;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

/** Throws InvalidArgumentError unless `key` is a usable KV key; `what` names it in the message. */
export function checkKey(key: unknown, what: string): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string (got ${describe(key)})`);
  }
  // A lone surrogate has no UTF-8 form: two different JS strings would map to one key.
  if (LONE_SURROGATE.test(key)) throw new InvalidArgumentError(`${what} contains a lone UTF-16 surrogate`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new InvalidArgumentError(`${what} is ${bytes} bytes of UTF-8; at most ${MAX_KEY_BYTES} allowed`);
}

/** Encodes a KV value as stored; throws InvalidArgumentError naming `what`. */
export function encodeValue(value: unknown, what: string): Buffer {
  if (value === undefined) throw new InvalidArgumentError(`${what} must not be undefined`);
  // msgpackr would silently encode a function as undefined.
  if (typeof value === 'function' || typeof value === 'symbol') throw new InvalidArgumentError(`${what} must be a msgpack value (got ${typeof value})`);
  let bytes: Buffer;
  try {
    bytes = packr.pack(value);
  } catch (err) {
    throw new InvalidArgumentError(`${what} cannot be encoded as msgpack: ${(err as Error).message}`);
  }
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new InvalidArgumentError(`${what} is ${bytes.length} bytes encoded; at most ${MAX_VALUE_BYTES} allowed`);
  }
  return bytes;
}

export function decodeValue(bytes: Uint8Array): unknown {
  return strictDecode(bytes);
}

export function commandObject(cmd: unknown, what: string): Record<string, unknown> {
  if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd)) {
    throw new InvalidArgumentError(`${what} must be an object with an op (got ${describe(cmd)})`);
  }
  return cmd as Record<string, unknown>;
}

/** `what.name`, or `name` alone at the top of an API call's arguments (what = ''). */
export function field(what: string, name: string): string {
  return what === '' ? name : `${what}.${name}`;
}

/**
 * True when `v` is exactly one msgpack string or byte array: its header's length covers the
 * rest of the bytes. Such a value always decodes (msgpackr decodes any bytes of a string,
 * invalid UTF-8 included, without throwing), so it is valid without decoding it.
 */
export function isWholeStrOrBin(v: Uint8Array): boolean {
  if (v.length === 0) return false;
  const t = v[0]!;
  let header: number;
  let length: number;
  if (t >= 0xa0 && t <= 0xbf) {
    header = 1; // fixstr
    length = t & 0x1f;
  } else if (t === 0xd9 || t === 0xc4) {
    header = 2; // str8, bin8
    length = v.length >= 2 ? v[1]! : -1;
  } else if (t === 0xda || t === 0xc5) {
    header = 3; // str16, bin16
    length = v.length >= 3 ? (v[1]! << 8) | v[2]! : -1;
  } else if (t === 0xdb || t === 0xc6) {
    header = 5; // str32, bin32
    length = v.length >= 5 ? v[1]! * 0x100_0000 + ((v[2]! << 16) | (v[3]! << 8) | v[4]!) : -1;
  } else {
    return false;
  }
  return length >= 0 && header + length === v.length;
}

export function rawBytes(v: unknown, what: string, nullable: boolean): Uint8Array | null {
  if (v === null && nullable) return null;
  if (!(v instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be msgpack binary (got ${describe(v)})`);
  if (v.length > MAX_VALUE_BYTES) throw new InvalidArgumentError(`${what} is ${v.length} bytes; at most ${MAX_VALUE_BYTES} allowed`);
  if (isWholeStrOrBin(v)) return v;
  let decoded: unknown;
  try {
    // Values are checked once here so that a stored value is always decodable.
    decoded = strictDecode(v);
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not a valid msgpack value: ${(err as Error).message}`);
  }
  if (decoded === undefined) throw new InvalidArgumentError(`${what} must not be undefined`);
  return v;
}
