// The KV state machine's command encoding: what a `normal` log entry carries.
//
// Wire form (msgpack tuples; op codes double as the format version space):
//   put    [1, key, valueBytes]
//   del    [2, key]
//   batch  [3, [[1, key, valueBytes] | [2, key], ...]]
//   cas    [4, key, expectedBytes | nil, valueBytes | nil]
//   clear  [5, gt | nil, gte | nil, lt | nil, lte | nil, reverse, limit]
// Values travel as their own msgpack encoding (a bin), so applying a command stores the
// bytes as they are: a value is encoded once, by the proposer, and never re-encoded.
import { InvalidArgumentError, RequestTooLargeError } from '@conclave/core';
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
/** msgpack framing of one batch operation beyond its key and value bytes, rounded up. */
const OP_OVERHEAD_BYTES = 16;

export type KvBatchOp = { readonly op: 'put'; readonly key: string; readonly value: unknown } | { readonly op: 'del'; readonly key: string };

/**
 * A KV command. Keys are non-empty strings (ordered by their UTF-8 bytes); values are any
 * msgpack value except `undefined` (Buffers, strings, numbers, arrays, plain objects...).
 * `cas`: `expected` undefined means "the key must be absent"; `value` undefined means
 * "delete the key" (compare-and-delete). Equality is deep equality of the values, whatever
 * the order of object keys (value-equality.ts).
 */
export type KvCommand =
  | KvBatchOp
  | { readonly op: 'batch'; readonly ops: readonly KvBatchOp[] }
  | { readonly op: 'cas'; readonly key: string; readonly expected?: unknown; readonly value?: unknown }
  | KvClearCommand;

/**
 * Deletes the first `limit` keys of a range (the last ones if `reverse`), in the state the
 * entry is applied to. Bounds are keys (gt/gte, lt/lte: at most one of each); no bound = open.
 */
export interface KvClearCommand {
  readonly op: 'clear';
  readonly gt?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly lte?: string;
  readonly reverse?: boolean;
  /** 1..MAX_CLEAR_KEYS. */
  readonly limit: number;
}

/** A clear as applied: bounds null when absent. */
export interface RawClear {
  readonly op: 'clear';
  readonly gt: string | null;
  readonly gte: string | null;
  readonly lt: string | null;
  readonly lte: string | null;
  readonly reverse: boolean;
  readonly limit: number;
}

const OP_PUT = 1;
const OP_DEL = 2;
const OP_BATCH = 3;
const OP_CAS = 4;
const OP_CLEAR = 5;

function clearBound(v: unknown, what: string): string | null {
  if (v === undefined || v === null) return null;
  checkKey(v, what);
  return v;
}

function checkClear(gt: unknown, gte: unknown, lt: unknown, lte: unknown, reverse: unknown, limit: unknown, what: string): RawClear {
  const c: RawClear = {
    op: 'clear',
    gt: clearBound(gt, `${what}.gt`),
    gte: clearBound(gte, `${what}.gte`),
    lt: clearBound(lt, `${what}.lt`),
    lte: clearBound(lte, `${what}.lte`),
    reverse: reverse === true,
    limit: limit as number,
  };
  if (c.gt !== null && c.gte !== null) throw new InvalidArgumentError(`${what}: give gt or gte, not both`);
  if (c.lt !== null && c.lte !== null) throw new InvalidArgumentError(`${what}: give lt or lte, not both`);
  if (reverse !== undefined && reverse !== null && typeof reverse !== 'boolean') throw new InvalidArgumentError(`${what}.reverse must be a boolean`);
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_CLEAR_KEYS) {
    throw new InvalidArgumentError(`${what}.limit must be an integer from 1 to ${MAX_CLEAR_KEYS} (got ${JSON.stringify(limit) ?? String(limit)})`);
  }
  return c;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function describe(v: unknown): string {
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

function commandObject(cmd: unknown, what: string): Record<string, unknown> {
  if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd)) {
    throw new InvalidArgumentError(`${what} must be an object with an op (got ${describe(cmd)})`);
  }
  return cmd as Record<string, unknown>;
}

/** `what.name`, or `name` alone at the top of an API call's arguments (what = ''). */
function field(what: string, name: string): string {
  return what === '' ? name : `${what}.${name}`;
}

