// A simulated network between simulated nodes: seeded delay, loss, duplication and
// reordering, partitions, and the real transport's frame limit. Each delivery is an event
// owned by the receiver's incarnation, so a paused receiver's messages queue and a dead
// one's vanish. Links are FIFO like a WebSocket connection, except for the share
// `reorderRate` of messages that take their own time (a reconnect, another path).
import type { Scheduler } from './scheduler.js';

export interface NetProfile {
  dropRate: number;
  duplicateRate: number;
  reorderRate: number;
  /** One-way delay, uniformly in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
}

export const CALM_NETWORK: NetProfile = { dropRate: 0, duplicateRate: 0, reorderRate: 0, minDelayMs: 0.2, maxDelayMs: 2 };

export interface Endpoint<M> {
  /** The scheduler owner of deliveries to it (its incarnation). */
  readonly owner: string;
  readonly deliver: (from: string, msg: M) => void;
}

export interface NetworkOptions<M> {
  /** Frame limit in bytes: a bigger message is refused at send (the transport's maxPayloadBytes). */
  maxMessageBytes: number;
  /** The message's size on the wire. */
  sizeOf: (msg: M) => number;
  /** What the receiver gets: a copy, as bytes over a socket would make. */
  copy: (msg: M) => M;
  describe?: (msg: M) => string;
  profile?: Partial<NetProfile>;
}

export class SimNetwork<M> {
  profile: NetProfile;
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0, cut: 0, oversized: 0 };
  private readonly endpoints = new Map<string, Endpoint<M>>();
  private cell = new Map<string, number>();
  /** Per directed link: the last scheduled delivery, for FIFO order. */
  private readonly lastDeliveryMs = new Map<string, number>();
  /** Directed links cut one way ("a>b"). */
  private readonly oneWay = new Set<string>();

  constructor(
    private readonly sched: Scheduler,
    private readonly opts: NetworkOptions<M>,
  ) {
    this.profile = { ...CALM_NETWORK, ...opts.profile };
  }

  attach(id: string, endpoint: Endpoint<M>): void {
    this.endpoints.set(id, endpoint);
  }

  detach(id: string): void {
    this.endpoints.delete(id);
  }

  /** Splits the nodes into cells; nodes not named are in a cell of their own. */
  partition(cells: readonly (readonly string[])[]): void {
    this.cell = new Map();
    cells.forEach((c, i) => c.forEach((id) => this.cell.set(id, i)));
    this.sched.note(null, `partition ${cells.map((c) => `[${c.join(',')}]`).join(' ')}`);
  }

  cutOneWay(from: string, to: string): void {
    this.oneWay.add(`${from}>${to}`);
    this.sched.note(null, `link ${from} -> ${to} cut`);
  }

  heal(): void {
    this.cell = new Map();
    this.oneWay.clear();
    this.sched.note(null, 'network healed');
  }

  connected(a: string, b: string): boolean {
    if (this.oneWay.size > 0 && this.oneWay.has(`${a}>${b}`)) return false;
    if (this.cell.size === 0) return true;
    const ca = this.cell.get(a);
    const cb = this.cell.get(b);
    return ca !== undefined && ca === cb;
  }

  /**
   * Sends one message. False when it is refused at once (over the frame limit); a message
   * lost on the way still returns true, as a socket write does.
   */
  send(from: string, to: string, msg: M, opts: { reliable?: boolean; chunked?: boolean } = {}): boolean {
    // A chunked message (a snapshot stream) travels in frames of at most the chunk size.
    const bytes = opts.chunked ? 0 : this.opts.sizeOf(msg);
    if (bytes > this.opts.maxMessageBytes) {
      this.stats.oversized++;
      this.sched.note(from, `net refuses ${bytes} B to ${to} (limit ${this.opts.maxMessageBytes})`);
      return false;
    }
    this.stats.sent++;
    if (!this.connected(from, to)) {
      this.stats.cut++;
      return true;
    }
    // A reliable message rides a connection (TCP): never lost, doubled or overtaken while it holds.
    const reliable = opts.reliable === true;
    if (!reliable && this.sched.chance(this.profile.dropRate)) {
      this.stats.dropped++;
      return true;
    }
    const copies = !reliable && this.sched.chance(this.profile.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) this.schedule(from, to, this.opts.copy(msg), reliable);
    return true;
  }

  private schedule(from: string, to: string, msg: M, reliable: boolean): void {
    const p = this.profile;
    const link = `${from}>${to}`;
    let atMs = this.sched.nowMs + this.sched.uniform(p.minDelayMs, p.maxDelayMs);
    if (!reliable && this.sched.chance(p.reorderRate)) this.stats.reordered++;
    else atMs = Math.max(atMs, this.lastDeliveryMs.get(link) ?? 0);
    this.lastDeliveryMs.set(link, Math.max(atMs, this.lastDeliveryMs.get(link) ?? 0));
    const target = this.endpoints.get(to);
    if (!target) return; // nobody listens there: lost
    const what = this.opts.describe?.(msg) ?? 'message';
    this.sched.at(atMs, target.owner, `deliver ${from}->${to} ${what}`, () => {
      // Checked again on arrival: a partition made in flight cuts it, a new incarnation never gets it.
      if (this.endpoints.get(to) !== target || !this.connected(from, to)) {
        this.stats.cut++;
        return;
      }
      this.stats.delivered++;
      target.deliver(from, msg);
    });
  }
}
