// A linearizability checker for histories of registers (read, write, compare-and-set), one
// register per key. Wing & Gong's search with Lowe's memoization: a configuration is the set
// of operations linearized so far plus the register's value, and a configuration already
// explored is never explored again.
//
// P-compositionality: a history is linearizable iff its restriction to each key is, so
// every key is checked on its own.
//
// Indeterminate operations (`info`: a timeout, a lost connection, WriteOutcomeUnknownError)
// follow Knossos: an info operation may take effect at any point after its invocation, or
// never. Reads without a result have no effect and are dropped; so are failed operations,
// which did not happen. How info operations are bounded, and how values nobody observed are
// merged, is prepare.ts's business: it works with unique values (our clients) and with
// repeated ones (Jepsen's histories). Each segment of the prepared history (a run of
// operations between moments when none is open) is searched from every value the previous
// one could have left.

import { compareNumbers, prepareKey, UNOBSERVED, type SearchOp } from './prepare.js';
import { ILLEGAL, observed, produced, stepRegister, type HistoryOp, type RegisterOp, type Value } from './register.js';

export type { HistoryOp, Outcome, RegisterOp, Value } from './register.js';
export { stepRegister } from './register.js';
export { prepareKey } from './prepare.js';

export interface KeyResult {
  readonly key: string;
  readonly linearizable: boolean | 'unknown';
  /** Operations searched (after dropping failed ops, info reads and unobserved info writes). */
  readonly searched: number;
  readonly segments: number;
  readonly configurations: number;
  /** The minimal failing history, when not linearizable. */
  readonly failure?: Failure;
  readonly message?: string;
}

export interface Failure {
  /** Values the register may hold before the first operation of `ops`. */
  readonly initialValues: readonly Value[];
  readonly ops: readonly SearchOpView[];
  /** For values `ops` observe but do not write: the operation that wrote each (any outcome). */
  readonly writers: readonly HistoryOp[];
  /** True when shrinking stopped at its budget before reaching a minimum. */
  readonly shrinkIncomplete: boolean;
}

export interface SearchOpView {
  readonly op: HistoryOp;
  readonly completeMs: number;
  readonly derived: boolean;
}

export interface CheckResult {
  readonly linearizable: boolean | 'unknown';
  readonly keys: readonly KeyResult[];
  readonly ops: number;
}

export interface CheckOptions {
  /** Search steps per segment before giving up with 'unknown'. */
  readonly maxStepsPerSegment?: number;
  /** Checks the shrinker may run for one failing key. */
  readonly shrinkChecks?: number;
  /** Search steps the shrinker may spend on one failing key, all its checks together. */
  readonly shrinkSteps?: number;
}

const DEFAULTS = { maxStepsPerSegment: 20_000_000, shrinkChecks: 2_000, shrinkSteps: 5_000_000 };


interface Event {
  readonly time: number;
  /** 0 = call, 1 = return: calls sort first at equal times, so touching ops count as concurrent. */
  readonly kind: 0 | 1;
  readonly op: number;
}

/** Splits ops (sorted by invocation) into runs separated by moments when none is open. */
export function segmentsOf(ops: readonly SearchOp[]): SearchOp[][] {
  const events: Event[] = [];
  ops.forEach((o, i) => {
    events.push({ time: o.invokeMs, kind: 0, op: i });
    events.push({ time: o.completeMs, kind: 1, op: i });
  });
  events.sort((a, b) => compareNumbers(a.time, b.time) || a.kind - b.kind || a.op - b.op);
  const segments: SearchOp[][] = [];
  let current: SearchOp[] = [];
  let open = 0;
  for (const e of events) {
    if (e.kind === 0) {
      open++;
      current.push(ops[e.op]!);
    } else if (--open === 0) {
      segments.push(current);
      current = [];
    }
  }
  if (current.length > 0) segments.push(current);
  return segments;
}

