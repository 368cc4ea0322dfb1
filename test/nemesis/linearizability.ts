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
// which did not happen. Because every written value is unique, an info write (or CAS) whose
// value nobody observed can always be left out, and one whose value was observed must have
// taken effect before the earliest of its observers returned: that earliest return becomes
// its completion. With every completion finite, the history falls apart into segments at
// the moments no operation is open; each segment is searched from every value the previous
// one could have left, which keeps each search small on hour-long histories. And values
// nobody observed all behave alike (no read or CAS can match them), so the search merges
// them into one, which keeps the set of end values small.

/** A register's value: a unique string, or null when the key is absent. */
export type Value = string | null;

export type RegisterOp =
  /** `value`: what the read returned (only meaningful when ok). */
  | { readonly f: 'read'; readonly value: Value }
  | { readonly f: 'write'; readonly value: string }
  /** When ok: `succeeded`, and `current` = the value the CAS found. */
  | { readonly f: 'cas'; readonly expected: Value; readonly next: string; readonly succeeded?: boolean; readonly current?: Value };

export type Outcome = 'ok' | 'fail' | 'info';

export interface HistoryOp {
  readonly process: number;
  readonly key: string;
  readonly op: RegisterOp;
  readonly outcome: Outcome;
  readonly invokeMs: number;
  /** When the client got its answer (or gave up, for info). */
  readonly completeMs: number;
  /** Why the operation failed or is indeterminate (an error code), for the report. */
  readonly error?: string;
}

/** An operation as the search sees it: mandatory, with a finite completion. */
interface SearchOp {
  readonly source: HistoryOp;
  /** The operation as the search steps it: values nobody observed replaced by UNOBSERVED. */
  readonly model: RegisterOp;
  readonly invokeMs: number;
  readonly completeMs: number;
  /** An info operation whose completion was derived from its earliest observer. */
  readonly derived: boolean;
}

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
}

const DEFAULTS = { maxStepsPerSegment: 20_000_000, shrinkChecks: 2_000 };

const ILLEGAL = Symbol('illegal');
/** Stands for every written value that no operation observed. */
const UNOBSERVED = '\u0000unobserved';

/** The sequential register: the value after `op` from `state`, or ILLEGAL. */
export function stepRegister(state: Value, op: RegisterOp): Value | typeof ILLEGAL {
  switch (op.f) {
    case 'read':
      return state === op.value ? state : ILLEGAL;
    case 'write':
      return op.value;
    case 'cas':
      if (op.succeeded === false) {
        // The CAS found `current`, which differs from what it expected.
        const current = op.current ?? null;
        return state === current && current !== op.expected ? state : ILLEGAL;
      }
      return state === op.expected ? op.next : ILLEGAL;
  }
}

/** The value an operation writes, if it writes. */
function produced(op: RegisterOp): string | null {
  if (op.f === 'write') return op.value;
  if (op.f === 'cas' && op.succeeded !== false) return op.next;
  return null;
}

/** Values a (taking-effect) operation requires the register to hold. */
function observed(h: HistoryOp): Value[] {
  const op = h.op;
  if (op.f === 'read') return h.outcome === 'ok' ? [op.value] : [];
  if (op.f === 'cas') {
    if (h.outcome === 'ok' && op.succeeded === false) return [op.current ?? null];
    return [op.expected];
  }
  return [];
}

/**
 * Drops what cannot matter and gives every remaining operation a finite completion.
 * Throws if two operations of the key write the same value (the clients must write unique values).
 */
export function prepareKey(ops: readonly HistoryOp[]): SearchOp[] {
  const producer = new Map<string, HistoryOp>();
  for (const h of ops) {
    if (h.outcome === 'fail') continue;
    const v = produced(h.op);
    if (v === null) continue;
    if (v === UNOBSERVED) throw new Error(`key ${h.key}: the value ${JSON.stringify(v)} is reserved by the checker`);
    if (producer.has(v)) throw new Error(`key ${h.key}: value ${JSON.stringify(v)} is written twice; the checker needs unique values`);
    producer.set(v, h);
  }
  const oks = ops.filter((h) => h.outcome === 'ok');
  const infos = ops.filter((h) => h.outcome === 'info' && h.op.f !== 'read');
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
  const model = (op: RegisterOp): RegisterOp => {
    if (op.f === 'write' && !observers.has(op.value)) return { f: 'write', value: UNOBSERVED };
    if (op.f === 'cas' && op.succeeded !== false && !observers.has(op.next)) return { ...op, next: UNOBSERVED };
    return op;
  };
  const out: SearchOp[] = [];
  for (const h of oks) out.push({ source: h, model: model(h.op), invokeMs: h.invokeMs, completeMs: h.completeMs, derived: false });
  for (const h of kept) {
    // An observer that returned before this op was invoked is a violation the search will find;
    // a zero-width window keeps the event order well formed meanwhile.
    const c = Math.max(h.invokeMs, completion.get(h)!);
    out.push({ source: h, model: model(h.op), invokeMs: h.invokeMs, completeMs: Number.isFinite(c) ? c : h.invokeMs, derived: true });
  }
  out.sort((a, b) => a.invokeMs - b.invokeMs || a.completeMs - b.completeMs);
  return out;
}

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
  events.sort((a, b) => a.time - b.time || a.kind - b.kind || a.op - b.op);
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
 * linearization (not only the first) to collect the possible end values.
 */
