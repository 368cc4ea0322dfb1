// Write tracing for the latency budget (bench/budget.ts, issue 15): stamps of the steps one
// write goes through, keyed by its log index, on a clock every process of the machine shares,
// so that a leader's and a follower's stamps line up. Off unless a tracer is given in the
// seams: each stamp site then costs one null check.

/** Steps a write's log index passes through on one node (leader and follower alike). */
export type TraceStep =
  | 'put' // the caller called put() (leader)
  | 'proposed' // the core took the proposal
  | 'readyTaken' // the Ready carrying the entry is being handled
  | 'sent' // the append carrying it went to the transport (encoded, written to the socket)
  | 'received' // the append carrying it arrived from the transport (decoded)
  | 'durable' // this node's write of it is durable
  | 'ackSent' // an append response covering it went to the transport
  | 'ackReceived' // the leader got a response covering it
  | 'committed' // a Ready carries it as committed
  | 'applied' // its apply is done
  | 'resolved'; // the leader's put() is about to resolve

export interface WriteTracer {
  stamp(step: TraceStep, index: number, atUs: number): void;
}

/** A bounded in-memory tracer: the first stamp of each step per index, for the last `maxIndexes` indexes. */
export class WriteTrace implements WriteTracer {
  private readonly byIndex = new Map<number, Partial<Record<TraceStep, number>>>();
  constructor(readonly maxIndexes = 100_000) {}

  stamp(step: TraceStep, index: number, atUs: number): void {
    let s = this.byIndex.get(index);
    if (!s) {
      if (this.byIndex.size >= this.maxIndexes) this.byIndex.delete(this.byIndex.keys().next().value!);
      s = {};
      this.byIndex.set(index, s);
    }
    if (s[step] === undefined) s[step] = atUs;
  }

  /** Every index's stamps, then forgets them. */
  take(): Record<number, Partial<Record<TraceStep, number>>> {
    const out = Object.fromEntries(this.byIndex);
    this.byIndex.clear();
    return out;
  }
}

/** The driver's stamp function: null when tracing is off (or the clock has no shared microseconds). */
export type Stamp = ((step: TraceStep, index: number, atUs?: number) => void) | null;

/** `nowUs`: the clock seam's shared microseconds (Clock.nowUs). */
/** Stamps `step` for every entry of `entries`. */
export function stampEntries(stamp: Stamp, step: TraceStep, entries: readonly { readonly index: number }[]): void {
  if (stamp) for (const e of entries) stamp(step, e.index);
}

export function stampOf(tracer: WriteTracer | undefined, nowUs: (() => number) | undefined): Stamp {
  if (!tracer || !nowUs) return null;
  return (step, index, atUs) => tracer.stamp(step, index, atUs ?? nowUs());
}
