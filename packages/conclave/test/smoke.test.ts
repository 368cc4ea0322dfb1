import test from 'ava';
import { startGroup } from './helpers.js';

test('three in-process nodes elect a leader, replicate writes, and serve reads', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const { token } = await leader.put('a', 'one');
    t.is(token.groupId, 'conclave');
    t.true(token.index > 3);
    const follower = [...g.nodes.values()].find((n) => !n.isLeader)!;
    await follower.put('b', { two: 2 });
    t.is(await follower.get('a'), 'one');
    t.deepEqual(await leader.get('b'), { two: 2 });
    t.deepEqual(await follower.get('b', { consistency: { atLeast: token } }), { two: 2 });
  } finally {
    await g.close();
  }
});