interface Node {
  readonly call: boolean;
  readonly op: number;
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

export interface SegmentSearch {
  /** Every value the register can hold once all of the segment's operations took effect. */
  readonly endValues: Set<Value>;
  readonly steps: number;
  readonly configurations: number;
  readonly exhausted: boolean;
}

/**
 * Wing–Gong–Lowe over one segment, from each start value, exploring every complete
 * linearization (not only the first) to collect the possible end values; with `firstOnly`
 * (the last segment, whose end values nobody needs) it stops at the first.
 */
export function searchSegment(ops: readonly SearchOp[], starts: Iterable<Value>, maxSteps: number, firstOnly = false): SegmentSearch {
  const n = ops.length;
  const events: Event[] = [];
  ops.forEach((o, i) => {
    events.push({ time: o.invokeMs, kind: 0, op: i });
    events.push({ time: o.completeMs, kind: 1, op: i });
  });
  events.sort((a, b) => compareNumbers(a.time, b.time) || a.kind - b.kind || a.op - b.op);
  const head: Node = { call: false, op: -1, match: null, prev: null, next: null };
  let tail = head;
  const byOp: (Node | undefined)[] = new Array(n);
  for (const e of events) {
    const node: Node = { call: e.kind === 0, op: e.op, match: null, prev: tail, next: null };
    tail.next = node;
    tail = node;
    if (e.kind === 0) byOp[e.op] = node;
    else byOp[e.op]!.match = node;
  }
  const lift = (c: Node): void => {
    c.prev!.next = c.next;
    if (c.next) c.next.prev = c.prev;
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node): void => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    if (c.next) c.next.prev = c;
  };

  // The set of linearized ops as 16-bit halves, so that a configuration's key is a short string.
  const words = new Uint16Array(Math.ceil(n / 16) || 1);
  const seen = new Set<string>();
  const endValues = new Set<Value>();
  const keyOf = (state: Value): string => `${String.fromCharCode.apply(null, words as unknown as number[])}|${state === null ? '\u0000' : state}`;
  let steps = 0;
  for (const start of starts) {
    let state: Value = start;
    if (n === 0) {
      endValues.add(state);
      continue;
    }
    if (seen.has(keyOf(state))) continue;
    seen.add(keyOf(state));
    const stack: { node: Node; state: Value }[] = [];
    let entry: Node | null = head.next;
    for (;;) {
      if (++steps > maxSteps) return { endValues, steps, configurations: seen.size, exhausted: true };
      if (head.next === null) {
        // Everything linearized: record where it leaves the register, then look for other orders.
        endValues.add(state);
        if (firstOnly) return { endValues, steps, configurations: seen.size, exhausted: false };
        entry = null;
      }
      if (entry !== null && entry.call) {
        const next = stepRegister(state, ops[entry.op]!.model);
        if (next !== ILLEGAL) {
          const w = entry.op >>> 4;
          const bit = 1 << (entry.op & 15);
          words[w]! |= bit;
          const key = keyOf(next);
          if (!seen.has(key)) {
            seen.add(key);
            stack.push({ node: entry, state });
            state = next;
            lift(entry);
            entry = head.next;
            continue;
          }
          words[w]! &= ~bit;
        }
        entry = entry.next;
        continue;
      }
      // A return whose op is not linearized yet (or the end): undo the last choice.
      const top = stack.pop();
      if (!top) break;
      unlift(top.node);
      words[top.node.op >>> 4]! &= ~(1 << (top.node.op & 15));
      state = top.state;
      entry = top.node.next;
    }
  }
  return { endValues, steps, configurations: seen.size, exhausted: false };
}

interface RunResult {
  readonly ok: boolean | 'unknown';
  readonly segments: number;
  readonly configurations: number;
  readonly steps: number;
  /**
   * The failing segment with up to CONTEXT_SEGMENTS before it (so that the minimal history
   * can show the writes that explain the register's value), and the values it starts from.
   */
  readonly failing?: { readonly ops: readonly SearchOp[]; readonly starts: readonly Value[] };
}

const CONTEXT_SEGMENTS = 8;

