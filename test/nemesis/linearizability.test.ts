// The linearizability checker on hand-made histories (known good, known bad, info cases,
// concurrency), on histories generated from a sequential register (must pass), and on the
// same histories with a stale read injected (must fail, with a small printed history).
import test from 'ava';
import fc from 'fast-check';
import { checkHistory, checkKey, formatFailure, prepareKey, type HistoryOp, type Outcome, type RegisterOp, type Value } from './linearizability.js';

let nextProcess = 0;
/** One operation: [invokeMs, completeMs] on key 'k' by a fresh process unless given. */
function op(o: RegisterOp, invokeMs: number, completeMs: number, outcome: Outcome = 'ok', extra: Partial<HistoryOp> = {}): HistoryOp {
  return { process: nextProcess++, key: 'k', op: o, outcome, invokeMs, completeMs, ...extra };
}
const w = (value: string): RegisterOp => ({ f: 'write', value });
const r = (value: Value): RegisterOp => ({ f: 'read', value });
const cas = (expected: Value, next: string, succeeded?: boolean, current?: Value): RegisterOp => ({ f: 'cas', expected, next, ...(succeeded === undefined ? {} : { succeeded }), ...(current === undefined ? {} : { current }) });

const good = (name: string, ops: HistoryOp[]) =>
  test(`linearizable: ${name}`, (t) => {
    const res = checkHistory(ops);
    t.is(res.linearizable, true, res.keys.map((k) => k.message ?? '').join('\n'));
  });
const bad = (name: string, ops: HistoryOp[]) =>
  test(`not linearizable: ${name}`, (t) => {
    const res = checkHistory(ops);
    t.is(res.linearizable, false);
    const failure = res.keys.find((k) => k.failure)!.failure!;
    t.true(failure.ops.length > 0 && failure.ops.length <= ops.length);
    t.log(formatFailure(failure));
  });

good('the empty history', []);
good('a read of an absent key', [op(r(null), 0, 1)]);
good('write then read it', [op(w('a'), 0, 1), op(r('a'), 2, 3)]);
bad('write then a read of the absent key (stale)', [op(w('a'), 0, 1), op(r(null), 2, 3)]);
bad('a read of a value nobody wrote', [op(w('a'), 0, 1), op(r('zz'), 2, 3)]);
good('a read concurrent with a write sees the old value', [op(w('a'), 0, 10), op(r(null), 2, 3)]);
good('a read concurrent with a write sees the new value', [op(w('a'), 0, 10), op(r('a'), 2, 3)]);
bad('reads concurrent with a write see new then old', [op(w('a'), 0, 10), op(r('a'), 2, 3), op(r(null), 4, 5)]);
good('two concurrent writes, reads settle on the later', [op(w('a'), 0, 10), op(w('b'), 0, 10), op(r('a'), 2, 3), op(r('b'), 11, 12), op(r('b'), 13, 14)]);
bad('two concurrent writes, then reads flip back', [op(w('a'), 0, 10), op(w('b'), 0, 10), op(r('b'), 11, 12), op(r('a'), 13, 14)]);
good('sequential writes, each read sees the last', [op(w('a'), 0, 1), op(r('a'), 2, 3), op(w('b'), 4, 5), op(r('b'), 6, 7), op(w('c'), 8, 9), op(r('c'), 10, 11)]);
bad('a read sees a value overwritten before it began', [op(w('a'), 0, 1), op(w('b'), 2, 3), op(r('a'), 4, 5)]);

good('cas succeeds on the current value', [op(w('a'), 0, 1), op(cas('a', 'b', true), 2, 3), op(r('b'), 4, 5)]);
bad('cas succeeds on a value the register does not hold', [op(w('a'), 0, 1), op(cas('x', 'b', true), 2, 3)]);
good('cas on the absent key', [op(cas(null, 'a', true), 0, 1), op(r('a'), 2, 3)]);
good('cas fails and reports the current value', [op(w('a'), 0, 1), op(cas('x', 'b', false, 'a'), 2, 3), op(r('a'), 4, 5)]);
bad('cas fails reporting a stale current value', [op(w('a'), 0, 1), op(w('b'), 2, 3), op(cas('x', 'c', false, 'a'), 4, 5)]);
bad('cas fails although it found what it expected', [op(w('a'), 0, 1), op(cas('a', 'c', false, 'a'), 2, 3)]);
bad('cas reported failed, but its value shows up', [op(w('a'), 0, 1), op(cas('a', 'c', false, 'a'), 2, 3), op(r('c'), 4, 5)]);
good('cas concurrent with a write: the write lands after it', [op(w('a'), 0, 1), op(cas('a', 'c', true), 2, 10), op(w('b'), 3, 9), op(r('b'), 11, 12)]);
bad('cas concurrent with a write: its value cannot be last', [op(w('a'), 0, 1), op(cas('a', 'c', true), 2, 10), op(w('b'), 3, 9), op(r('c'), 11, 12)]);
bad('two cas from the same value both succeed', [op(w('a'), 0, 1), op(cas('a', 'b', true), 2, 10), op(cas('a', 'c', true), 2, 10)]);

