// Transactions (etcd's Txn): compares, then the `then` or the `else` operations, in ONE log
// entry applied atomically on every member.
//
// Wire form (msgpack tuples, inside command op 6):
//   [6, compares[], then[], else[]]
//   compare      [key, target, cmp, operand]   target 0 value, 1 version, 2 modRevision,
//                                              3 createRevision, 4 exists; cmp 0 ==, 1 !=, 2 <, 3 >
//                operand: the value's msgpack bytes (value), an integer, or a boolean (exists)
//   put          [1, key, valueBytes]
//   delete       [2, key]
//   deleteRange  [7, gte, lt | nil]               lt nil: to the end of the key space
//   get          [8, key]
//   range        [9, gte, lt | nil, limit, keysOnly]
import { InvalidArgumentError, prefixEnd } from '@conclave/core';

export { prefixEnd };
import { checkKey, commandObject, describe, encodeValue, field, rawBytes } from './command-values.js';
import { checkLeaseId } from './leases.js';

/** Most compares, and most operations in each branch, of one transaction (etcd allows 128 by default). */
export const MAX_TXN_OPS = 1000;
/** Most keys one transaction deletes with deleteRange; past it the transaction fails whole at apply. */
export const MAX_TXN_DELETE_KEYS = 10_000;
/** Most pairs one range operation returns (and its default limit). */
export const MAX_TXN_RANGE_KEYS = 1000;
/** Bytes of values all range operations of one transaction return; past it a range stops with `more`. */
export const MAX_TXN_READ_BYTES = 4 * 1024 * 1024;

export type TxnTarget = 'value' | 'version' | 'modRevision' | 'createRevision' | 'exists';
export type TxnCompareOp = '==' | '!=' | '<' | '>';
const TARGETS: readonly TxnTarget[] = ['value', 'version', 'modRevision', 'createRevision', 'exists'];
const CMPS: readonly TxnCompareOp[] = ['==', '!=', '<', '>'];

export interface TxnCompare {
  readonly key: string;
  readonly target: TxnTarget;
  readonly op: TxnCompareOp;
  /** target value: any msgpack value; version and revisions: an integer >= 0; exists: a boolean. */
  readonly value: unknown;
}

/** A key range: `prefix`, or `gte` with an optional `lt` (none: to the end). */
export type TxnRange = { readonly prefix: string } | { readonly gte: string; readonly lt?: string };

export type TxnOp =
  | { readonly op: 'put'; readonly key: string; readonly value: unknown; /** Attach the key to this lease (leases.ts). */ readonly lease?: number }
  | { readonly op: 'delete'; readonly key: string }
  | ({ readonly op: 'deleteRange' } & TxnRange)
  | { readonly op: 'get'; readonly key: string }
  | ({ readonly op: 'range'; readonly limit?: number; readonly keysOnly?: boolean } & TxnRange);

export interface TxnRequest {
  readonly if?: readonly TxnCompare[];
  readonly then?: readonly TxnOp[];
  readonly else?: readonly TxnOp[];
}

export interface RawCompare {
  readonly key: string;
  readonly target: TxnTarget;
  readonly op: TxnCompareOp;
  readonly operand: Uint8Array | number | boolean;
}

export type RawTxnOp =
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'deleteRange'; readonly gte: string; readonly lt: string | null }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'range'; readonly gte: string; readonly lt: string | null; readonly limit: number; readonly keysOnly: boolean };

export interface RawTxn {
  readonly op: 'txn';
  readonly compares: readonly RawCompare[];
  readonly then: readonly RawTxnOp[];
  readonly else: readonly RawTxnOp[];
}

/** What a get or range returns for one key. */
export interface TxnKeyValue {
  readonly key: string;
  /** undefined with keysOnly. */
  readonly value: unknown;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export type TxnOpResult =
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: number }
  | { readonly op: 'deleteRange'; readonly deleted: number }
  | { readonly op: 'get'; readonly found: boolean; readonly kv: TxnKeyValue | null }
  | { readonly op: 'range'; readonly kvs: readonly TxnKeyValue[]; readonly more: boolean };

