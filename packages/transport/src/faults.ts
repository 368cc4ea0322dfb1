// Fault injection, built into the transport so tests and the nemesis never monkey-patch it.
// Drop, delay and duplicate apply to Messages as this node sends them, per destination;
// a partition blocks Messages both ways (on send and on receipt) and refuses snapshot
// streams. Decisions draw from one RandomSource: with a seeded one and the same sequence
// of sends, the same messages are dropped, duplicated and delayed.
import { InvalidArgumentError, type NodeId } from '@conclave/core';
import { toRandomSource, type RandomSource } from './random.js';

export interface LinkFaults {
  /** Probability in [0, 1] that a message is dropped. */
  readonly dropProbability?: number;
  /** Probability in [0, 1] that a message is sent twice. */
  readonly duplicateProbability?: number;
  /** Every message waits this long before it is queued. */
  readonly delayMs?: number;
  /** Plus a uniform random extra in [0, delayJitterMs): messages may be reordered. */
  readonly delayJitterMs?: number;
}

/** What happens to one message. `delaysMs` has one entry per copy to send (0, 1 or 2). */
export interface FaultFate {
  readonly dropped: 'drop' | 'partition' | null;
  readonly delaysMs: readonly number[];
}

const PASS: FaultFate = { dropped: null, delaysMs: [0] };
const DROP: FaultFate = { dropped: 'drop', delaysMs: [] };
const PARTITIONED: FaultFate = { dropped: 'partition', delaysMs: [] };

function checkProbability(name: string, p: number | undefined): void {
  if (p !== undefined && !(typeof p === 'number' && p >= 0 && p <= 1)) throw new InvalidArgumentError(`${name} must be a number in [0, 1], got ${String(p)}`);
}
function checkMs(name: string, ms: number | undefined): void {
  if (ms !== undefined && !(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0)) throw new InvalidArgumentError(`${name} must be a finite number >= 0, got ${String(ms)}`);
}

export class FaultInjector {
  private random: RandomSource;
  private readonly links = new Map<NodeId, LinkFaults>();
  private defaults: LinkFaults | null = null;
  /** node id -> index of its side; nodes on different sides cannot talk. */
  private sides = new Map<NodeId, number>();

  constructor(random?: RandomSource | number) {
    this.random = toRandomSource(random);
  }

  /** Replaces the random source; a number is a seed for the built-in seeded generator. */
  setRandom(random: RandomSource | number): void {
    this.random = toRandomSource(random);
  }

  /** Sets the faults of this node's link to `to`, or of every link with '*'. `{}` clears them. */
  setLink(to: NodeId | '*', faults: LinkFaults): void {
    checkProbability('dropProbability', faults.dropProbability);
    checkProbability('duplicateProbability', faults.duplicateProbability);
    checkMs('delayMs', faults.delayMs);
    checkMs('delayJitterMs', faults.delayJitterMs);
    const copy = { ...faults };
    if (to === '*') this.defaults = copy;
    else this.links.set(to, copy);
  }

  getLink(to: NodeId): LinkFaults {
    return this.links.get(to) ?? this.defaults ?? {};
  }

  /**
   * Splits nodes into sides that cannot reach each other, both directions:
   * `partition([['n1'], ['n2', 'n3']])` cuts n1 off from n2 and n3. Nodes not named are not
   * affected. Replaces any previous partition.
   */
  partition(sides: readonly (readonly NodeId[])[]): void {
    const next = new Map<NodeId, number>();
    sides.forEach((ids, side) => {
      for (const id of ids) {
        if (next.has(id) && next.get(id) !== side) throw new InvalidArgumentError(`node ${id} is on two sides of the partition`);
        next.set(id, side);
      }
    });
    this.sides = next;
  }

  /** Removes the partition. */
  heal(): void {
    this.sides = new Map();
  }

  /** Removes every fault: link rules, defaults and the partition. */
  reset(): void {
    this.links.clear();
    this.defaults = null;
    this.heal();
  }

  isPartitioned(a: NodeId, b: NodeId): boolean {
    const sa = this.sides.get(a);
    const sb = this.sides.get(b);
    return sa !== undefined && sb !== undefined && sa !== sb;
  }

  /** Decides the fate of one message from `from` to `to`. Draws random numbers in a fixed order. */
  decide(from: NodeId, to: NodeId): FaultFate {
    if (this.sides.size > 0 && this.isPartitioned(from, to)) return PARTITIONED;
    const f = this.links.get(to) ?? this.defaults;
    if (!f) return PASS;
    if (f.dropProbability && this.random() < f.dropProbability) return DROP;
    const copies = f.duplicateProbability && this.random() < f.duplicateProbability ? 2 : 1;
    if (!f.delayMs && !f.delayJitterMs) return copies === 1 ? PASS : { dropped: null, delaysMs: [0, 0] };
    const delays: number[] = [];
    for (let i = 0; i < copies; i++) delays.push((f.delayMs ?? 0) + (f.delayJitterMs ? this.random() * f.delayJitterMs : 0));
    return { dropped: null, delaysMs: delays };
  }
}
