// Turns one key's operations into what the search steps. Two ways:
//
// Unique values (our own clients write each value once): an info write (or CAS) whose value
// nobody observed can always be left out, and one whose value was observed must have taken
// effect before the earliest of its observers returned: that earliest return becomes its
// completion. With every completion finite, the history falls apart into segments at the
// moments no operation is open, which keeps the search small on hour-long histories.
//
// Repeated values (Jepsen's histories write small integers again and again): an observer no
// longer names its writer, so every info write or CAS stays, open until the end (Knossos: it
// may take effect at any point after its invocation, or never). An info write linearized
// last is as good as never; an info CAS steps as "sets when it matches, else no effect".
//
// Either way, values nobody observes behave alike (no read or CAS can match them), so they
// merge into one, which keeps the set of register values small.
import { isBlindCasFailure, observed, produced, type HistoryOp, type ModelOp, type RegisterOp, type Value } from './register.js';

/** An operation as the search sees it: mandatory, with a completion (Infinity: open to the end). */
export interface SearchOp {
  readonly source: HistoryOp;
  /** The operation as the search steps it: values nobody observed replaced by UNOBSERVED. */
  readonly model: ModelOp;
  readonly invokeMs: number;
  readonly completeMs: number;
  /** An info operation whose completion was derived from its earliest observer. */
  readonly derived: boolean;
}

/** Stands for every written value that no operation observed. */
export const UNOBSERVED = '\u0000unobserved';

export function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when some value is written twice, a failed CAS does not say what it found, or a delete's outcome is unknown. */
export function needsGeneralMode(ops: readonly HistoryOp[]): boolean {
  const written = new Set<string>();
  for (const h of ops) {
    if (isBlindCasFailure(h)) return true;
    if (h.outcome === 'fail') continue;
    // An indeterminate delete: no observer names it, so it must stay open to the end.
    if (h.outcome === 'info' && h.op.f === 'write' && h.op.value === null) return true;
    const v = produced(h.op);
    if (v === null) continue;
    if (written.has(v)) return true;
    written.add(v);
  }
  return false;
}

/** Drops what cannot matter and gives every remaining operation its completion. */
export function prepareKey(ops: readonly HistoryOp[]): SearchOp[] {
  for (const h of ops) {
    const v = produced(h.op);
    if (v === UNOBSERVED) throw new Error(`key ${h.key}: the value ${JSON.stringify(v)} is reserved by the checker`);
  }
  const out = needsGeneralMode(ops) ? prepareGeneral(ops) : prepareUnique(ops);
  out.sort((a, b) => compareNumbers(a.invokeMs, b.invokeMs) || compareNumbers(a.completeMs, b.completeMs));
  return out;
}

function modelOf(op: RegisterOp, observedValues: ReadonlySet<Value>): RegisterOp {
  // A delete (null) is never merged: the initial value is null too, and reads of nothing observe it.
  if (op.f === 'write' && op.value !== null && !observedValues.has(op.value)) return { f: 'write', value: UNOBSERVED };
  if (op.f === 'cas' && op.succeeded !== false && op.next !== null && !observedValues.has(op.next)) return { ...op, next: UNOBSERVED };
  return op;
}

function prepareGeneral(ops: readonly HistoryOp[]): SearchOp[] {
  // Failed operations did not happen; info reads have no effect.
  const kept = ops.filter((h) => h.outcome === 'ok' || (h.outcome === 'info' && h.op.f !== 'read'));
  const observedValues = new Set(kept.flatMap(observed));
  return kept.map((h) => {
    let model: ModelOp = modelOf(h.op, observedValues);
    if (h.outcome === 'info' && model.f === 'cas') model = { f: 'cas-maybe', expected: model.expected, next: model.next };
    return { source: h, model, invokeMs: h.invokeMs, completeMs: h.outcome === 'ok' ? h.completeMs : Infinity, derived: false };
  });
}

function prepareUnique(ops: readonly HistoryOp[]): SearchOp[] {
  const producer = new Map<string, HistoryOp>();
  for (const h of ops) {
    if (h.outcome === 'fail') continue;
    const v = produced(h.op);
    if (v !== null) producer.set(v, h);
  }
  const oks = ops.filter((h) => h.outcome === 'ok');
  // Keep the info operations whose value some kept operation observes (a worklist to a fixpoint).
  const kept = new Set<HistoryOp>();
  const queue: Value[] = oks.flatMap(observed);
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    if (v === null) continue;
    const p = producer.get(v);
    if (!p || p.outcome !== 'info' || kept.has(p)) continue;
    kept.add(p);
    queue.push(...observed(p));
  }
  // Completion of a kept info op: the earliest completion among the kept ops that observe its value.
  const observers = new Map<string, HistoryOp[]>();
  for (const h of [...oks, ...kept]) {
    for (const v of observed(h)) {
      if (v === null) continue;
      let list = observers.get(v);
      if (!list) observers.set(v, (list = []));
      list.push(h);
    }
  }
  const completion = new Map<HistoryOp, number>();
  for (const h of oks) completion.set(h, h.completeMs);
  for (const h of kept) completion.set(h, Infinity);
  // Bellman-Ford style relaxation: at most |kept| + 1 rounds reach the fixpoint.
  for (let round = 0; round <= kept.size; round++) {
    let changed = false;
    for (const h of kept) {
      const v = produced(h.op)!;
      let best = completion.get(h)!;
      for (const o of observers.get(v) ?? []) best = Math.min(best, completion.get(o)!);
      if (best < completion.get(h)!) {
        completion.set(h, best);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const observedValues = new Set<Value>(observers.keys());
  const out: SearchOp[] = [];
  for (const h of oks) out.push({ source: h, model: modelOf(h.op, observedValues), invokeMs: h.invokeMs, completeMs: h.completeMs, derived: false });
  for (const h of kept) {
    // An observer that returned before this op was invoked is a violation the search will find;
    // a zero-width window keeps the event order well formed meanwhile.
    const c = Math.max(h.invokeMs, completion.get(h)!);
    out.push({ source: h, model: modelOf(h.op, observedValues), invokeMs: h.invokeMs, completeMs: Number.isFinite(c) ? c : h.invokeMs, derived: true });
  }
  return out;
}