// Indeterminate operations, as Knossos treats them.
good('an info write that nobody observed', [op(w('a'), 0, 1), op(w('b'), 2, 3, 'info'), op(r('a'), 4, 5)]);
good('an info write that took effect long after the client gave up', [op(w('a'), 0, 5, 'info'), op(r(null), 10, 11), op(r('a'), 100, 101)]);
good('an info write that took effect after a later write', [op(w('a'), 0, 5, 'info'), op(w('b'), 10, 11), op(r('a'), 20, 21)]);
bad('an info write cannot take effect twice', [op(w('a'), 0, 5, 'info'), op(w('b'), 10, 11), op(r('a'), 20, 21), op(r('b'), 30, 31)]);
bad('an info write cannot take effect before its invocation', [op(r('a'), 0, 1), op(w('a'), 2, 3, 'info')]);
bad('a failed write did not happen', [op(w('a'), 0, 5, 'fail'), op(r('a'), 10, 11)]);
good('info and failed reads are ignored', [op(w('a'), 0, 1), op(r('zz'), 2, 3, 'info'), op(r('zz'), 4, 5, 'fail'), op(r('a'), 6, 7)]);
good('an info cas that took effect', [op(w('a'), 0, 1), op(cas('a', 'b'), 2, 3, 'info'), op(r('b'), 4, 5)]);
bad('an info cas that could not have succeeded', [op(w('a'), 0, 1), op(cas('x', 'b'), 2, 3, 'info'), op(r('b'), 4, 5)]);
good('a chain of info operations, observed only at the end', [op(w('a'), 0, 1, 'info'), op(cas('a', 'b'), 2, 3, 'info'), op(cas('b', 'c'), 4, 5, 'info'), op(r('c'), 50, 51)]);
bad('a chain of info operations observed out of order', [op(w('a'), 0, 1, 'info'), op(cas('a', 'b'), 2, 3, 'info'), op(r('b'), 10, 11), op(r('a'), 12, 13)]);

test('keys are checked independently: a value of another key is not a value of this one', (t) => {
  const ops = [op(w('a'), 0, 1, 'ok', { key: 'k1' }), op(w('b'), 0, 1, 'ok', { key: 'k2' }), op(r('a'), 2, 3, 'ok', { key: 'k2' })];
  const res = checkHistory(ops);
  t.is(res.linearizable, false);
  t.deepEqual(res.keys.map((k) => [k.key, k.linearizable]), [['k1', true], ['k2', false]]);
});

// Repeated values (Jepsen's histories): every info op stays, open to the end of the history.
good('a value written twice, read after each write', [op(w('a'), 0, 1), op(w('b'), 2, 3), op(w('a'), 4, 5), op(r('a'), 6, 7)]);
bad('a value written twice, then a read of the overwritten one', [op(w('a'), 0, 1), op(w('b'), 2, 3), op(w('a'), 4, 5), op(r('b'), 6, 7)]);
good('repeated values: an info write may take effect long after it gave up', [op(w('a'), 0, 1), op(w('b'), 2, 3, 'info'), op(w('a'), 4, 5), op(r('b'), 6, 7)]);
bad('repeated values: an info write cannot take effect before its invocation', [op(w('a'), 0, 1), op(r('b'), 2, 3), op(w('b'), 4, 5, 'info'), op(w('a'), 6, 7)]);
good('repeated values: an info cas that never ran', [op(w('a'), 0, 1), op(cas('a', 'b'), 2, 3, 'info'), op(r('a'), 4, 5), op(w('a'), 6, 7)]);
good('a failed cas that does not say what it found (Jepsen :fail)', [op(w('a'), 0, 1), op(cas('x', 'b', false), 2, 3), op(r('a'), 4, 5)]);
bad('a failed cas that does not say what it found, but the register held its value', [op(w('a'), 0, 1), op(cas('a', 'b', false), 2, 3), op(r('a'), 4, 5)]);
good('a failed cas, concurrent with the write that made it miss', [op(w('a'), 0, 1), op(w('c'), 2, 10), op(cas('a', 'b', false), 3, 4), op(r('c'), 11, 12)]);

