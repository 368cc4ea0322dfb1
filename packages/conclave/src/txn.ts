// Transactions (etcd's Txn) through the write path: one log entry, applied atomically on
// every member, answered with the branch taken and its results. compareAndSet is sugar
// over a transaction.
import { checkKey, encodeValue, type TxnOp, type TxnOpResult, type TxnRequest } from '@conclave/storage';
import { Call, keyName, type CallOptions } from './deadlines.js';
import type { NodeContext } from './node-context.js';
import type { CommitToken, Durability } from './options.js';
import type { CasResult, WritePath } from './write-path.js';

export type WriteOptions = CallOptions & { durability?: Partial<Durability> };

export interface TxnResult {
  /** Whether every compare held (the `then` branch ran) or not (`else`). */
  readonly succeeded: boolean;
  /** The transaction's revision: its log index. */
  readonly revision: number;
  readonly token: CommitToken;
  /** One per operation of the branch that ran, in order. */
  readonly results: readonly TxnOpResult[];
}

/** Proposes `req` as one entry; resolves once it is applied (its results come from the apply). */
export async function runTxn(ctx: NodeContext, writes: WritePath, req: TxnRequest, opts: WriteOptions, what = 'the transaction'): Promise<TxnResult> {
  const cmd = { ...(req as object), op: 'txn' } as { op: 'txn' } & TxnRequest;
  const { token, outcome } = await writes.write(cmd, opts.durability, Call.of(ctx, what, opts, ctx.opts.writeTimeoutMs), true);
  const o = outcome?.op === 'txn' ? outcome : { succeeded: false, results: [] };
  return { succeeded: o.succeeded, revision: token.index, token, results: o.results };
}

/**
 * Writes `next` (undefined deletes) if the key's value equals `expected` (undefined: the key
 * is absent); answers with the value found. A transaction: [get, write] if it matches, else [get].
 */
export async function compareAndSet(ctx: NodeContext, writes: WritePath, key: string, expected: unknown, next: unknown, opts: WriteOptions): Promise<CasResult> {
  // Checked here first so that errors name the arguments as the caller knows them.
  checkKey(key, 'key');
  if (expected !== undefined) encodeValue(expected, 'expected');
  if (next !== undefined) encodeValue(next, 'next');
  const write: TxnOp = next === undefined ? { op: 'delete', key } : { op: 'put', key, value: next };
  const req: TxnRequest = {
    if: [expected === undefined ? { key, target: 'exists', op: '==', value: false } : { key, target: 'value', op: '==', value: expected }],
    then: [{ op: 'get', key }, write],
    else: [{ op: 'get', key }],
  };
  const r = await runTxn(ctx, writes, req, opts, `the compareAndSet of key ${keyName(key)}`);
  const got = r.results[0];
  const current = got?.op === 'get' && got.kv !== null ? got.kv.value : undefined;
  return { token: r.token, revision: r.revision, succeeded: r.succeeded, current };
}
