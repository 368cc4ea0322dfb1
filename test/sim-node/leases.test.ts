// Leases and locks with whole nodes in the deterministic simulation (issue #17), with every
// member's clock running at its own rate within MAX_DRIFT (sim-clock.ts). Times here are the
// world's (sched.nowMs). The documented bound (docs/reliability.md): with clocks whose rates
// differ from real time by at most a factor (1 +- rho), a lease never ends before
// ttlMs / (1 + rho) after the send of its last acknowledged keep-alive.
import test from 'ava';
import { MAX_DRIFT } from './sim-clock.js';
import { SimNodeCluster } from './cluster.js';
import { settle } from './settle.js';


async function must<T>(c: SimNodeCluster, p: Promise<T>, what: string): Promise<T> {
  const r = await settle(c, p);
  if (!r.ok) throw new Error(`${what}: ${r.error.message}`);
  return r.value;
}

const TTL_MS = 3000;
const RATES = [1 + MAX_DRIFT, 1 - MAX_DRIFT, 1.1, 0.9, 1];

function cluster(seed: number, nodes = 3): SimNodeCluster {
  const c = new SimNodeCluster({ seed, nodes });
  // Each member's clock at its own rate, the fast ones first in turn with the seed.
  Object.keys(c.peers).forEach((id, i) => c.setRate(id, RATES[(i + seed) % RATES.length]!));
  for (const id of Object.keys(c.peers)) c.start(id);
  return c;
}

for (const seed of [1, 2, 3]) {
  test.serial(`seed ${seed}: a leader change while a lease runs: it does not end early, and it does end`, async (t) => {
    const c = cluster(seed);
    t.true(await c.run(10_000, () => c.leader() !== null), 'a leader');
    const leaderId = c.leader()!.id;
    const f = [...c.hosts.values()].find((h) => h.id !== leaderId && h.node)!;
    const node = f.node!;
    const lease = await must(c, node.grantLease({ ttlMs: TTL_MS }), 'grant');
    await must(c, node.put('held', 1, { lease: lease.id }), 'put');
    let lastSentMs = 0;
    for (let i = 0; i < 3; i++) {
      await c.run(TTL_MS / 3);
      const sent = c.sched.nowMs;
      if ((await settle(c, lease.keepAlive())).ok) lastSentMs = sent;
    }
    t.true(lastSentMs > 0, 'a keep-alive was acknowledged');
    c.crash(leaderId);
    t.true(await c.run(30_000, () => c.leader() !== null && c.leader()!.id !== leaderId), 'a new leader');
    t.true(await c.run(60_000, () => !node.leases().some((l) => l.id === lease.id)), 'the lease ended at last');
    const endedAfterMs = c.sched.nowMs - lastSentMs;
    t.log(`ended ${endedAfterMs.toFixed(0)} ms after the last acknowledged keep-alive (TTL ${TTL_MS}, rates ${[...c.hosts.values()].map((h) => `${h.id}=${h.rate}`).join(' ')})`);
    t.true(endedAfterMs >= TTL_MS / (1 + MAX_DRIFT), `ended ${endedAfterMs} ms after its last keep-alive: earlier than the documented bound`);
    t.deepEqual(c.violations, []);
  });
}

for (const seed of [4, 5]) {
  test.serial(`seed ${seed}: a lock holder is killed; its lease expires and the next waiter gets the lock with a higher fencing token`, async (t) => {
    const c = cluster(seed);
    t.true(await c.run(10_000, () => c.leader() !== null), 'a leader');
    const leaderId = c.leader()!.id;
    const [holderHost, waiterHost] = [...c.hosts.values()].filter((h) => h.id !== leaderId);
    const held = await must(c, holderHost!.node!.lock('jobs/one', { ttlMs: TTL_MS, timeoutMs: 60_000 }), 'the first lock');
    let acquired: { fencingToken: number } | null = null;
    waiterHost!.node!.lock('jobs/one', { ttlMs: TTL_MS, timeoutMs: 60_000 }).then((l) => (acquired = l));
    await c.run(2 * TTL_MS);
    t.is(acquired, null, 'the waiter waits while the holder keeps its lease alive');
    const crashedAtMs = c.sched.nowMs;
    c.crash(holderHost!.id);
    t.true(await c.run(60_000, () => acquired !== null), 'the waiter got the lock');
    const waitedMs = c.sched.nowMs - crashedAtMs;
    // The holder renewed at most every TTL / 3 of its own clock before it died.
    const renewEveryMs = TTL_MS / 3 / (1 - MAX_DRIFT);
    t.true(waitedMs >= TTL_MS / (1 + MAX_DRIFT) - renewEveryMs, `the waiter got the lock ${waitedMs} ms after the holder died: before its lease could have ended`);
    t.true(acquired!.fencingToken > held.fencingToken, 'fencing tokens strictly increase');
    t.deepEqual(c.violations, []);
  });
}

test.serial('leases survive a restart of every member, then expire when nobody keeps them alive', async (t) => {
  const c = cluster(6);
  t.true(await c.run(10_000, () => c.leader() !== null), 'a leader');
  const node = c.leader()!.node!;
  const lease = await must(c, node.grantLease({ ttlMs: TTL_MS }), 'grant');
  await must(c, node.put('k', 'v', { lease: lease.id }), 'put');
  await c.run(500);
  for (const id of Object.keys(c.peers)) c.restart(id);
  t.true(await c.run(30_000, () => c.leader() !== null && [...c.hosts.values()].every((h) => h.state === 'up')), 'all back');
  const restartedAtMs = c.sched.nowMs;
  for (const h of c.hosts.values()) t.deepEqual(h.node!.leases().map((l) => [l.id, l.ttlMs, l.keys]), [[lease.id, TTL_MS, ['k']]], `${h.id} kept the lease`);
  const any = c.leader()!.node!;
  t.true(await c.run(60_000, () => [...c.hosts.values()].every((h) => h.node!.leases().length === 0)), 'the lease expired');
  t.true(c.sched.nowMs - restartedAtMs >= TTL_MS / (1 + MAX_DRIFT), 'not before a whole TTL after the new leader took over');
  t.is((await must(c, any.get('k', { consistency: 'none' }), 'get')) as unknown, undefined);
  t.deepEqual(c.violations, []);
});