test('info writes nobody observed are not searched; observed ones get their observer as completion', (t) => {
  const ops = [op(w('a'), 0, 5, 'info'), op(w('b'), 1, 2, 'info'), op(r('a'), 10, 20), op(r('a'), 15, 30)];
  const prepared = prepareKey(ops);
  t.is(prepared.length, 3);
  const info = prepared.find((o) => o.source.op.f === 'write')!;
  t.true(info.derived);
  t.is(info.completeMs, 20, 'the earliest observer return');
});

test('a search over its step budget says unknown, not linearizable', (t) => {
  const ops = Array.from({ length: 12 }, (_, i) => op(w(`v${i}`), 0, 100)).concat([op(r('v3'), 101, 102)]);
  const res = checkKey('k', ops, { maxStepsPerSegment: 5 });
  t.is(res.linearizable, 'unknown');
  t.regex(res.message!, /exceeded 5 steps/);
});

test('many concurrent writes and reads stay tractable (memoization)', (t) => {
  // 12 processes, each write overlapping 11 others: without the cache each round is 12!
  // orders (479 million); with it, at most 2^13 sets of linearized ops times a few values.
  const rounds = 50;
  const ops: HistoryOp[] = [];
  for (let round = 0; round < rounds; round++) {
    const base = round * 100;
    for (let p = 0; p < 12; p++) ops.push(op(w(`r${round}p${p}`), base + p, base + 50 + p, 'ok', { process: p }));
    ops.push(op(r(`r${round}p${round % 12}`), base + 30, base + 40, 'ok', { process: 12 }));
  }
  const res = checkHistory(ops);
  t.is(res.linearizable, true);
  const { configurations, segments } = res.keys[0]!;
  t.is(segments, rounds);
  t.true(configurations <= rounds * 2 ** 13 * 2, `${configurations} configurations`);
  t.log(`${configurations} configurations for ${ops.length} operations`);
});

// ---------------------------------------------------------------------------------------
// Generated histories: processes run operations against a sequential register. Each open
// operation takes effect at a chosen instant (its linearization point), then completes; or
// its client gives up (info), after which it may still take effect later, or never; or it
// fails without taking effect. Such a history is linearizable by construction.

interface Sim {
  ops: HistoryOp[];
}

type Command = { readonly action: number; readonly pick: number };

