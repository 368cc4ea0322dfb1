// compareAndSet through the public API compares values, not their encodings (issue 22,
// item 4): a follower's CAS with the object's keys in another order succeeds, and every
// member ends with the same value.
import test from 'ava';
import { startGroup, waitFor } from './helpers.js';

test('compareAndSet matches an object whatever the order of its keys, on every member', async (t) => {
  const g = await startGroup(3);
  t.teardown(() => g.close());
  const leader = await g.waitForLeader(30_000);
  const follower = [...g.nodes.values()].find((n) => n !== leader)!;
  await leader.put('obj', { a: 1, b: { c: [1, 2], d: 'x' } });
  const r = await follower.compareAndSet('obj', { b: { d: 'x', c: [1, 2] }, a: 1 }, { swapped: true });
  t.true(r.succeeded);
  const miss = await follower.compareAndSet('obj', { swapped: 'true' }, 'never');
  t.false(miss.succeeded, 'no coercion between types');
  t.deepEqual(miss.current, { swapped: true });
  for (const n of g.nodes.values()) {
    await waitFor(async () => JSON.stringify(await n.get('obj', { consistency: 'none' })) === '{"swapped":true}', 20_000, `${n.id} to apply the CAS`);
  }
});