export function searchSegment(ops: readonly SearchOp[], starts: Iterable<Value>, maxSteps: number): SegmentSearch {
  const n = ops.length;
  const events: Event[] = [];
  ops.forEach((o, i) => {
    events.push({ time: o.invokeMs, kind: 0, op: i });
    events.push({ time: o.completeMs, kind: 1, op: i });
  });
  events.sort((a, b) => a.time - b.time || a.kind - b.kind || a.op - b.op);
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

  const words = new Uint32Array(Math.ceil(n / 32) || 1);
  const seen = new Set<string>();
  const endValues = new Set<Value>();
  const keyOf = (state: Value): string => `${words.join(',')}|${state === null ? '\u0000' : state}`;
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
        entry = null;
      }
      if (entry !== null && entry.call) {
        const next = stepRegister(state, ops[entry.op]!.model);
        if (next !== ILLEGAL) {
          const w = entry.op >>> 5;
          const bit = 1 << (entry.op & 31);
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
      words[top.node.op >>> 5]! &= ~(1 << (top.node.op & 31));
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
  const segments = segmentsOf(ops);
  const recent: { seg: SearchOp[]; starts: Set<Value> }[] = [];
  for (const seg of segments) {
    const r = searchSegment(seg, values, maxSteps);
    configurations += r.configurations;
    if (r.exhausted) return { ok: 'unknown', segments: segments.length, configurations };
    recent.push({ seg, starts: values });
    if (recent.length > CONTEXT_SEGMENTS + 1) recent.shift();
    if (r.endValues.size === 0) {
      return { ok: false, segments: segments.length, configurations, failing: { ops: recent.flatMap((x) => x.seg), starts: [...recent[0]!.starts] } };
    }
    values = r.endValues;
  }
  return { ok: true, segments: segments.length, configurations };
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
 * `budget` checks.
 */
function shrink(ops: readonly SearchOp[], starts: readonly Value[], budget: number, maxSteps: number): { ops: SearchOp[]; incomplete: boolean } {
  let current = [...ops];
  let checks = 0;
  for (let pass = 0; pass < 20; pass++) {
    let removed = false;
    for (let i = current.length - 1; i >= 0; i--) {
      if (i >= current.length) continue;
      if (checks++ >= budget) return { ops: current, incomplete: true };
      const drop = closure(current, i);
      const candidate = current.filter((_, j) => !drop.has(j));
      if (runSegments(candidate, starts, maxSteps).ok === false) {
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
  const small = shrink(r.failing!.ops, r.failing!.starts, options.shrinkChecks ?? DEFAULTS.shrinkChecks, maxSteps);
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
  if (op.f === 'cas') return op.succeeded === false ? ` -> failed, found ${show(op.current)}` : ' -> succeeded';
  return '';
}

/** The failing history as Jepsen-style invoke/complete lines in time order. */
export function formatFailure(f: Failure): string {
  const t0 = Math.min(...f.ops.map((o) => o.op.invokeMs));
  const lines: { t: number; order: number; text: string }[] = [];
  for (const o of f.ops) {
    const h = o.op;
    lines.push({ t: h.invokeMs, order: 0, text: `p${h.process} invoke ${describeOp(h.op)}` });
    const note = o.derived ? `info${describeResult(h)}; took effect by here at the latest (an observer returned)` : `${h.outcome}${describeResult(h)}`;
    lines.push({ t: o.completeMs, order: 1, text: `p${h.process} ${note}  [${describeOp(h.op)}]` });
  }
  lines.sort((a, b) => a.t - b.t || a.order - b.order);
  const head = `  register before: ${f.initialValues.map(show).join(' or ')}${f.shrinkIncomplete ? '  (shrinking stopped at its budget)' : ''}`;
  const at = (ms: number) => `${((ms - t0) / 1000).toFixed(3).padStart(9)}s`;
  const writers = f.writers.map((h) => `  where ${show(produced(h.op) ?? (h.op as { next: string }).next)} was written by p${h.process} ${describeOp(h.op)}: invoked ${at(h.invokeMs)}, ${h.outcome}${describeResult(h)} ${at(h.completeMs)}`);
  return [head, ...lines.map((l) => `  ${at(l.t)}  ${l.text}`), ...writers].join('\n');
}
