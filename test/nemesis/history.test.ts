// The history recorder: invocations pair with their completions; what never completed is info.
import test from 'ava';
import { countOperations, HistoryRecorder, operationsOf } from './history.js';

test('operations pair invocations with completions; an operation never completed is info', (t) => {
  const h = new HistoryRecorder();
  h.invoke(0, 'k', { f: 'write', value: 'a' });
  h.invoke(1, 'k', { f: 'read', value: null });
  h.complete(1, 'ok', { f: 'read', value: null });
  h.complete(0, 'info', undefined, 'TIMEOUT');
  h.invoke(1, 'k', { f: 'cas', expected: 'a', next: 'b' });
  const ops = operationsOf(h.events);
  t.is(ops.length, 3);
  t.like(ops[0], { process: 1, outcome: 'ok', op: { f: 'read', value: null } });
  t.like(ops[1], { process: 0, outcome: 'info', error: 'TIMEOUT', op: { f: 'write', value: 'a' } });
  t.like(ops[2], { process: 1, outcome: 'info', error: 'never completed' });
  t.true(ops.every((o) => o.completeMs >= o.invokeMs));
  t.deepEqual(countOperations(ops).byKind, { read: { ok: 1, fail: 0, info: 0 }, write: { ok: 0, fail: 0, info: 1 }, cas: { ok: 0, fail: 0, info: 1 } });
});

test('a process cannot invoke twice, nor complete what it did not invoke', (t) => {
  const h = new HistoryRecorder();
  h.invoke(0, 'k', { f: 'read', value: null });
  t.throws(() => h.invoke(0, 'k', { f: 'read', value: null }), { message: /while an operation is open/ });
  t.throws(() => h.complete(1, 'ok'), { message: /without an open operation/ });
  t.throws(() => operationsOf([{ type: 'ok', process: 3, key: 'k', op: { f: 'read', value: null }, atMs: 1 }]), { message: /without an invocation/ });
});