function runSegments(ops: readonly SearchOp[], starts: readonly Value[], maxSteps: number): RunResult {
  let values = new Set<Value>(starts);
  let configurations = 0;
  let steps = 0;
  const segments = segmentsOf(ops);
  const recent: { seg: SearchOp[]; starts: Set<Value> }[] = [];
  for (const [i, seg] of segments.entries()) {
    const r = searchSegment(seg, values, maxSteps, i === segments.length - 1);
    configurations += r.configurations;
    steps += r.steps;
    if (r.exhausted) return { ok: 'unknown', segments: segments.length, configurations, steps };
    recent.push({ seg, starts: values });
    if (recent.length > CONTEXT_SEGMENTS + 1) recent.shift();
    if (r.endValues.size === 0) {
      return { ok: false, segments: segments.length, configurations, steps, failing: { ops: recent.flatMap((x) => x.seg), starts: [...recent[0]!.starts] } };
    }
    values = r.endValues;
  }
  return { ok: true, segments: segments.length, configurations, steps };
}

/**
 * What must go with current[i]: the operations that observe its value (left alone, they would
 * fail as "a read of a value nobody wrote", hiding the real failure), and the info operations
 * whose completion it alone bounds (it is the reason for that bound); and so on.
 */
function closure(current: readonly SearchOp[], i: number): Set<number> {
  const out = new Set([i]);
  const stack = [i];
  for (let guard = 0; stack.length > 0 && guard < current.length * current.length; guard++) {
    const k = stack.pop()!;
    const o = current[k]!;
    const add = (j: number) => {
      if (!out.has(j)) {
        out.add(j);
        stack.push(j);
      }
    };
    const v = produced(o.source.op);
    if (v !== null) current.forEach((x, j) => observed(x.source).includes(v) && add(j));
    for (const w of observed(o.source)) {
      const x = current.findIndex((d) => d.derived && produced(d.source.op) === w);
      if (x < 0 || o.completeMs > current[x]!.completeMs) continue;
      const otherBound = current.some((other, j) => !out.has(j) && other.completeMs <= current[x]!.completeMs && observed(other.source).includes(w));
      if (!otherBound) add(x);
    }
  }
  return out;
}

/**
 * Drops operations (each with its closure) while the history still fails; bounded by
 * `budget` checks and `stepBudget` search steps in all (a candidate whose search would pass
 * the remaining steps is kept as it is).
 */
function shrink(ops: readonly SearchOp[], starts: readonly Value[], budget: number, stepBudget: number): { ops: SearchOp[]; incomplete: boolean } {
  let current = [...ops];
  let checks = 0;
  let stepsLeft = stepBudget;
  for (let pass = 0; pass < 20; pass++) {
    let removed = false;
    for (let i = current.length - 1; i >= 0; i--) {
      if (i >= current.length) continue;
      if (checks++ >= budget || stepsLeft <= 0) return { ops: current, incomplete: true };
      const drop = closure(current, i);
      const candidate = current.filter((_, j) => !drop.has(j));
      const r = runSegments(candidate, starts, stepsLeft);
      stepsLeft -= r.steps;
      if (r.ok === false) {
        current = candidate;
        removed = true;
      }
    }
    if (!removed) return { ops: current, incomplete: false };
  }
  return { ops: current, incomplete: true };
}

/** Checks one key's operations. */
export function checkKey(key: string, ops: readonly HistoryOp[], options: CheckOptions = {}): KeyResult {
  const maxSteps = options.maxStepsPerSegment ?? DEFAULTS.maxStepsPerSegment;
  const prepared = prepareKey(ops);
  const r = runSegments(prepared, [null], maxSteps);
  const base = { key, searched: prepared.length, segments: r.segments, configurations: r.configurations };
  if (r.ok === 'unknown') return { ...base, linearizable: 'unknown', message: `key ${key}: the search exceeded ${maxSteps} steps in one segment` };
  if (r.ok) return { ...base, linearizable: true };
  const small = shrink(r.failing!.ops, r.failing!.starts, options.shrinkChecks ?? DEFAULTS.shrinkChecks, options.shrinkSteps ?? DEFAULTS.shrinkSteps);
  const writtenHere = new Set(small.ops.map((o) => produced(o.source.op)));
  const seen = new Set(small.ops.flatMap((o) => observed(o.source)).filter((v) => v !== null && !writtenHere.has(v)));
  const failure: Failure = {
    initialValues: r.failing!.starts,
    ops: small.ops.map((o) => ({ op: o.source, completeMs: o.completeMs, derived: o.derived })),
    writers: ops.filter((h) => {
      const v = h.op.f === 'write' ? h.op.value : h.op.f === 'cas' ? h.op.next : null;
      return v !== null && seen.has(v);
    }),
    shrinkIncomplete: small.incomplete,
  };
  return { ...base, linearizable: false, failure, message: `key ${key} is not linearizable:\n${formatFailure(failure)}` };
}

