// Watch over the admin connection (AdminClient.watch, `conclave watch`): `kv.watch` opens a
// watcher on this member and names it; the client pulls its batches with `kv.watch.next`
// (one request in flight per watcher: the flow control, so a client that stops asking lets
// the watcher's bounded queue fill and overflow, never this member's memory); `kv.watch.close`
// ends it. A watcher nobody polled for SESSION_IDLE_MS is closed. Also `kv.txn`.
import { InvalidArgumentError } from '@conclave/core';
import type { TxnRequest } from '@conclave/storage';
import type { AdminRequestContext } from '@conclave/transport';
import type { Durability } from '../options.js';
import type { Clock, PeerTransport, Timer } from '../seams.js';
import type { TxnResult } from '../txn.js';
import type { WatchOptions } from './watch-hub.js';
import type { WatchRange } from './watch-range.js';
import type { WatchBatch, Watcher } from './watcher.js';

/** A session not polled this long is closed (its client went away without closing it). */
export const SESSION_IDLE_MS = 30_000;
/** Longest a `kv.watch.next` waits for a batch before answering with a progress batch. */
const MAX_POLL_WAIT_MS = 10_000;

export interface WatchTarget {
  watch(range: WatchRange, opts?: WatchOptions): Watcher;
  txn(req: TxnRequest, opts?: { durability?: Partial<Durability> }): Promise<TxnResult>;
}

interface Session {
  readonly watcher: Watcher;
  readonly it: AsyncIterator<WatchBatch>;
  /** A next() still running after a poll gave up waiting: the following poll takes it over. */
  pending: Promise<IteratorResult<WatchBatch>> | null;
  lastPolledMs: number;
  busy: boolean;
}

function obj(params: unknown, method: string): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new InvalidArgumentError(`${method}: params must be an object`);
  return params as Record<string, unknown>;
}

export function registerWatchHandlers(transport: PeerTransport, node: WatchTarget, clock: Clock): void {
  const sessions = new Map<number, Session>();
  let lastId = 0;
  let sweeper: Timer | null = null;

  const end = (id: number): void => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    s.watcher.close();
    if (sessions.size === 0 && sweeper !== null) {
      clock.clearInterval(sweeper);
      sweeper = null;
    }
  };
  const sweep = (): void => {
    const now = clock.nowMs();
    for (const [id, s] of sessions) if (!s.busy && now - s.lastPolledMs > SESSION_IDLE_MS) end(id);
  };

  transport.registerAdminHandler('kv.watch', async (params) => {
    const p = obj(params, 'kv.watch');
    const opts: Record<string, unknown> = {};
    for (const k of ['fromRevision', 'prevValue', 'consistency', 'progressMs']) if (p[k] !== undefined && p[k] !== null) opts[k] = p[k];
    const watcher = node.watch(p.range as WatchRange, opts as WatchOptions);
    // The first revision it gives: the client resumes from there if this member goes away before a batch.
    let fromRevision: number;
    try {
      fromRevision = await watcher.started;
    } catch (err) {
      watcher.close();
      throw err;
    }
    const id = ++lastId;
    sessions.set(id, { watcher, it: watcher[Symbol.asyncIterator](), pending: null, lastPolledMs: clock.nowMs(), busy: false });
    if (sweeper === null) {
      sweeper = clock.setInterval(sweep, SESSION_IDLE_MS / 3);
      sweeper.unref();
    }
    return { id, fromRevision };
  });

  transport.registerAdminHandler('kv.watch.next', async (params, ctx: AdminRequestContext) => {
    const p = obj(params, 'kv.watch.next');
    const s = sessions.get(p.id as number);
    if (!s) throw Object.assign(new Error(`kv.watch.next: no watcher ${JSON.stringify(p.id)} on this member (closed, ended, or idle for ${SESSION_IDLE_MS} ms)`), { code: 'WATCH_GONE' });
    if (s.busy) throw new InvalidArgumentError('kv.watch.next: a poll of this watcher is already in flight (one at a time)');
    s.busy = true;
    try {
      // Answer a little before the request's deadline, with progress if nothing came.
      const waitMs = Math.max(1, Math.min(MAX_POLL_WAIT_MS, ctx.deadline - clock.wallNowMs() - 250));
      if (s.pending === null) {
        s.pending = s.it.next();
        s.pending.catch(() => {}); // its failure is taken by the poll that awaits it
      }
      const next = s.pending;
      let timer: Timer | undefined;
      const idle = new Promise<'idle'>((resolve) => {
        timer = clock.setTimeout(() => resolve('idle'), waitMs);
      });
      let r: IteratorResult<WatchBatch> | 'idle';
      try {
        r = await Promise.race([next, idle]);
      } catch (err) {
        end(p.id as number);
        throw err;
      } finally {
        if (timer !== undefined) clock.clearTimeout(timer);
      }
      if (r === 'idle') return { events: [], revision: s.watcher.lastRevision, idle: true };
      s.pending = null;
      if (r.done) {
        end(p.id as number);
        return { events: [], revision: s.watcher.lastRevision, done: true };
      }
      return r.value;
    } finally {
      s.busy = false;
      s.lastPolledMs = clock.nowMs();
    }
  });

  transport.registerAdminHandler('kv.watch.close', (params) => {
    const p = obj(params, 'kv.watch.close');
    end(p.id as number);
    return { ok: true };
  });

  transport.registerAdminHandler('kv.txn', async (params) => {
    const p = obj(params, 'kv.txn');
    if (typeof p.txn !== 'object' || p.txn === null) throw new InvalidArgumentError('kv.txn: txn must be { if, then, else }');
    return node.txn(p.txn as TxnRequest, p.durability ? { durability: p.durability as Partial<Durability> } : {});
  });
}
