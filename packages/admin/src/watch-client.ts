// AdminClient.watch: a watcher on one member, pulled over its admin connection (kv.watch,
// kv.watch.next: one poll in flight, so the member never queues more than the watcher's own
// bounded queue for us). With `resume`, a member that goes away (closed, restarted, cut off,
// or a watcher that overflowed) is left for the next endpoint, watching again from the
// revision after the last batch given: no gap, no repeat.
import { ConclaveError, InvalidArgumentError } from '@conclave/core';
import type { AdminRpcClient } from '@conclave/transport';
import { reviveError, type Consistency, type WatchBatch, type WatchRange } from 'conclave';

export interface AdminWatchOptions {
  readonly fromRevision?: number;
  readonly prevValue?: boolean;
  readonly consistency?: Consistency;
  readonly progressMs?: number;
  /** Watch again on another endpoint when the member goes away (default true). */
  readonly resume?: boolean;
  /** Give up resuming after this long without any member answering (default 60,000 ms). */
  readonly resumeTimeoutMs?: number;
  /** Called when the watch moves to another endpoint (for a log line). */
  readonly onResume?: (info: { endpoint: string; fromRevision: number; cause: string }) => void;
}

/** Codes after which the same watch cannot go on anywhere: the caller must decide. */
const FINAL_CODES = new Set(['COMPACTED', 'INVALID_ARGUMENT', 'ADMIN_AUTH_FAILED', 'UNKNOWN_METHOD', 'ABORTED']);
const POLL_TIMEOUT_MS = 15_000;

export class AdminWatch implements AsyncIterable<WatchBatch> {
  private closed = false;
  private rpc: AdminRpcClient | null = null;
  private session: number | null = null;
  /** The next revision wanted; null until the first member said where the watch starts. */
  private from: number | null;
  private endpointIndex = 0;

  constructor(
    private readonly endpoints: readonly string[],
    private readonly connect: (endpoint: string) => Promise<AdminRpcClient>,
    private readonly range: WatchRange,
    private readonly opts: AdminWatchOptions,
  ) {
    if (opts.fromRevision !== undefined && (!Number.isSafeInteger(opts.fromRevision) || opts.fromRevision < 1)) throw new InvalidArgumentError(`fromRevision must be an integer >= 1 (got ${String(opts.fromRevision)})`);
    this.from = opts.fromRevision ?? null;
  }

  /** The revision after the last batch given (where a new watch would resume). */
  get nextRevision(): number | null {
    return this.from;
  }

  private async open(): Promise<void> {
    const endpoint = this.endpoints[this.endpointIndex % this.endpoints.length]!;
    this.rpc = await this.connect(endpoint);
    const params = {
      range: this.range,
      ...(this.from !== null ? { fromRevision: this.from } : {}),
      ...(this.opts.prevValue ? { prevValue: true } : {}),
      ...(this.opts.consistency !== undefined ? { consistency: this.opts.consistency } : {}),
      ...(this.opts.progressMs !== undefined ? { progressMs: this.opts.progressMs } : {}),
    };
    const r = (await this.rpc.request('kv.watch', params, { timeoutMs: POLL_TIMEOUT_MS })) as { id: number; fromRevision: number };
    this.session = r.id;
    this.from ??= r.fromRevision;
  }

  private async drop(): Promise<void> {
    const rpc = this.rpc;
    const id = this.session;
    this.rpc = null;
    this.session = null;
    if (rpc && id !== null && !rpc.closed) await rpc.request('kv.watch.close', { id }, { timeoutMs: 2000 }).catch(() => {});
    await rpc?.close().catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchBatch, void, undefined> {
    const resume = this.opts.resume !== false;
    const resumeTimeoutMs = this.opts.resumeTimeoutMs ?? 60_000;
    let failingSince: number | null = null;
    let backoffMs = 100;
    try {
      // Each turn polls once, or moves to the next endpoint; bounded by resumeTimeoutMs of failures in a row.
      while (!this.closed) {
        try {
          if (this.session === null) await this.open();
          const b = (await this.rpc!.request('kv.watch.next', { id: this.session }, { timeoutMs: POLL_TIMEOUT_MS })) as WatchBatch & { idle?: boolean; done?: boolean };
          failingSince = null;
          backoffMs = 100;
          if (b.done) return;
          if (b.idle) continue;
          this.from = b.revision + 1;
          yield { events: b.events, revision: b.revision };
        } catch (raw) {
          const err = reviveError(raw) as Error & { code?: string };
          if (this.closed) return;
          if (!resume || FINAL_CODES.has(err.code ?? '')) throw err;
          const now = Date.now();
          failingSince ??= now;
          if (now - failingSince > resumeTimeoutMs) throw new ConclaveError(err.code ?? 'UNREACHABLE', `the watch could not resume within ${resumeTimeoutMs} ms: ${err.message}`);
          await this.drop();
          this.endpointIndex++;
          // A full round of endpoints failed: wait a little before the next.
          if (this.endpointIndex % this.endpoints.length === 0) {
            await new Promise((r) => setTimeout(r, backoffMs));
            backoffMs = Math.min(2000, backoffMs * 2);
          }
          this.opts.onResume?.({ endpoint: this.endpoints[this.endpointIndex % this.endpoints.length]!, fromRevision: this.from ?? 0, cause: `${err.code ?? 'ERROR'}: ${err.message}` });
        }
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.drop();
  }
}
