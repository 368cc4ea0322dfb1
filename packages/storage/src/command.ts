// The KV state machine's command encoding: what a `normal` log entry carries.
//
// Wire form (msgpack tuples; op codes double as the format version space):
//   put    [1, key, valueBytes]
//   del    [2, key]
//   batch  [3, [[1, key, valueBytes] | [2, key], ...]]
//   cas    [4, key, expectedBytes | nil, valueBytes | nil]
//   clear  [5, gt | nil, gte | nil, lt | nil, lte | nil, reverse, limit]
//   txn    [6, compares, then, else] (txn-command.ts)
//   put    [1, key, valueBytes, leaseId]   a put attached to a lease (leases.ts)
//   leaseGrant   [7, ttlMs]                the lease's id is the entry's revision
//   leaseRevoke  [8, leaseId]              deletes the lease's keys in the same entry
// Values travel as their own msgpack encoding (a bin), so applying a command stores the
// bytes as they are: a value is encoded once, by the proposer, and never re-encoded.
import { InvalidArgumentError, RequestTooLargeError } from '@conclave/core';
import { packr, strictDecode } from './codec.js';
import { checkLeaseId, isTtlMs, MAX_LEASE_TTL_MS } from './leases.js';
import { decodeTxnBody, encodeTxnBody, type RawTxn, type TxnRequest } from './txn-command.js';
import { checkKey, commandObject, decodeValue, describe, encodeValue, field, MAX_BATCH_OPS, MAX_CLEAR_KEYS, MAX_COMMAND_BYTES, rawBytes } from './command-values.js';

