// Applying a transaction: its compares against the state it is applied to, then one branch,
// its operations in order (a read sees the branch's earlier writes, as in etcd).
import { InvalidArgumentError } from '@conclave/core';
import { strictDecode } from './codec.js';
import type { CommandApply } from './command-apply.js';
import { recordValue } from './kv-record.js';
import type { KvRange } from './kv-view.js';
import type { CommandOutcome } from './storage-types.js';
import { MAX_TXN_DELETE_KEYS, MAX_TXN_READ_BYTES, type RawCompare, type RawTxn, type RawTxnOp, type TxnKeyValue, type TxnOpResult } from './txn-command.js';
import { storedValuesEqual } from './value-equality.js';

function order(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order of two values for < and >: numbers, strings (by UTF-8 bytes) or byte arrays of one kind; null when they do not compare. */
function valueOrder(x: unknown, y: unknown): number | null {
  if (typeof x === 'number' && typeof y === 'number') return Number.isNaN(x) || Number.isNaN(y) ? null : order(x, y);
  if (typeof x === 'bigint' && typeof y === 'bigint') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'string' && typeof y === 'string') return Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
  if (x instanceof Uint8Array && y instanceof Uint8Array) return Buffer.compare(x, y);
  return null;
}

function holds(c: number, op: RawCompare['op']): boolean {
  return op === '==' ? c === 0 : op === '!=' ? c !== 0 : op === '<' ? c < 0 : c > 0;
}

async function compareHolds(c: RawCompare, a: CommandApply): Promise<boolean> {
  const rec = await a.current(c.key);
  switch (c.target) {
    case 'exists':
      return (rec !== null) === c.operand ? c.op === '==' : c.op === '!=';
    case 'value': {
      // As etcd: a value compare on an absent key is false, whatever the operator.
      if (rec === null) return false;
      const stored = recordValue(rec);
      if (c.op === '==' || c.op === '!=') return storedValuesEqual(stored, c.operand as Uint8Array) === (c.op === '==');
      let o: number | null;
      try {
        o = valueOrder(strictDecode(stored), strictDecode(c.operand as Uint8Array));
      } catch {
        o = null;
      }
      return o !== null && holds(o, c.op);
    }
    default: {
      const m = rec === null ? { version: 0, modRevision: 0, createRevision: 0 } : a.meta(rec);
      return holds(order(m[c.target], c.operand as number), c.op);
    }
  }
}

function kvOf(a: CommandApply, key: string, rec: Buffer, keysOnly: boolean): TxnKeyValue {
  return { key, value: keysOnly ? undefined : a.decode(key, rec), ...a.meta(rec) };
}

function rangeOf(o: { gte: string; lt: string | null }): KvRange {
  return o.lt === null ? { gte: o.gte } : { gte: o.gte, lt: o.lt };
}

/** Reads of one transaction, bounded in bytes over all its ranges. */
interface Budget {
  readBytes: number;
  deleted: number;
}

async function runOp(o: RawTxnOp, a: CommandApply, budget: Budget): Promise<TxnOpResult> {
  switch (o.op) {
    case 'put':
      await a.put(o.key, o.value, o.lease);
      return { op: 'put' };
    case 'delete':
      return { op: 'delete', deleted: (await a.del(o.key)) ? 1 : 0 };
    case 'get': {
      const rec = await a.current(o.key);
      return { op: 'get', found: rec !== null, kv: rec === null ? null : kvOf(a, o.key, rec, false) };
    }
    case 'deleteRange': {
      const view = a.view();
      const found: [string, Buffer][] = [];
      try {
        const it = view.iterator(rangeOf(o));
        try {
          for (let e = await it.nextRecord(); e !== null; e = await it.nextRecord()) {
            if (++budget.deleted > MAX_TXN_DELETE_KEYS) {
              throw new InvalidArgumentError(`the transaction's deleteRange operations would delete more than ${MAX_TXN_DELETE_KEYS} keys; nothing was written (delete the range in several transactions)`);
            }
            found.push(e);
          }
        } finally {
          await it.close();
        }
      } finally {
        await view.close();
      }
      for (const [k, rec] of found) await a.del(k, rec);
      return { op: 'deleteRange', deleted: found.length };
    }
    case 'range': {
      const view = a.view();
      const kvs: TxnKeyValue[] = [];
      let more = false;
      try {
        const it = view.iterator(rangeOf(o));
        try {
          for (let e = await it.nextRecord(); e !== null; e = await it.nextRecord()) {
            const size = e[0].length + (o.keysOnly ? 0 : e[1].length);
            if (kvs.length >= o.limit || budget.readBytes + size > MAX_TXN_READ_BYTES) {
              more = true;
              break;
            }
            budget.readBytes += size;
            kvs.push(kvOf(a, e[0], e[1], o.keysOnly));
          }
        } finally {
          await it.close();
        }
      } finally {
        await view.close();
      }
      return { op: 'range', kvs, more };
    }
  }
}

export async function applyTxn(t: RawTxn, a: CommandApply): Promise<CommandOutcome> {
  let succeeded = true;
  for (const c of t.compares) {
    if (!(await compareHolds(c, a))) {
      succeeded = false;
      break;
    }
  }
  const budget: Budget = { readBytes: 0, deleted: 0 };
  const results: TxnOpResult[] = [];
  for (const o of succeeded ? t.then : t.else) results.push(await runOp(o, a, budget));
  return { op: 'txn', succeeded, results };
}