function encodeOp(raw: unknown, what: string, inBatch: boolean): unknown[] {
  const cmd = commandObject(raw, what || 'the command');
  switch (cmd.op) {
    case 'put':
      checkKey(cmd.key, field(what, 'key'));
      return [OP_PUT, cmd.key, encodeValue(cmd.value, field(what, 'value'))];
    case 'del':
      checkKey(cmd.key, field(what, 'key'));
      return [OP_DEL, cmd.key];
    case 'batch': {
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: a batch cannot contain a batch`);
      const ops = cmd.ops;
      if (!Array.isArray(ops)) throw new InvalidArgumentError(`${field(what, 'ops')} must be an array (got ${describe(ops)})`);
      if (ops.length > MAX_BATCH_OPS) throw new InvalidArgumentError(`${field(what, 'ops')} has ${ops.length} operations; at most ${MAX_BATCH_OPS} allowed`);
      const out: unknown[] = [];
      // Bytes so far: past the limit, the rest is only measured (each value encoded and let
      // go), so that a huge batch costs no more memory than the limit to refuse.
      let sizeBytes = OP_OVERHEAD_BYTES;
      for (let i = 0; i < ops.length; i++) {
        const op = commandObject(ops[i], field(what, `ops[${i}]`));
        if (op.op !== 'put' && op.op !== 'del') {
          throw new InvalidArgumentError(`${field(what, `ops[${i}]`)}.op must be 'put' or 'del' (got ${JSON.stringify(op.op)})`);
        }
        const encoded = encodeOp(op, field(what, `ops[${i}]`), true);
        sizeBytes += opSizeBytes(encoded);
        if (sizeBytes <= MAX_COMMAND_BYTES) out.push(encoded);
      }
      if (sizeBytes > MAX_COMMAND_BYTES) throw new RequestTooLargeError(sizeBytes, MAX_COMMAND_BYTES, `${what || 'the batch'} (a batch of ${ops.length} operations)`);
      return [OP_BATCH, out];
    }
    case 'cas':
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: cas is not allowed inside a batch`);
      checkKey(cmd.key, field(what, 'key'));
      return [
        OP_CAS,
        cmd.key,
        cmd.expected === undefined ? null : encodeValue(cmd.expected, field(what, 'expected')),
        cmd.value === undefined ? null : encodeValue(cmd.value, what === '' ? 'next' : field(what, 'value')),
      ];
    case 'clear': {
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: clear is not allowed inside a batch`);
      const c = checkClear(cmd.gt, cmd.gte, cmd.lt, cmd.lte, cmd.reverse, cmd.limit, what);
      return [OP_CLEAR, c.gt, c.gte, c.lt, c.lte, c.reverse, c.limit];
    }
    default:
      throw new InvalidArgumentError(`${field(what, 'op')} must be one of put, del, batch, cas, clear (got ${JSON.stringify(cmd.op) ?? 'undefined'})`);
  }
}

/** About the encoded size of one operation tuple: its key, its value bytes and the framing. */
function opSizeBytes(op: unknown[]): number {
  let n = OP_OVERHEAD_BYTES;
  for (const x of op) {
    if (typeof x === 'string') n += Buffer.byteLength(x, 'utf8');
    else if (x instanceof Uint8Array) n += x.length;
  }
  return n;
}

/**
 * Validates and encodes a command for a `normal` entry's data. Throws InvalidArgumentError
 * naming what is wrong, or RequestTooLargeError past MAX_COMMAND_BYTES.
 */
export function encodeCommand(cmd: KvCommand, names: 'command' | 'arguments' = 'command'): Buffer {
  // 'arguments': errors name what the application passed (`value`, `ops[2].key`, `next`),
  // not the command object it never saw.
  const data = packr.pack(encodeOp(cmd, names === 'command' ? 'command' : '', false));
  if (data.length > MAX_COMMAND_BYTES) throw new RequestTooLargeError(data.length, MAX_COMMAND_BYTES, 'the command');
  return data;
}

/** A decoded command whose values are still their stored msgpack bytes. */
export type RawCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly op: 'del'; readonly key: string }
  | { readonly op: 'batch'; readonly ops: readonly ({ readonly op: 'put'; readonly key: string; readonly value: Uint8Array } | { readonly op: 'del'; readonly key: string })[] }
  | { readonly op: 'cas'; readonly key: string; readonly expected: Uint8Array | null; readonly value: Uint8Array | null }
  | RawClear;

function rawBytes(v: unknown, what: string, nullable: boolean): Uint8Array | null {
  if (v === null && nullable) return null;
  if (!(v instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be msgpack binary (got ${describe(v)})`);
  if (v.length > MAX_VALUE_BYTES) throw new InvalidArgumentError(`${what} is ${v.length} bytes; at most ${MAX_VALUE_BYTES} allowed`);
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

function decodeOp(raw: unknown, what: string, inBatch: boolean): RawCommand {
  if (!Array.isArray(raw) || raw.length === 0) throw new InvalidArgumentError(`${what} is not a command tuple`);
  const code = raw[0];
  switch (code) {
    case OP_PUT:
      if (raw.length !== 3) throw new InvalidArgumentError(`${what}: put must have 3 elements (got ${raw.length})`);
      checkKey(raw[1], `${what}.key`);
      return { op: 'put', key: raw[1], value: rawBytes(raw[2], `${what}.value`, false)! };
    case OP_DEL:
      if (raw.length !== 2) throw new InvalidArgumentError(`${what}: del must have 2 elements (got ${raw.length})`);
      checkKey(raw[1], `${what}.key`);
      return { op: 'del', key: raw[1] };
    case OP_BATCH: {
      if (inBatch) throw new InvalidArgumentError(`${what}: a batch cannot contain a batch`);
      const ops = raw[1];
      if (raw.length !== 2 || !Array.isArray(ops)) throw new InvalidArgumentError(`${what}: batch must be [3, ops[]]`);
      if (ops.length > MAX_BATCH_OPS) throw new InvalidArgumentError(`${what}.ops has ${ops.length} operations; at most ${MAX_BATCH_OPS} allowed`);
      const out: ({ op: 'put'; key: string; value: Uint8Array } | { op: 'del'; key: string })[] = [];
      for (let i = 0; i < ops.length; i++) {
        const op = decodeOp(ops[i], `${what}.ops[${i}]`, true);
        if (op.op !== 'put' && op.op !== 'del') throw new InvalidArgumentError(`${what}.ops[${i}] must be put or del`);
        out.push(op);
      }
      return { op: 'batch', ops: out };
    }
    case OP_CAS:
      if (inBatch) throw new InvalidArgumentError(`${what}: cas is not allowed inside a batch`);
      if (raw.length !== 4) throw new InvalidArgumentError(`${what}: cas must have 4 elements (got ${raw.length})`);
      checkKey(raw[1], `${what}.key`);
      return { op: 'cas', key: raw[1], expected: rawBytes(raw[2], `${what}.expected`, true), value: rawBytes(raw[3], `${what}.value`, true) };
    case OP_CLEAR:
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: clear is not allowed inside a batch`);
      if (raw.length !== 7) throw new InvalidArgumentError(`${what}: clear must have 7 elements (got ${raw.length})`);
      if (typeof raw[5] !== 'boolean') throw new InvalidArgumentError(`${what}.reverse must be a boolean`);
      return checkClear(raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], what);
    default:
      throw new InvalidArgumentError(`${what}: unknown op code ${JSON.stringify(code) ?? 'undefined'}`);
  }
}

/** Decodes and validates command bytes, keeping values as their msgpack bytes. */
export function decodeRawCommand(data: Uint8Array): RawCommand {
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('command data must be a Uint8Array');
  let raw: unknown;
  try {
    raw = strictDecode(data);
  } catch (err) {
    throw new InvalidArgumentError(`command is not valid msgpack: ${(err as Error).message}`);
  }
  return decodeOp(raw, 'command', false);
}

/** Decodes and validates command bytes into a KvCommand with decoded values. */
export function decodeCommand(data: Uint8Array): KvCommand {
  const raw = decodeRawCommand(data);
  switch (raw.op) {
    case 'put':
      return { op: 'put', key: raw.key, value: decodeValue(raw.value) };
    case 'del':
      return raw;
    case 'batch':
      return { op: 'batch', ops: raw.ops.map((o) => (o.op === 'put' ? { op: 'put', key: o.key, value: decodeValue(o.value) } : o)) };
    case 'cas': {
      const cmd: { op: 'cas'; key: string; expected?: unknown; value?: unknown } = { op: 'cas', key: raw.key };
      if (raw.expected !== null) cmd.expected = decodeValue(raw.expected);
      if (raw.value !== null) cmd.value = decodeValue(raw.value);
      return cmd;
    }
    case 'clear': {
      const out: { -readonly [K in keyof KvClearCommand]: KvClearCommand[K] } = { op: 'clear', reverse: raw.reverse, limit: raw.limit };
      for (const b of ['gt', 'gte', 'lt', 'lte'] as const) if (raw[b] !== null) out[b] = raw[b];
      return out;
    }
  }
}