export { checkKey, decodeValue, encodeValue, MAX_BATCH_OPS, MAX_CLEAR_KEYS, MAX_COMMAND_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './command-values.js';

/** msgpack framing of one batch operation beyond its key and value bytes, rounded up. */
const OP_OVERHEAD_BYTES = 16;

export type KvBatchOp = { readonly op: 'put'; readonly key: string; readonly value: unknown; /** Attach the key to this lease (0 or absent: none). */ readonly lease?: number } | { readonly op: 'del'; readonly key: string };

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
  | KvClearCommand
  | KvTxnCommand
  | KvLeaseCommand;

/** Grants a lease (its id is the entry's revision) or revokes one with its keys. */
export type KvLeaseCommand = { readonly op: 'leaseGrant'; readonly ttlMs: number } | { readonly op: 'leaseRevoke'; readonly id: number };

/** A transaction (txn-command.ts): one log entry, applied atomically. */
export type KvTxnCommand = { readonly op: 'txn' } & TxnRequest;

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
const OP_TXN = 6;
const OP_LEASE_GRANT = 7;
const OP_LEASE_REVOKE = 8;

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




function encodeOp(raw: unknown, what: string, inBatch: boolean): unknown[] {
  const cmd = commandObject(raw, what || 'the command');
  switch (cmd.op) {
    case 'put':
      checkKey(cmd.key, field(what, 'key'));
      // The lease travels only when set, so a put without one keeps its old form.
      if (cmd.lease !== undefined && cmd.lease !== 0) return [OP_PUT, cmd.key, encodeValue(cmd.value, field(what, 'value')), checkLeaseId(cmd.lease, field(what, 'lease'), false)];
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
    case 'txn':
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: txn is not allowed inside a batch`);
      return [OP_TXN, ...encodeTxnBody(cmd, what)];
    case 'leaseGrant':
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: leaseGrant is not allowed inside a batch`);
      if (!isTtlMs(cmd.ttlMs)) throw new InvalidArgumentError(`${field(what, 'ttlMs')} must be an integer from 1 to ${MAX_LEASE_TTL_MS} (got ${JSON.stringify(cmd.ttlMs) ?? String(cmd.ttlMs)})`);
      return [OP_LEASE_GRANT, cmd.ttlMs];
    case 'leaseRevoke':
      if (inBatch) throw new InvalidArgumentError(`${what || 'the command'}: leaseRevoke is not allowed inside a batch`);
      return [OP_LEASE_REVOKE, checkLeaseId(cmd.id, field(what, 'id'), false)];
    default:
      throw new InvalidArgumentError(`${field(what, 'op')} must be one of put, del, batch, cas, clear, txn, leaseGrant, leaseRevoke (got ${JSON.stringify(cmd.op) ?? 'undefined'})`);
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
  | RawPut
  | { readonly op: 'del'; readonly key: string }
  | { readonly op: 'batch'; readonly ops: readonly (RawPut | { readonly op: 'del'; readonly key: string })[] }
  | { readonly op: 'cas'; readonly key: string; readonly expected: Uint8Array | null; readonly value: Uint8Array | null }
  | RawClear
  | RawTxn
  | { readonly op: 'leaseGrant'; readonly ttlMs: number }
  | { readonly op: 'leaseRevoke'; readonly id: number };

/** `lease` 0: the put attaches the key to no lease. */
export type RawPut = { readonly op: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease: number };


function decodeOp(raw: unknown, what: string, inBatch: boolean): RawCommand {
  if (!Array.isArray(raw) || raw.length === 0) throw new InvalidArgumentError(`${what} is not a command tuple`);
  const code = raw[0];
  switch (code) {
    case OP_PUT:
      if (raw.length !== 3 && raw.length !== 4) throw new InvalidArgumentError(`${what}: put must have 3 or 4 elements (got ${raw.length})`);
      checkKey(raw[1], `${what}.key`);
      return { op: 'put', key: raw[1], value: rawBytes(raw[2], `${what}.value`, false)!, lease: raw.length === 4 ? checkLeaseId(raw[3], `${what}.lease`, false) : 0 };
    case OP_DEL:
      if (raw.length !== 2) throw new InvalidArgumentError(`${what}: del must have 2 elements (got ${raw.length})`);
      checkKey(raw[1], `${what}.key`);
      return { op: 'del', key: raw[1] };
    case OP_BATCH: {
      if (inBatch) throw new InvalidArgumentError(`${what}: a batch cannot contain a batch`);
      const ops = raw[1];
      if (raw.length !== 2 || !Array.isArray(ops)) throw new InvalidArgumentError(`${what}: batch must be [3, ops[]]`);
      if (ops.length > MAX_BATCH_OPS) throw new InvalidArgumentError(`${what}.ops has ${ops.length} operations; at most ${MAX_BATCH_OPS} allowed`);
      const out: (RawPut | { op: 'del'; key: string })[] = [];
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
    case OP_TXN:
      if (inBatch) throw new InvalidArgumentError(`${what}: txn is not allowed inside a batch`);
      return decodeTxnBody(raw, what);
    case OP_LEASE_GRANT:
      if (inBatch) throw new InvalidArgumentError(`${what}: leaseGrant is not allowed inside a batch`);
      if (raw.length !== 2 || !isTtlMs(raw[1])) throw new InvalidArgumentError(`${what}: leaseGrant must be [7, ttlMs from 1 to ${MAX_LEASE_TTL_MS}]`);
      return { op: 'leaseGrant', ttlMs: raw[1] };
    case OP_LEASE_REVOKE:
      if (inBatch) throw new InvalidArgumentError(`${what}: leaseRevoke is not allowed inside a batch`);
      if (raw.length !== 2) throw new InvalidArgumentError(`${what}: leaseRevoke must be [8, leaseId]`);
      return { op: 'leaseRevoke', id: checkLeaseId(raw[1], `${what}.id`, false) };
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
      return raw.lease === 0 ? { op: 'put', key: raw.key, value: decodeValue(raw.value) } : { op: 'put', key: raw.key, value: decodeValue(raw.value), lease: raw.lease };
    case 'del':
    case 'leaseGrant':
    case 'leaseRevoke':
      return raw;
    case 'batch':
      return { op: 'batch', ops: raw.ops.map((o) => (o.op === 'put' ? (o.lease === 0 ? { op: 'put', key: o.key, value: decodeValue(o.value) } : { op: 'put', key: o.key, value: decodeValue(o.value), lease: o.lease }) : o)) };
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
    case 'txn':
      return decodedTxn(raw);
  }
}

/** A decoded transaction in the form the application wrote it (ranges as gte/lt). */
function decodedTxn(raw: RawTxn): KvTxnCommand {
  const op = (o: RawTxn['then'][number]): TxnRequest['then'] extends readonly (infer T)[] | undefined ? T : never => {
    switch (o.op) {
      case 'put':
        return o.lease === 0 ? { op: 'put', key: o.key, value: decodeValue(o.value) } : { op: 'put', key: o.key, value: decodeValue(o.value), lease: o.lease };
      case 'delete':
      case 'get':
        return { op: o.op, key: o.key };
      case 'deleteRange':
        return o.lt === null ? { op: 'deleteRange', gte: o.gte } : { op: 'deleteRange', gte: o.gte, lt: o.lt };
      case 'range':
        return { op: 'range', gte: o.gte, ...(o.lt === null ? {} : { lt: o.lt }), limit: o.limit, keysOnly: o.keysOnly };
    }
  };
  return {
    op: 'txn',
    if: raw.compares.map((c) => ({ key: c.key, target: c.target, op: c.op, value: c.operand instanceof Uint8Array ? decodeValue(c.operand) : c.operand })),
    then: raw.then.map(op),
    else: raw.else.map(op),
  };
}