/** Checks a whole history, key by key. */
export function checkHistory(ops: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of ops) {
    let list = byKey.get(h.key);
    if (!list) byKey.set(h.key, (list = []));
    list.push(h);
  }
  const keys = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, list]) => checkKey(key, list, options));
  const linearizable = keys.some((k) => k.linearizable === false) ? false : keys.some((k) => k.linearizable === 'unknown') ? 'unknown' : true;
  return { linearizable, keys, ops: ops.length };
}

const show = (v: Value | undefined): string => (v === null || v === undefined ? 'nil' : v === UNOBSERVED ? '(a value nobody observed)' : JSON.stringify(v));

export function describeOp(op: RegisterOp): string {
  switch (op.f) {
    case 'read':
      return 'read';
    case 'write':
      return `write ${show(op.value)}`;
    case 'cas':
      return `cas ${show(op.expected)} -> ${show(op.next)}`;
  }
}

function describeResult(h: HistoryOp): string {
  const op = h.op;
  if (h.outcome !== 'ok') return h.error ? ` (${h.error})` : '';
  if (op.f === 'read') return ` -> ${show(op.value)}`;
  if (op.f === 'cas') return op.succeeded === false ? (op.current === undefined ? ' -> did not match' : ` -> failed, found ${show(op.current)}`) : ' -> succeeded';
  return '';
}

/** Writers listed under a failing history (with repeated values, a value has many). */
const MAX_WRITERS_SHOWN = 20;

/** The failing history as Jepsen-style invoke/complete lines in time order. */
export function formatFailure(f: Failure, opts: { readonly timesAreLineNumbers?: boolean } = {}): string {
  const t0 = Math.min(...f.ops.map((o) => o.op.invokeMs));
  const at = (ms: number) =>
    !Number.isFinite(ms) ? '      end' : opts.timesAreLineNumbers ? `line ${String(ms).padStart(5)}` : `${((ms - t0) / 1000).toFixed(3).padStart(9)}s`;
  const lines: { t: number; order: number; text: string }[] = [];
  for (const o of f.ops) {
    const h = o.op;
    lines.push({ t: h.invokeMs, order: 0, text: `p${h.process} invoke ${describeOp(h.op)}` });
    const note = o.derived
      ? `info${describeResult(h)}; took effect by here at the latest (an observer returned)`
      : Number.isFinite(o.completeMs)
        ? `${h.outcome}${describeResult(h)}`
        : `info${describeResult(h)} at ${at(h.completeMs)}; may take effect any time after its invocation, or never`;
    lines.push({ t: o.completeMs, order: 1, text: `p${h.process} ${note}  [${describeOp(h.op)}]` });
  }
  lines.sort((a, b) => compareNumbers(a.t, b.t) || a.order - b.order);
  const head = `  register before: ${f.initialValues.map(show).join(' or ')}${f.shrinkIncomplete ? '  (shrinking stopped at its budget)' : ''}`;
  const writers = f.writers.slice(0, MAX_WRITERS_SHOWN).map((h) => `  where ${show(produced(h.op) ?? (h.op as { next: string }).next)} was written by p${h.process} ${describeOp(h.op)}: invoked ${at(h.invokeMs)}, ${h.outcome}${describeResult(h)} ${at(h.completeMs)}`);
  return [head, ...lines.map((l) => `  ${at(l.t)}  ${l.text}`), ...writers].join('\n');
}
