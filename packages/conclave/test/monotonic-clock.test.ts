// Leases and maxLagMs run on a monotonic clock (issue 11, item 3). On the wall clock, a
// clock stepped back froze the core's time (it ignores backward steps): a leader cut off
// from the group kept its lease, and a cut-off follower stayed "fresh" for maxLagMs reads.
import test from 'ava';
import { performance } from 'node:perf_hooks';
import { ReplicaConsistencyError } from '../src/index.js';
import { startGroup, waitFor } from './helpers.js';

const HOUR_MS = 3_600_000;

/** Steps Date.now() back by an hour from now on (time then runs forward from there); returns the undo. */
function stepWallClockBack(): () => void {
  const real = Date.now;
  Date.now = () => real() - HOUR_MS;
  return () => {
    Date.now = real;
  };
}

function sleepMonotonic(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// One election timeout is 50 ticks of 20 ms: the lease is 500 ms, and a leader cut off
// keeps leading (check-quorum) for at least 1000 ms of its ticks.
const tickMs = 20;
const electionTicks = 50;
const leaseMs = (tickMs * electionTicks) / 2;

test.serial('a leader cut off after the wall clock stepped back stops serving lease reads once its lease ran out', async (t) => {
  const g = await startGroup(3, { tickMs, electionTicks });
  let undo = () => {};
  try {
    const leader = await g.waitForLeader(20_000);
    await leader.put('k', 'v1');
    t.is(await leader.get('k', { consistency: 'lease' }), 'v1');
    undo = stepWallClockBack();
    await sleepMonotonic(3 * tickMs); // heartbeats answered under the stepped clock
    const ids = [...g.nodes.keys()];
    const others = ids.filter((id) => id !== leader.id);
    for (const n of g.nodes.values()) n.faults.partition([[leader.id], others]);
    const cutAt = performance.now();
    await sleepMonotonic(1.4 * leaseMs);
    t.true(performance.now() - cutAt < 2 * leaseMs, 'the test itself ran in time');
    t.true(leader.isLeader, 'check-quorum has not deposed it yet: only the lease protects the read');
    await t.throwsAsync(leader.get('k', { consistency: 'lease', timeoutMs: 200 }), { instanceOf: ReplicaConsistencyError }, 'no lease read after the lease ran out');
  } finally {
    undo();
    await g.close();
  }
});

test.serial('maxLagMs reads on a cut-off follower stop once the leader was not heard for maxLagMs, whatever the wall clock does', async (t) => {
  const g = await startGroup(3, { tickMs, electionTicks });
  let undo = () => {};
  try {
    const leader = await g.waitForLeader(20_000);
    await leader.put('k', 'v1');
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    await waitFor(async () => (await follower.get('k', { consistency: { maxLagMs: 200 }, timeoutMs: 1000 })) === 'v1', 5000, 'the follower to serve v1');
    undo = stepWallClockBack();
    const others = [...g.nodes.keys()].filter((id) => id !== follower.id);
    for (const n of g.nodes.values()) n.faults.partition([[follower.id], others]);
    await sleepMonotonic(500);
    await t.throwsAsync(follower.get('k', { consistency: { maxLagMs: 200 }, timeoutMs: 200 }), { instanceOf: ReplicaConsistencyError, message: /behind the leader/ });
  } finally {
    undo();
    await g.close();
  }
});
