// Writes forwarded from a follower under load: the leader's admin endpoint takes at most
// DEFAULTS.adminMaxPendingRequests requests in flight per connection, so the follower must
// spread them (forward-pool.ts) rather than have the excess refused.
import test from 'ava';
import { DEFAULTS } from '@conclave/transport';
import { startGroup } from './helpers.js';

test('a follower forwards many more concurrent writes than one admin connection carries', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    const count = DEFAULTS.adminMaxPendingRequests * 4 + 20;
    const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => follower.put(`k${i}`, i)));
    const failed = results.filter((r) => r.status === 'rejected');
    t.is(failed.length, 0, failed.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3).join('; '));
    t.is(await leader.get(`k${count - 1}`), count - 1);
    t.is(await follower.get('k0'), 0);
  } finally {
    await g.close();
  }
});

test('a forwarded write resolves once the forwarding member has applied it too', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    for (let i = 0; i < 20; i++) {
      const { token } = await follower.put(`own-${i}`, i);
      t.true(follower.status().appliedIndex >= token.index, `write ${i} at ${token.index}`);
      t.is(await follower.get(`own-${i}`, { consistency: 'none' }), i);
    }
  } finally {
    await g.close();
  }
});
