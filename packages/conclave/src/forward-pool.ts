// Requests forwarded to one member's admin endpoint (a follower's writes to the leader).
// The server answers at most DEFAULTS.adminMaxPendingRequests requests in flight per
// connection and refuses the rest (TOO_MANY_REQUESTS), so a follower under load spreads
// its forwards over a few connections and beyond those queues them, bounded, each within
// its own deadline. A connection that fails is dropped and replaced by the next request.
//
// Writes (`write`) go in batches: those queued in one event-loop turn, or while every
// connection is full, leave together as one `kv.writeMany` (write-many.ts), bounded in
// count and bytes; a connection counts a batch's writes, not its requests, as in flight (as
// the server does). A leader that does not know the method gets one `kv.write` per write
// on that connection from then on.
import { AdminConnectionError, AdminRemoteError, DEFAULTS } from '@conclave/transport';
import type { Call, StopReason } from './deadlines.js';
import { ProposalDroppedError, WriteOutcomeUnknownError } from './errors.js';
import { systemClock, type Clock, type LeaderRpcClient, type Timer } from './seams.js';
import { MAX_BATCH_DATA_BYTES, MAX_WRITES_PER_BATCH, WRITE_MANY_METHOD, writeManyParams, writeManyResults, type ForwardedWrite, type WriteAnswer } from './write-many.js';

interface Lane {
  readonly client: Promise<LeaderRpcClient>;
  /** Requests in flight on it, a batch counting its writes. */
  inflight: number;
  dead: boolean;
  /** The server answered UNKNOWN_METHOD to a batch: one `kv.write` per write from then on. */
  singleWrites: boolean;
}

/** A write waiting for, or in, a batch. */
interface QueuedWrite {
  readonly params: ForwardedWrite;
  readonly deadlineMs: number;
  readonly what: string;
  /** queued: in `queue`; taken: in a batch not yet sent; sent; settled: its caller has its answer. */
  state: 'queued' | 'taken' | 'sent' | 'settled';
  /** Set once it stays queued past a flush: its deadline while waiting for room. */
  timer: Timer | null;
  readonly resolve: (v: WriteAnswer) => void;
  readonly reject: (e: unknown) => void;
}

export interface ForwardPoolLimits {
  readonly connections: number;
  readonly inflightPerConnection: number;
  readonly queued: number;
  /** Bytes of commands the writes waiting for a batch may hold together. */
  readonly queuedBytes: number;
  /** Writes per batch, at most MAX_WRITES_PER_BATCH. */
  readonly writesPerBatch: number;
}

export const FORWARD_POOL_LIMITS: ForwardPoolLimits = {
  connections: 4,
  inflightPerConnection: DEFAULTS.adminMaxPendingRequests,
  queued: 100_000,
  queuedBytes: 64 * 1024 * 1024,
  writesPerBatch: MAX_WRITES_PER_BATCH,
};

/** A write's command bytes (a write without bytes is the leader's to refuse, by its own item error). */
function dataBytes(p: ForwardedWrite): number {
  return p.data instanceof Uint8Array ? p.data.length : 0;
}

