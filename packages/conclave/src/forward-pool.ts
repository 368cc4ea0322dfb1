// Requests forwarded to one member's admin endpoint (a follower's writes to the leader).
// The server answers at most DEFAULTS.adminMaxPendingRequests requests in flight per
// connection and refuses the rest (TOO_MANY_REQUESTS), so a follower under load spreads
// its forwards over a few connections and beyond those queues them, bounded, each within
// its own deadline. A connection that fails is dropped and replaced by the next request.
import { AdminConnectionError, AdminRemoteError, DEFAULTS } from '@conclave/transport';
import type { Call } from './deadlines.js';
import { ProposalDroppedError, WriteOutcomeUnknownError } from './errors.js';
import { systemClock, type Clock, type LeaderRpcClient, type Timer } from './seams.js';

interface Lane {
  readonly client: Promise<LeaderRpcClient>;
  inflight: number;
  dead: boolean;
}

export interface ForwardPoolLimits {
  readonly connections: number;
  readonly inflightPerConnection: number;
  readonly queued: number;
}

export const FORWARD_POOL_LIMITS: ForwardPoolLimits = { connections: 4, inflightPerConnection: DEFAULTS.adminMaxPendingRequests, queued: 100_000 };

export class ForwardPool {
  private readonly lanes: Lane[] = [];
  private readonly waiting: { readonly grant: (lane: Lane) => void; readonly timer: Timer }[] = [];
  private closed = false;

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
      // The server's own answer says nothing about the connection; anything else does.
      if (!(err instanceof AdminRemoteError) && !(err instanceof WriteOutcomeUnknownError)) this.drop(lane);
      // Sent, then no answer: the leader may have proposed it. Sending it again could apply a
      // write twice (test/nemesis/forwarding.test.ts), so the caller must not retry. Unless
      // the leader closed the connection as idle: then it served nothing, and the caller may.
      if (err instanceof AdminConnectionError && err.unserved) throw err;
      if (sent && !(err instanceof AdminRemoteError) && !(err instanceof WriteOutcomeUnknownError)) {
        throw new WriteOutcomeUnknownError(`${what} was sent to the leader at ${this.address}, which did not answer (${(err as Error).message}); it may or may not take effect`, err);
      }
      throw err;
    } finally {
      this.release(lane);
    }
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
      const lane: Lane = { client: this.connect(), inflight: 1, dead: false };
      lane.client.catch(() => this.drop(lane));
      this.lanes.push(lane);
      return Promise.resolve(lane);
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

  /** Hands the slot to the next waiter, if any (a dead lane's waiter gets a fresh lane). */
  private release(lane: Lane): void {
    lane.inflight--;
    const next = this.waiting.shift();
    if (!next) return;
    this.acquire(1).then(next.grant, () => this.waiting.unshift(next));
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
    for (const lane of [...this.lanes]) this.drop(lane);
  }
}
