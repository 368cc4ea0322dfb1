// What the admin channel offers a request that carries several operations (a follower's
// forwarded writes in one `kv.writeMany`): its weight against the per-connection limit of
// requests in flight, and each operation's error inside the one answer, in the same
// { code, message, data } form a whole request's error takes on the wire.
import { AdminRemoteError } from './errors.js';

/** A handler's optional weight: how many requests in flight one of its requests counts for. */
type Weighed = { readonly weight?: (params: unknown) => number };

/** `handler`, counted as `weight(params)` requests against adminMaxPendingRequests (a batch counts its operations). */
export function weighedAdminHandler<H extends (params: unknown, context: never) => unknown>(handler: H, weight: (params: unknown) => number): H & Weighed {
  const wrapped = ((params: unknown, context: never) => handler(params, context)) as H;
  return Object.assign(wrapped, { weight });
}

/** How many requests in flight a request counts for: at least 1, a whole number. */
export function requestWeight(handler: object, params: unknown): number {
  const w = (handler as Weighed).weight?.(params);
  return typeof w === 'number' && Number.isSafeInteger(w) && w > 1 ? w : 1;
}

export interface AdminErrorBody {
  readonly code: string;
  readonly message: string;
  readonly data: Record<string, unknown>;
}

/** A thrown error as the wire carries it: its `code`, message and plain fields (leaderHint, ...). */
export function adminErrorBody(err: unknown): AdminErrorBody {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : 'INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const data: Record<string, unknown> = {};
  if (typeof err === 'object' && err !== null) {
    for (const [k, v] of Object.entries(err)) {
      if (k === 'code' || k === 'message' || k === 'name' || k === 'stack' || k === 'cause') continue;
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') data[k] = v;
    }
  }
  return { code, message, data };
}

/** An error body that came over the wire, as the AdminRemoteError the caller sees; anything malformed is INTERNAL. */
export function remoteErrorOf(body: unknown): AdminRemoteError {
  const e = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; message?: unknown; data?: unknown };
  const data = typeof e.data === 'object' && e.data !== null && !Array.isArray(e.data) ? (e.data as Record<string, unknown>) : {};
  return new AdminRemoteError(typeof e.code === 'string' ? e.code : 'INTERNAL', typeof e.message === 'string' ? e.message : 'remote error', data);
}