const OP_PUT = 1;
const OP_DEL = 2;
const OP_DELETE_RANGE = 7;
const OP_GET = 8;
const OP_RANGE = 9;

function rangeOf(op: Record<string, unknown>, what: string): { gte: string; lt: string | null } {
  if (op.prefix !== undefined) {
    if (op.gte !== undefined || op.lt !== undefined) throw new InvalidArgumentError(`${what}: give prefix, or gte and lt, not both`);
    checkKey(op.prefix, `${what}.prefix`);
    return { gte: op.prefix, lt: prefixEnd(op.prefix) };
  }
  if (op.gte === undefined) throw new InvalidArgumentError(`${what} needs prefix or gte`);
  checkKey(op.gte, `${what}.gte`);
  if (op.lt === undefined || op.lt === null) return { gte: op.gte, lt: null };
  checkKey(op.lt, `${what}.lt`);
  return { gte: op.gte, lt: op.lt };
}

function inRange(key: string, gte: string, lt: string | null): boolean {
  const k = Buffer.from(key, 'utf8');
  return Buffer.compare(k, Buffer.from(gte, 'utf8')) >= 0 && (lt === null || Buffer.compare(k, Buffer.from(lt, 'utf8')) < 0);
}

function encodeCompare(raw: unknown, what: string): unknown[] {
  const c = commandObject(raw, what);
  checkKey(c.key, `${what}.key`);
  const target = TARGETS.indexOf(c.target as TxnTarget);
  if (target < 0) throw new InvalidArgumentError(`${what}.target must be one of ${TARGETS.join(', ')} (got ${JSON.stringify(c.target) ?? 'undefined'})`);
  const cmp = CMPS.indexOf(c.op as TxnCompareOp);
  if (cmp < 0) throw new InvalidArgumentError(`${what}.op must be one of ${CMPS.join(' ')} (got ${JSON.stringify(c.op) ?? 'undefined'})`);
  let operand: unknown;
  if (c.target === 'value') operand = encodeValue(c.value, `${what}.value`);
  else if (c.target === 'exists') {
    if (typeof c.value !== 'boolean') throw new InvalidArgumentError(`${what}.value must be a boolean for target 'exists' (got ${describe(c.value)})`);
    if (cmp > 1) throw new InvalidArgumentError(`${what}.op must be == or != for target 'exists'`);
    operand = c.value;
  } else {
    if (!Number.isSafeInteger(c.value) || (c.value as number) < 0) throw new InvalidArgumentError(`${what}.value must be an integer >= 0 for target '${String(c.target)}' (got ${JSON.stringify(c.value) ?? 'undefined'})`);
    operand = c.value;
  }
  return [c.key, target, cmp, operand];
}

function encodeTxnOp(raw: unknown, what: string): unknown[] {
  const op = commandObject(raw, what);
  switch (op.op) {
    case 'put':
      checkKey(op.key, `${what}.key`);
      // The lease travels only when set, so a put without one keeps its old form.
      return op.lease === undefined || op.lease === 0 ? [OP_PUT, op.key, encodeValue(op.value, `${what}.value`)] : [OP_PUT, op.key, encodeValue(op.value, `${what}.value`), checkLeaseId(op.lease, `${what}.lease`, false)];
    case 'delete':
    case 'del':
      checkKey(op.key, `${what}.key`);
      return [OP_DEL, op.key];
    case 'deleteRange': {
      const r = rangeOf(op, what);
      return [OP_DELETE_RANGE, r.gte, r.lt];
    }
    case 'get':
      checkKey(op.key, `${what}.key`);
      return [OP_GET, op.key];
    case 'range': {
      const r = rangeOf(op, what);
      const limit = op.limit ?? MAX_TXN_RANGE_KEYS;
      if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_TXN_RANGE_KEYS) {
        throw new InvalidArgumentError(`${what}.limit must be an integer from 1 to ${MAX_TXN_RANGE_KEYS} (got ${JSON.stringify(op.limit)})`);
      }
      if (op.keysOnly !== undefined && typeof op.keysOnly !== 'boolean') throw new InvalidArgumentError(`${what}.keysOnly must be a boolean`);
      return [OP_RANGE, r.gte, r.lt, limit, op.keysOnly === true];
    }
    default:
      throw new InvalidArgumentError(`${what}.op must be one of put, delete, deleteRange, get, range (got ${JSON.stringify(op.op) ?? 'undefined'})`);
  }
}

