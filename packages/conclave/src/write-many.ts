// `kv.writeMany`: several forwarded writes in one admin request (issue 15, fourth pass).
// A follower's forward pool (forward-pool.ts) sends the writes of one event-loop turn
// together; the leader proposes them in the same turn, so they join one Ready, and answers
// once with each write's own outcome. Per write, in order:
//
//   request  { writes: [{ data, durability, needsOutcome, timeoutMs }] }
//   answer   { results: [{ ok: true, token, outcome } | { ok: false, error: { code, message, data } }] }
//
// One write refused (bad durability, too large, not leader) fails only itself. A leader
// that does not know the method answers UNKNOWN_METHOD, and the follower falls back to one
// `kv.write` per write on that connection.
import { InvalidArgumentError } from '@conclave/core';
import { MAX_COMMAND_BYTES, type CommandOutcome } from '@conclave/storage';
import { adminErrorBody, DEFAULTS, remoteErrorOf, type AdminRemoteError } from '@conclave/transport';
import { WriteOutcomeUnknownError } from './errors.js';
import { DEFAULT_DURABILITY, resolveDurability, type CommitToken, type Durability } from './options.js';

export const WRITE_MANY_METHOD = 'kv.writeMany';

/**
 * Writes per batch: the admin server counts each against the requests a connection may
 * have in flight (admin-batch.ts), so a batch can never carry more than that.
 */
export const MAX_WRITES_PER_BATCH = DEFAULTS.adminMaxPendingRequests;

/**
 * Bytes of commands per batch: the pool stops adding writes past this (a larger write goes
 * alone). With one command of MAX_COMMAND_BYTES at most, a batch stays far inside a frame.
 */
export const MAX_BATCH_DATA_BYTES = 1024 * 1024;
/** Generous room for each write's fields beside its data (durability, timeoutMs, msgpack framing). */
const PER_WRITE_ENVELOPE_BYTES = 256;
if (Math.max(MAX_BATCH_DATA_BYTES, MAX_COMMAND_BYTES) + MAX_WRITES_PER_BATCH * PER_WRITE_ENVELOPE_BYTES > DEFAULTS.maxPayloadBytes) {
  throw new Error(`a kv.writeMany batch could exceed the admin frame limit of ${DEFAULTS.maxPayloadBytes} bytes`);
}

/** One forwarded write, as `kv.write` takes it. */
export interface ForwardedWrite {
  readonly data: Uint8Array;
  readonly durability: Durability;
  readonly needsOutcome: boolean;
}

export interface WriteAnswer {
  readonly token: CommitToken;
  readonly outcome: CommandOutcome | null;
}

/** The leader's half of a write, within `timeoutMs` (ConclaveNode.proposeLocal). */
export type ProposeLocal = (data: Uint8Array, durability: Durability, needsOutcome: boolean, timeoutMs: number) => Promise<WriteAnswer>;

/** The request's params: each write with what is left of its own deadline. */
export function writeManyParams(writes: readonly { readonly params: ForwardedWrite; readonly timeoutMs: number }[]): { writes: unknown[] } {
  return { writes: writes.map((w) => ({ data: w.params.data, durability: w.params.durability, needsOutcome: w.params.needsOutcome, timeoutMs: w.timeoutMs })) };
}

/** How many requests in flight a batch counts for at the admin server: its writes. */
export function writeManyWeight(params: unknown): number {
  const writes = (params as { writes?: unknown } | null)?.writes;
  return Array.isArray(writes) ? writes.length : 1;
}

/**
 * The leader's side: proposes every valid write now (so they share one Ready) and answers
 * with each one's outcome. `leftMs` is what is left of the request's deadline.
 */
export async function serveWriteMany(params: unknown, leftMs: number, propose: ProposeLocal): Promise<{ results: unknown[] }> {
  const writes = (typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as { writes?: unknown }).writes : undefined) as unknown;
  if (!Array.isArray(writes) || writes.length === 0 || writes.length > MAX_WRITES_PER_BATCH) {
    throw new InvalidArgumentError(`${WRITE_MANY_METHOD}: params.writes must be a list of 1 to ${MAX_WRITES_PER_BATCH} writes; nothing was written`);
  }
  const settled = await Promise.allSettled(writes.map((w, i) => proposeOne(w, i, leftMs, propose)));
  return {
    results: settled.map((s) => (s.status === 'fulfilled' ? { ok: true, token: s.value.token, outcome: s.value.outcome } : { ok: false, error: adminErrorBody(s.reason) })),
  };
}

async function proposeOne(w: unknown, i: number, leftMs: number, propose: ProposeLocal): Promise<WriteAnswer> {
  const what = `${WRITE_MANY_METHOD}: writes[${i}]`;
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new InvalidArgumentError(`${what} must be an object; it was not written`);
  const p = w as Record<string, unknown>;
  if (!(p.data instanceof Uint8Array)) throw new InvalidArgumentError(`${what}.data must be bytes; it was not written`);
  const durability = resolveDurability(p.durability as object | undefined, DEFAULT_DURABILITY, `${what}.durability`);
  const t = p.timeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 1)) throw new InvalidArgumentError(`${what}.timeoutMs must be a positive integer of milliseconds; it was not written`);
  return propose(p.data, durability, p.needsOutcome === true, Math.max(1, Math.min(t ?? leftMs, leftMs)));
}

/**
 * The follower's side: each write's answer, or its error as the single `kv.write` would have
 * thrown it (an AdminRemoteError with the leader's code). A malformed answer leaves every
 * write of the batch "may have happened": the leader had them.
 */
export function writeManyResults(answer: unknown, count: number, address: string): (WriteAnswer | AdminRemoteError)[] {
  const results = (typeof answer === 'object' && answer !== null ? (answer as { results?: unknown }).results : undefined) as unknown;
  if (!Array.isArray(results) || results.length !== count) {
    throw new WriteOutcomeUnknownError(`the leader at ${address} answered ${WRITE_MANY_METHOD} of ${count} writes with a malformed answer (results: ${Array.isArray(results) ? `${results.length} entries` : typeof results}); they may or may not take effect`);
  }
  return results.map((r: unknown, i) => {
    const x = (typeof r === 'object' && r !== null ? r : {}) as { ok?: unknown; token?: unknown; outcome?: unknown; error?: unknown };
    if (x.ok === false) return remoteErrorOf(x.error);
    const token = x.token as CommitToken | undefined;
    if (x.ok !== true || typeof token !== 'object' || token === null || !Number.isSafeInteger(token.index) || !Number.isSafeInteger(token.term)) {
      return remoteErrorOf({ code: 'WRITE_OUTCOME_UNKNOWN', message: `the leader at ${address} answered write ${i} of ${WRITE_MANY_METHOD} with a malformed result; it may or may not take effect` });
    }
    return { token, outcome: (x.outcome ?? null) as CommandOutcome | null };
  });
}
