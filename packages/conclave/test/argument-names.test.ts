// A bad argument is named as the application passed it (issue 22, item 8): `value`, `next`,
// `ops[1].key`, never the internal `command.value`; nothing is written.
import test from 'ava';
import { startGroup } from './helpers.js';

test('errors name the argument the caller passed, and the bad call writes nothing', async (t) => {
  const g = await startGroup(1);
  t.teardown(() => g.close());
  const n = await g.waitForLeader(30_000);
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['put(key, undefined)', () => n.put('k', undefined), /^value must not be undefined/],
    ['put(42, v)', () => n.put(42 as unknown as string, 1), /^key must be a non-empty string \(got number\)/],
    ['delete("")', () => n.delete(''), /^key must be a non-empty string/],
    ['compareAndSet with a function', () => n.compareAndSet('k', 1, () => 2), /^next must be a msgpack value \(got function\)/],
    ['compareAndSet expecting a symbol', () => n.compareAndSet('k', Symbol('s'), 2), /^expected must be a msgpack value \(got symbol\)/],
    ['batch with a bad key', () => n.batch([{ op: 'put', key: 'ok', value: 1 }, { op: 'put', key: '', value: 2 }]), /^ops\[1\]\.key must be a non-empty string/],
    ['batch with a bad op', () => n.batch([{ op: 'nope' } as never]), /^ops\[0\]\.op must be 'put' or 'del'/],
  ];
  for (const [what, call, message] of cases) {
    const err = await t.throwsAsync(call(), undefined, what);
    t.is((err as { code?: string }).code, 'INVALID_ARGUMENT', what);
    t.regex(err!.message, message, what);
    t.notRegex(err!.message, /command\./, what);
  }
  t.is(await n.get('k'), undefined);
  t.is(await n.get('ok'), undefined, 'the batch with a bad op wrote nothing');
});