export class ForwardPool {
  private readonly lanes: Lane[] = [];
  private readonly waiting: { readonly grant: (lane: Lane) => void; readonly timer: Timer }[] = [];
  private closed = false;
  /** Writes waiting for a batch, oldest first, and their commands' bytes. */
  private readonly queue: QueuedWrite[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;

  constructor(
    readonly address: string,
    private readonly connect: () => Promise<LeaderRpcClient>,
    private readonly limits: ForwardPoolLimits = FORWARD_POOL_LIMITS,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Sends one request on a connection with room, waiting for one until the deadline. With a
   * `call`, its abort (or the node's close) stops the wait: before the request was sent with
   * the call's notDone error (it did not happen), after with WriteOutcomeUnknownError.
   */
  async request(method: string, params: unknown, timeoutMs: number, call?: Call): Promise<unknown> {
    const deadline = this.clock.nowMs() + timeoutMs;
    const what = call?.what ?? method;
    const acquiring = this.acquire(timeoutMs);
    let lane: Lane;
    try {
      lane = call ? await call.race(acquiring, (why) => call.notDone(why)) : await acquiring;
    } catch (err) {
      acquiring.then((l) => this.release(l), () => {}); // a slot granted after the abort goes back
      throw err;
    }
    let sent = false;
    try {
      const client = call ? await call.race(lane.client, (why) => call.notDone(why)) : await lane.client;
      if (client.closed) throw new AdminConnectionError(`the connection to ${this.address} closed before the request was sent`);
      sent = true;
      const answer = client.request(method, params, { timeoutMs: Math.max(1, deadline - this.clock.nowMs()) });
      if (!call) return await answer;
      return await call.race(
        answer,
        (why) => new WriteOutcomeUnknownError(`${what} was sent to the leader at ${this.address} and then ${why === 'aborted' ? 'aborted by the caller' : 'this node closed'} before the answer came; it may or may not take effect`),
      );
    } catch (err) {
      if (sent) throw this.sentFailure(lane, err, what);
      // Not sent: a failure other than the caller's own stop says the connection is bad.
      if (!(err instanceof AdminRemoteError) && !(err instanceof WriteOutcomeUnknownError)) this.drop(lane);
      throw err;
    } finally {
      this.release(lane);
    }
  }

  /**
   * Forwards one write in the next batch. Errors say what happened, as `request`'s do: not
   * sent (ProposalDroppedError; the call's notDone error on an abort or close; a connection
   * error before sending), the leader's own error for this write (AdminRemoteError), or sent
   * and unanswered, by the deadline, an abort or a failed connection (WriteOutcomeUnknownError).
   */
  write(params: ForwardedWrite, timeoutMs: number, call?: Call): Promise<WriteAnswer> {
    const what = call?.what ?? 'the forwarded write';
    if (this.closed) return Promise.reject(new ProposalDroppedError(`forwarding to ${this.address} is closed; nothing was sent`));
    const sizeBytes = dataBytes(params);
    if (this.queue.length >= this.limits.queued || this.queuedBytes + sizeBytes > this.limits.queuedBytes) {
      return Promise.reject(new ProposalDroppedError(`${this.queue.length} writes (${this.queuedBytes} bytes) already wait to be forwarded to ${this.address}; nothing was sent`));
    }
    let entry!: QueuedWrite;
    const answer = new Promise<WriteAnswer>((resolve, reject) => {
      entry = { params, deadlineMs: this.clock.nowMs() + timeoutMs, what, state: 'queued', timer: null, resolve, reject };
    });
    this.queue.push(entry);
    this.queuedBytes += sizeBytes;
    this.scheduleFlush();
    if (!call) return answer;
    return call.race(answer, (why) => this.stopped(entry, why, call));
  }

  /** The error of a write whose caller aborted, or whose node closed, before its answer. */
  private stopped(w: QueuedWrite, why: StopReason, call: Call): Error {
    const sent = w.state === 'sent' || w.state === 'settled';
    if (w.state === 'queued') this.unqueue(w);
    w.state = 'settled';
    if (w.timer !== null) this.clock.clearTimeout(w.timer);
    if (!sent) return call.notDone(why);
    return new WriteOutcomeUnknownError(`${w.what} was sent to the leader at ${this.address} and then ${why === 'aborted' ? 'aborted by the caller' : 'this node closed'} before the answer came; it may or may not take effect`);
  }

  private unqueue(w: QueuedWrite): void {
    // Batches take from the head: shift() there, not a search.
    const i = this.queue[0] === w ? 0 : this.queue.indexOf(w);
    if (i < 0) return;
    if (i === 0) this.queue.shift();
    else this.queue.splice(i, 1);
    this.queuedBytes -= dataBytes(w.params);
  }

  /** Runs `answer` unless the write has its answer already (an abort, its deadline). */
  private settle(w: QueuedWrite, answer: () => void): void {
    if (w.state === 'settled') return;
    w.state = 'settled';
    if (w.timer !== null) this.clock.clearTimeout(w.timer);
    answer();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    // After this turn: every write forwarded in it joins the batch.
    this.clock.setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends the queued writes in batches on the connections with room; the rest wait, each until its deadline. */
  private flush(): void {
    if (this.closed) return;
    const now = this.clock.nowMs();
    for (let guard = 0; guard <= this.limits.connections; guard++) {
      while (this.queue.length > 0 && this.queue[0]!.deadlineMs <= now) {
        const w = this.queue[0]!;
        this.unqueue(w);
        this.settle(w, () => w.reject(new ProposalDroppedError(`no connection to ${this.address} had room for ${w.what} before its deadline; nothing was sent`)));
      }
      if (this.queue.length === 0) break;
      const lane = this.lanes.find((l) => l.inflight < this.limits.inflightPerConnection) ?? (this.lanes.length < this.limits.connections ? this.newLane(0) : null);
      if (!lane) break;
      const room = Math.min(this.limits.inflightPerConnection - lane.inflight, this.limits.writesPerBatch, MAX_WRITES_PER_BATCH);
      const batch: QueuedWrite[] = [];
      let bytes = 0;
      while (batch.length < room && this.queue.length > 0) {
        const w = this.queue[0]!;
        if (w.deadlineMs <= now) {
          this.unqueue(w);
          this.settle(w, () => w.reject(new ProposalDroppedError(`no connection to ${this.address} had room for ${w.what} before its deadline; nothing was sent`)));
          continue;
        }
        if (batch.length > 0 && bytes + dataBytes(w.params) > MAX_BATCH_DATA_BYTES) break;
        this.unqueue(w);
        w.state = 'taken';
        if (w.timer !== null) this.clock.clearTimeout(w.timer);
        bytes += dataBytes(w.params);
        batch.push(w);
      }
      if (batch.length === 0) continue;
      lane.inflight += batch.length;
      void this.send(lane, batch);
    }
    // No room: each waits until its deadline, then did not happen.
    for (const w of this.queue) {
      if (w.timer !== null) continue;
      w.timer = this.clock.setTimeout(() => {
        w.timer = null;
        if (w.state !== 'queued') return;
        this.unqueue(w);
        this.settle(w, () => w.reject(new ProposalDroppedError(`no connection to ${this.address} had room for ${w.what} before its deadline; nothing was sent`)));
      }, Math.max(1, w.deadlineMs - now));
    }
  }

  /** Sends `batch` on `lane` (one request, or one per write on a connection that has no batches) and answers each write. */
  private async send(lane: Lane, batch: QueuedWrite[]): Promise<void> {
    let slots = batch.length;
    try {
      let client: LeaderRpcClient;
      try {
        client = await lane.client;
        if (client.closed) throw new AdminConnectionError(`the connection to ${this.address} closed before the request was sent`);
      } catch (err) {
        this.drop(lane);
        for (const w of batch) this.settle(w, () => w.reject(err)); // not sent: the caller may try again
        return;
      }
      const live = batch.filter((w) => w.state === 'taken'); // the others were aborted before sending
      if (live.length === 0) return;
      if (!lane.singleWrites) {
        const refused = await this.sendBatch(lane, client, live);
        if (!refused) return;
        // An older leader: nothing of the batch was served. One request per write from now on.
        lane.singleWrites = true;
      }
      // Each single request releases its own slot as it ends.
      const idle = batch.length - live.length;
      this.release(lane, idle);
      slots = 0;
      await Promise.all(live.map((w) => this.sendSingle(lane, client, w).finally(() => this.release(lane))));
    } finally {
      if (slots > 0) this.release(lane, slots);
    }
  }

  /** One `kv.writeMany`; true if the leader does not know the method (nothing was served). */
  private async sendBatch(lane: Lane, client: LeaderRpcClient, batch: QueuedWrite[]): Promise<boolean> {
    const now = this.clock.nowMs();
    for (const w of batch) w.state = 'sent';
    const requestMs = Math.max(1, ...batch.map((w) => w.deadlineMs - now));
    const params = writeManyParams(batch.map((w) => ({ params: w.params, timeoutMs: Math.max(1, w.deadlineMs - now) })));
    const timer = this.expireSent(batch, now);
    try {
      const answers = writeManyResults(await client.request(WRITE_MANY_METHOD, params, { timeoutMs: requestMs }), batch.length, this.address);
      batch.forEach((w, i) => {
        const a = answers[i]!;
        this.settle(w, () => (a instanceof AdminRemoteError ? w.reject(a) : w.resolve(a)));
      });
      return false;
    } catch (err) {
      if (err instanceof AdminRemoteError && err.code === 'UNKNOWN_METHOD') {
        for (const w of batch) if (w.state === 'sent') w.state = 'taken';
        return true;
      }
      const failure = this.sentFailure(lane, err, `the batch of ${batch.length} writes`);
      for (const w of batch) this.settle(w, () => w.reject(failure));
      return false;
    } finally {
      if (timer.current !== null) this.clock.clearTimeout(timer.current);
    }
  }

  /** One `kv.write`, as on a connection to a leader without batches. */
  private async sendSingle(lane: Lane, client: LeaderRpcClient, w: QueuedWrite): Promise<void> {
    if (w.state !== 'taken') return;
    const now = this.clock.nowMs();
    w.state = 'sent';
    const timer = this.expireSent([w], now);
    try {
      const a = (await client.request('kv.write', w.params, { timeoutMs: Math.max(1, w.deadlineMs - now) })) as WriteAnswer;
      this.settle(w, () => w.resolve(a));
    } catch (err) {
      const failure = this.sentFailure(lane, err, w.what);
      this.settle(w, () => w.reject(failure));
    } finally {
      if (timer.current !== null) this.clock.clearTimeout(timer.current);
    }
  }

  /**
   * Each sent write's own deadline, while its request is out: one timer at the earliest,
   * re-armed for the next. A write past its deadline is "may have happened"; its neighbours wait on.
   */
  private expireSent(batch: readonly QueuedWrite[], now: number): { current: Timer | null } {
    const timer: { current: Timer | null } = { current: null };
    const arm = (from: number): void => {
      let next = Infinity;
      for (const w of batch) if (w.state === 'sent') next = Math.min(next, w.deadlineMs);
      if (next === Infinity) return;
      timer.current = this.clock.setTimeout(() => {
        timer.current = null;
        const at = this.clock.nowMs();
        for (const w of batch) {
          if (w.state !== 'sent' || w.deadlineMs > at) continue;
          this.settle(w, () => w.reject(new WriteOutcomeUnknownError(`${w.what} was sent to the leader at ${this.address} and its deadline passed before the answer came; it may or may not take effect`)));
        }
        arm(at);
      }, Math.max(1, next - from));
    };
    arm(now);
    return timer;
  }

  /** What a sent request's failure means for what it carried; a failure that is not the leader's own answer drops the connection. */
  private sentFailure(lane: Lane, err: unknown, what: string): unknown {
    // The server's own answer (or the caller's stop, already WOU) says nothing about the connection.
    if (err instanceof AdminRemoteError || err instanceof WriteOutcomeUnknownError) return err;
    this.drop(lane);
    // Sent, then no answer: the leader may have proposed it. Sending it again could apply a
    // write twice (test/nemesis/forwarding.test.ts), so the caller must not retry. Unless
    // the leader closed the connection as idle: then it served nothing, and the caller may.
    if (err instanceof AdminConnectionError && err.unserved) return err;
    return new WriteOutcomeUnknownError(`${what} was sent to the leader at ${this.address}, which did not answer (${(err as Error).message}); it may or may not take effect`, err);
  }

  private acquire(timeoutMs: number): Promise<Lane> {
    // Refusals before anything was sent: the request did not happen (ProposalDroppedError).
    if (this.closed) return Promise.reject(new ProposalDroppedError(`forwarding to ${this.address} is closed; nothing was sent`));
    const free = this.lanes.find((l) => l.inflight < this.limits.inflightPerConnection);
    if (free) {
      free.inflight++;
      return Promise.resolve(free);
    }
    if (this.lanes.length < this.limits.connections) {
      return Promise.resolve(this.newLane(1));
    }
    if (this.waiting.length >= this.limits.queued) {
      return Promise.reject(new ProposalDroppedError(`${this.limits.queued} requests already wait to be forwarded to ${this.address}; nothing was sent`));
    }
    return new Promise<Lane>((resolve, reject) => {
      const entry = {
        grant: (lane: Lane) => {
          this.clock.clearTimeout(entry.timer);
          resolve(lane);
        },
        timer: this.clock.setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new ProposalDroppedError(`no connection to ${this.address} had room within ${timeoutMs} ms; nothing was sent`));
        }, timeoutMs),
      };
      this.waiting.push(entry);
    });
  }

  private newLane(inflight: number): Lane {
    const lane: Lane = { client: this.connect(), inflight, dead: false, singleWrites: false };
    lane.client.catch(() => this.drop(lane));
    this.lanes.push(lane);
    return lane;
  }

  /** Hands the slots to the next waiters, if any (a dead lane's waiter gets a fresh lane), then to queued writes. */
  private release(lane: Lane, slots = 1): void {
    lane.inflight -= slots;
    for (let i = 0; i < slots; i++) {
      const next = this.waiting.shift();
      if (!next) break;
      this.acquire(1).then(next.grant, () => this.waiting.unshift(next));
    }
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private drop(lane: Lane): void {
    if (lane.dead) return;
    lane.dead = true;
    const i = this.lanes.indexOf(lane);
    if (i >= 0) this.lanes.splice(i, 1);
    lane.client.then((c) => c.close()).catch(() => {});
  }

  close(): void {
    this.closed = true;
    for (const w of this.queue.splice(0)) this.settle(w, () => w.reject(new ProposalDroppedError(`forwarding to ${this.address} closed before ${w.what} was sent; nothing was sent`)));
    this.queuedBytes = 0;
    for (const lane of [...this.lanes]) this.drop(lane);
  }
}