function simulate(commands: readonly Command[], processes: number, keys: number): Sim {
  const state = new Map<string, Value>();
  const history: HistoryOp[] = [];
  let unique = 0;
  interface Open { process: number; key: string; op: RegisterOp; invokeMs: number; applied: boolean; result?: RegisterOp }
  const open = new Map<number, Open>();
  const zombies: Open[] = []; // info ops that have not taken effect yet: may later, or never
  const values: string[] = [];
  let now = 0;
  const effect = (o: Open): RegisterOp => {
    const cur = state.get(o.key) ?? null;
    const op = o.op;
    if (op.f === 'read') return { f: 'read', value: cur };
    if (op.f === 'write') {
      state.set(o.key, op.value);
      return op;
    }
    if (cur === op.expected) {
      state.set(o.key, op.next);
      return { ...op, succeeded: true };
    }
    return { ...op, succeeded: false, current: cur };
  };
  for (const c of commands) {
    now += 1 + (c.pick % 3);
    // Weights: invoke 4, take effect 3, complete 3, give up (info) 1, late effect or fail 1.
    const a = c.action % 12;
    const action = a < 4 ? 0 : a < 7 ? 2 : a < 10 ? 3 : a === 10 ? 4 : 5;
    const idle = [...Array(processes).keys()].filter((p) => !open.has(p));
    const busy = [...open.values()];
    if (action === 0 && idle.length > 0) {
      const p = idle[c.pick % idle.length]!;
      const key = `k${c.pick % keys}`;
      const kind = (c.pick >>> 3) % 3;
      let o: RegisterOp;
      if (kind === 0) o = { f: 'read', value: null };
      else if (kind === 1) o = { f: 'write', value: `v${unique++}` };
      else {
        const pool = [null, ...values];
        o = { f: 'cas', expected: pool[(c.pick >>> 5) % pool.length] ?? null, next: `v${unique++}` };
      }
      if (o.f !== 'read') values.push((o.f === 'write' ? o.value : o.next) as string);
      open.set(p, { process: p, key, op: o, invokeMs: now, applied: false });
    } else if (action === 2 && busy.length > 0) {
      const o = busy[c.pick % busy.length]!;
      if (!o.applied) {
        o.result = effect(o);
        o.applied = true;
      }
    } else if (action === 3 && busy.some((o) => o.applied)) {
      const done = busy.filter((o) => o.applied);
      const o = done[c.pick % done.length]!;
      history.push({ process: o.process, key: o.key, op: o.result!, outcome: 'ok', invokeMs: o.invokeMs, completeMs: now });
      open.delete(o.process);
    } else if (action === 4 && busy.length > 0) {
      // The client gives up: info. If the op has not taken effect, it may still.
      const o = busy[c.pick % busy.length]!;
      history.push({ process: o.process, key: o.key, op: o.op, outcome: 'info', invokeMs: o.invokeMs, completeMs: now, error: 'TIMEOUT' });
      open.delete(o.process);
      if (!o.applied) zombies.push(o);
    } else if (action === 5) {
      if (zombies.length > 0 && c.pick % 2 === 0) {
        const z = zombies.splice(c.pick % zombies.length, 1)[0]!;
        effect(z); // a late effect of an indeterminate op
      } else if (busy.length > 0) {
        const o = busy[c.pick % busy.length]!;
        if (!o.applied) {
          history.push({ process: o.process, key: o.key, op: o.op, outcome: 'fail', invokeMs: o.invokeMs, completeMs: now, error: 'INSUFFICIENT_REPLICAS' });
          open.delete(o.process);
        }
      }
    }
  }
  // Whatever is still open ends indeterminate.
  for (const o of open.values()) history.push({ process: o.process, key: o.key, op: o.op, outcome: 'info', invokeMs: o.invokeMs, completeMs: now + 1, error: 'TIMEOUT' });
  return { ops: history };
}

const commandsArb = fc.array(fc.record({ action: fc.nat(), pick: fc.nat() }), { minLength: 1, maxLength: 300, size: 'max' });

test('histories generated from a sequential register are linearizable', (t) => {
  let checked = 0;
  let infos = 0;
  fc.assert(
    fc.property(commandsArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), (commands, processes, keys) => {
      const sim = simulate(commands, processes, keys);
      checked += sim.ops.length;
      infos += sim.ops.filter((o) => o.outcome === 'info').length;
      const res = checkHistory(sim.ops);
      if (res.linearizable !== true) throw new Error(res.keys.map((k) => k.message ?? '').join('\n'));
    }),
    { numRuns: 400, seed: 8080 },
  );
  t.log(`${checked} operations checked, ${infos} of them info`);
  t.true(infos > 100, 'the generator produces indeterminate operations');
});

/**
 * A stale read: an ok read now returns a value that a completed write overwrote before the
 * read was invoked (the overwriting op too completed before then). Values are unique and
 * nothing deletes, so no order can explain it.
 */
function injectStaleRead(ops: HistoryOp[], pick: number): HistoryOp[] | null {
  const byKey = (k: string) => ops.filter((o) => o.key === k);
  const reads = ops.filter((o) => o.outcome === 'ok' && o.op.f === 'read');
  for (let i = 0; i < reads.length; i++) {
    const read = reads[(pick + i) % reads.length]!;
    const writers = byKey(read.key).filter((o) => o.outcome === 'ok' && (o.op.f === 'write' || (o.op.f === 'cas' && o.op.succeeded === true)));
    // Candidates: the absent value once any write completed before the read, or a value whose
    // writer completed before another writer began, which in turn completed before the read.
    const stale: Value[] = [];
    if (writers.some((x) => x.completeMs < read.invokeMs)) stale.push(null);
    for (const a of writers) {
      if (writers.some((b) => b !== a && b.invokeMs > a.completeMs && b.completeMs < read.invokeMs)) stale.push(a.op.f === 'write' ? a.op.value : (a.op as { next: string }).next);
    }
    const value = stale.find((v) => v !== (read.op as { value: Value }).value);
    if (value === undefined) continue;
    return ops.map((o) => (o === read ? { ...o, op: { f: 'read', value } } : o));
  }
  return null;
}