/** Refuses a branch that writes one key twice (etcd's "duplicate key given in txn request"): each key changes once per revision. */
function checkBranchWrites(ops: unknown[][], what: string): void {
  const keys = new Map<string, number>();
  const ranges: { gte: string; lt: string | null; i: number }[] = [];
  ops.forEach((o, i) => {
    if (o[0] === OP_PUT || o[0] === OP_DEL) {
      const k = o[1] as string;
      const before = keys.get(k);
      if (before !== undefined) throw new InvalidArgumentError(`${what}[${i}] writes key ${JSON.stringify(k)} already written by ${what}[${before}]: a transaction changes a key once`);
      keys.set(k, i);
    } else if (o[0] === OP_DELETE_RANGE) ranges.push({ gte: o[1] as string, lt: o[2] as string | null, i });
  });
  for (const r of ranges) {
    for (const [k, i] of keys) {
      if (inRange(k, r.gte, r.lt)) throw new InvalidArgumentError(`${what}[${i}] writes key ${JSON.stringify(k)} inside the deleteRange of ${what}[${r.i}]: a transaction changes a key once`);
    }
  }
}

function encodeBranch(v: unknown, what: string): unknown[][] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what} must be an array (got ${describe(v)})`);
  if (v.length > MAX_TXN_OPS) throw new InvalidArgumentError(`${what} has ${v.length} operations; at most ${MAX_TXN_OPS} allowed`);
  const ops = v.map((o, i) => encodeTxnOp(o, `${what}[${i}]`));
  checkBranchWrites(ops, what);
  return ops;
}

/** Validates a transaction and returns its wire tuple (without the op code). `what`: '' at the top of an API call. */
export function encodeTxnBody(cmd: Record<string, unknown>, what: string): unknown[] {
  const ifs = cmd.if;
  if (ifs !== undefined && !Array.isArray(ifs)) throw new InvalidArgumentError(`${field(what, 'if')} must be an array (got ${describe(ifs)})`);
  const compares = (ifs ?? []) as unknown[];
  if (compares.length > MAX_TXN_OPS) throw new InvalidArgumentError(`${field(what, 'if')} has ${compares.length} compares; at most ${MAX_TXN_OPS} allowed`);
  for (const k of Object.keys(cmd)) {
    if (k !== 'op' && k !== 'if' && k !== 'then' && k !== 'else') throw new InvalidArgumentError(`${what || 'the transaction'} has an unknown field '${k}' (expected if, then, else)`);
  }
  return [compares.map((c, i) => encodeCompare(c, `${field(what, 'if')}[${i}]`)), encodeBranch(cmd.then, field(what, 'then')), encodeBranch(cmd.else, field(what, 'else'))];
}

function decodeCompare(raw: unknown, what: string): RawCompare {
  if (!Array.isArray(raw) || raw.length !== 4) throw new InvalidArgumentError(`${what} must be [key, target, cmp, operand]`);
  checkKey(raw[0], `${what}.key`);
  const target = TARGETS[raw[1] as number];
  const op = CMPS[raw[2] as number];
  if (target === undefined || !Number.isInteger(raw[1])) throw new InvalidArgumentError(`${what}: unknown target ${JSON.stringify(raw[1])}`);
  if (op === undefined || !Number.isInteger(raw[2])) throw new InvalidArgumentError(`${what}: unknown compare ${JSON.stringify(raw[2])}`);
  const operand = raw[3];
  if (target === 'value') return { key: raw[0], target, op, operand: rawBytes(operand, `${what}.value`, false)! };
  if (target === 'exists') {
    if (typeof operand !== 'boolean' || raw[2] > 1) throw new InvalidArgumentError(`${what}: exists takes == or != and a boolean`);
    return { key: raw[0], target, op, operand };
  }
  if (!Number.isSafeInteger(operand) || (operand as number) < 0) throw new InvalidArgumentError(`${what}.value must be an integer >= 0`);
  return { key: raw[0], target, op, operand: operand as number };
}

function decodeRangeBounds(raw: unknown[], what: string): { gte: string; lt: string | null } {
  checkKey(raw[1], `${what}.gte`);
  if (raw[2] !== null) checkKey(raw[2], `${what}.lt`);
  return { gte: raw[1], lt: raw[2] as string | null };
}

function decodeTxnOp(raw: unknown, what: string): RawTxnOp {
  if (!Array.isArray(raw) || raw.length === 0) throw new InvalidArgumentError(`${what} is not an operation tuple`);
  const arity = (n: number): void => {
    if (raw.length !== n) throw new InvalidArgumentError(`${what}: op ${String(raw[0])} must have ${n} elements (got ${raw.length})`);
  };
  switch (raw[0]) {
    case OP_PUT:
      if (raw.length !== 4) arity(3);
      checkKey(raw[1], `${what}.key`);
      return { op: 'put', key: raw[1], value: rawBytes(raw[2], `${what}.value`, false)!, lease: raw.length === 4 ? checkLeaseId(raw[3], `${what}.lease`, false) : 0 };
    case OP_DEL:
      arity(2);
      checkKey(raw[1], `${what}.key`);
      return { op: 'delete', key: raw[1] };
    case OP_DELETE_RANGE:
      arity(3);
      return { op: 'deleteRange', ...decodeRangeBounds(raw, what) };
    case OP_GET:
      arity(2);
      checkKey(raw[1], `${what}.key`);
      return { op: 'get', key: raw[1] };
    case OP_RANGE: {
      arity(5);
      const limit = raw[3];
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_TXN_RANGE_KEYS) throw new InvalidArgumentError(`${what}.limit must be 1..${MAX_TXN_RANGE_KEYS}`);
      if (typeof raw[4] !== 'boolean') throw new InvalidArgumentError(`${what}.keysOnly must be a boolean`);
      return { op: 'range', ...decodeRangeBounds(raw, what), limit, keysOnly: raw[4] };
    }
    default:
      throw new InvalidArgumentError(`${what}: unknown op code ${JSON.stringify(raw[0]) ?? 'undefined'}`);
  }
}

function decodeBranch(raw: unknown, what: string): RawTxnOp[] {
  if (!Array.isArray(raw)) throw new InvalidArgumentError(`${what} must be an array`);
  if (raw.length > MAX_TXN_OPS) throw new InvalidArgumentError(`${what} has ${raw.length} operations; at most ${MAX_TXN_OPS} allowed`);
  return raw.map((o, i) => decodeTxnOp(o, `${what}[${i}]`));
}

/** Decodes the tuple after op code 6. */
export function decodeTxnBody(raw: unknown[], what: string): RawTxn {
  if (raw.length !== 4 || !Array.isArray(raw[1])) throw new InvalidArgumentError(`${what}: txn must be [6, compares[], then[], else[]]`);
  if (raw[1].length > MAX_TXN_OPS) throw new InvalidArgumentError(`${what}.if has ${raw[1].length} compares; at most ${MAX_TXN_OPS} allowed`);
  return {
    op: 'txn',
    compares: raw[1].map((c, i) => decodeCompare(c, `${what}.if[${i}]`)),
    then: decodeBranch(raw[2], `${what}.then`),
    else: decodeBranch(raw[3], `${what}.else`),
  };
}