test('the same histories with a stale read injected are not linearizable, and the printed history is small', (t) => {
  let mutated = 0;
  let runs = 0;
  let largest = 0;
  fc.assert(
    fc.property(commandsArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (commands, processes, keys, pick) => {
      runs++;
      const sim = simulate(commands, processes, keys);
      const bad = injectStaleRead(sim.ops, pick);
      if (!bad) return;
      mutated++;
      const res = checkHistory(bad);
      if (res.linearizable !== false) throw new Error('a stale read went unnoticed');
      const failure = res.keys.find((k) => k.failure)!.failure!;
      largest = Math.max(largest, failure.ops.length);
      // A stale read needs at most the read, the writer it saw and the writer that overwrote it (plus what that one needed).
      if (!failure.shrinkIncomplete && failure.ops.length > 4) throw new Error(`shrunk history still has ${failure.ops.length} ops:\n${formatFailure(failure)}`);
    }),
    { numRuns: 400, seed: 4242 },
  );
  t.log(`${mutated} of ${runs} histories had a stale read injected; largest minimal history ${largest} ops`);
  t.true(mutated > runs / 4, 'enough histories could be mutated');
});

test('a violation prints the minimal failing history: one stale read among hundreds of operations', (t) => {
  const ops: HistoryOp[] = [];
  for (let i = 0; i < 300; i++) {
    ops.push(op(w(`v${i}`), i * 10, i * 10 + 6, 'ok', { process: i % 4 }));
    ops.push(op(r(i === 0 ? null : `v${i - 1}`), i * 10 + 1, i * 10 + 3, 'ok', { process: 4 }));
  }
  ops.push(op(r('v100'), 5000, 5001, 'ok', { process: 5 })); // v100 was overwritten at ~1016
  const res = checkHistory(ops);
  t.is(res.linearizable, false);
  const failure = res.keys[0]!.failure!;
  const text = formatFailure(failure);
  t.log(text);
  t.true(failure.ops.length <= 3, `${failure.ops.length} ops`);
  t.true(failure.ops.some((o) => o.op.process === 5), 'the stale read is in it');
  t.regex(text, /p5 ok -> "v100"/);
});

test('an indeterminate delete may explain a later read of nothing; a completed delete must', (t) => {
  const w = (process: number, op: RegisterOp, outcome: HistoryOp['outcome'], invokeMs: number, completeMs: number): HistoryOp => ({ process, key: 'k', op, outcome, invokeMs, completeMs });
  const base = [w(1, { f: 'write', value: 'a' }, 'ok', 0, 1), w(2, { f: 'read', value: 'a' }, 'ok', 2, 3)];
  const lost = [...base, w(1, { f: 'write', value: null }, 'info', 4, 5), w(2, { f: 'read', value: null }, 'ok', 6, 7)];
  t.true(checkKey('k', lost).linearizable);
  const neverDeleted = [...base, w(2, { f: 'read', value: null }, 'ok', 6, 7)];
  t.false(checkKey('k', neverDeleted).linearizable);
  const deletedThenRead = [...base, w(1, { f: 'write', value: null }, 'ok', 4, 5), w(2, { f: 'read', value: 'a' }, 'ok', 6, 7)];
  t.false(checkKey('k', deletedThenRead).linearizable);
  const deletedThenNothing = [...base, w(1, { f: 'write', value: null }, 'ok', 4, 5), w(2, { f: 'read', value: null }, 'ok', 6, 7)];
  t.true(checkKey('k', deletedThenNothing).linearizable, 'unique mode: a delete is not merged with unobserved values');
  const racing = [...base, w(1, { f: 'write', value: null }, 'ok', 4, 10), w(3, { f: 'write', value: 'b' }, 'ok', 5, 9), w(2, { f: 'read', value: null }, 'ok', 11, 12)];
  t.true(checkKey('k', racing).linearizable, 'a delete concurrent with a write may land last');
});
