// The fault hook: drop, duplicate, delay and partition behave as configured, reproducibly
// for a seed.
import test from 'ava';
import { InvalidArgumentError } from '@conclave/core';
import { FaultInjector, seededRandom, SnapshotStreamError } from '../src/index.js';
import { closeAll, collect, heartbeat, sleep, startCluster, waitConnected, waitFor } from './helpers.js';

const N = 1000;

test('drop: exactly the messages the seeded source picks are lost, and counted', async (t) => {
  const ts = await startCluster(['a', 'b'], { faultRandom: 42 });
  try {
    await waitConnected(ts);
    const a = ts.get('a')!;
    const got = collect(ts.get('b')!);
    a.faults.setLink('b', { dropProbability: 0.3 });
    for (let i = 0; i < N; i++) t.true(a.send(heartbeat('a', 'b', i)), 'fault drops look like a lossy network: send() says true');
    // Replay the same seeded source to know which ones must be missing.
    const r = seededRandom(42);
    const expected = [...Array(N).keys()].filter(() => !(r() < 0.3));
    await waitFor(() => got.length === expected.length, `${expected.length} messages`);
    await sleep(50);
    t.deepEqual(got.map((m) => m.commit), expected);
    t.is(a.stats().droppedByFault.drop, N - expected.length);
    t.true(N - expected.length > 200 && N - expected.length < 400);
  } finally {
    await closeAll(ts.values());
  }
});

test('duplicate: the picked messages arrive twice, in place', async (t) => {
  const ts = await startCluster(['a', 'b'], { faultRandom: 7 });
  try {
    await waitConnected(ts);
    const a = ts.get('a')!;
    const got = collect(ts.get('b')!);
    a.faults.setLink('b', { duplicateProbability: 0.25 });
    for (let i = 0; i < N; i++) a.send(heartbeat('a', 'b', i));
    const r = seededRandom(7);
    const expected = [...Array(N).keys()].flatMap((i) => (r() < 0.25 ? [i, i] : [i]));
    await waitFor(() => got.length === expected.length, `${expected.length} messages`);
    await sleep(50);
    t.deepEqual(got.map((m) => m.commit), expected);
    t.is(a.stats().duplicatedByFault, expected.length - N);
  } finally {
    await closeAll(ts.values());
  }
});

test('delay: messages wait at least delayMs; jitter reorders them', async (t) => {
  const ts = await startCluster(['a', 'b'], { faultRandom: 3 });
  try {
    await waitConnected(ts);
    const a = ts.get('a')!;
    const arrivals: { commit: number; at: number }[] = [];
    ts.get('b')!.onMessage((m) => arrivals.push({ commit: m.commit, at: performance.now() }));
    a.faults.setLink('b', { delayMs: 150, delayJitterMs: 100 });
    const sentAt = performance.now();
    for (let i = 0; i < 100; i++) a.send(heartbeat('a', 'b', i));
    await waitFor(() => arrivals.length === 100, '100 delayed messages', 30_000);
    const first = Math.min(...arrivals.map((x) => x.at)) - sentAt;
    t.true(first >= 145, `first arrival after ${first.toFixed(1)} ms`);
    const order = arrivals.map((x) => x.commit);
    t.notDeepEqual(order, [...Array(100).keys()], 'jitter reorders');
    t.deepEqual([...order].sort((x, y) => x - y), [...Array(100).keys()], 'nothing lost');
    t.is(a.stats().delayedByFault, 100);
    // Without jitter the order holds.
    a.faults.setLink('b', { delayMs: 30 });
    arrivals.length = 0;
    for (let i = 0; i < 50; i++) a.send(heartbeat('a', 'b', i));
    await waitFor(() => arrivals.length === 50, '50 more');
    t.deepEqual(arrivals.map((x) => x.commit), [...Array(50).keys()]);
  } finally {
    await closeAll(ts.values());
  }
});

test('partition: configured on one node, it blocks both directions between the sides until healed', async (t) => {
  const ts = await startCluster(['a', 'b', 'c']);
  try {
    await waitConnected(ts);
    const a = ts.get('a')!;
    const b = ts.get('b')!;
    const c = ts.get('c')!;
    const inbox = { a: collect(a), b: collect(b), c: collect(c) };
    a.faults.partition([['a'], ['b', 'c']]);
    a.send(heartbeat('a', 'b', 1));
    a.send(heartbeat('a', 'c', 1));
    b.send(heartbeat('b', 'a', 1)); // b has no partition configured: a drops it on receipt
    b.send(heartbeat('b', 'c', 1)); // same side: unaffected
    await waitFor(() => inbox.c.length === 1, 'b -> c');
    await sleep(100);
    t.is(inbox.a.length, 0);
    t.is(inbox.b.length, 0);
    t.is(a.stats().droppedByFault.partition, 3);
    await t.throwsAsync(a.sendSnapshot('b', { index: 1, term: 1, group: { groupId: 'g1', members: [] } }, (async function* () {})()), {
      instanceOf: SnapshotStreamError,
      message: /partitioned/,
    });
    a.faults.heal();
    a.send(heartbeat('a', 'b', 2));
    b.send(heartbeat('b', 'a', 2));
    await waitFor(() => inbox.a.length === 1 && inbox.b.length === 1, 'traffic after heal');
    t.is(inbox.b[0]!.commit, 2);
  } finally {
    await closeAll(ts.values());
  }
});

test('the same seed makes the same decisions; a different seed does not', (t) => {
  const run = (seed: number): string => {
    const f = new FaultInjector(seed);
    f.setLink('*', { dropProbability: 0.2, duplicateProbability: 0.2, delayMs: 1, delayJitterMs: 10 });
    return JSON.stringify(Array.from({ length: 500 }, () => f.decide('a', 'b')));
  };
  t.is(run(1), run(1));
  t.not(run(1), run(2));
  const f = new FaultInjector(1);
  t.throws(() => f.setLink('b', { dropProbability: 1.5 }), { instanceOf: InvalidArgumentError });
  t.throws(() => f.setLink('b', { delayMs: -1 }), { instanceOf: InvalidArgumentError });
  t.throws(() => f.partition([['a'], ['a']]), { instanceOf: InvalidArgumentError });
  f.partition([['a'], ['b']]);
  t.true(f.isPartitioned('a', 'b') && f.isPartitioned('b', 'a'));
  t.false(f.isPartitioned('a', 'c'));
  f.reset();
  t.false(f.isPartitioned('a', 'b'));
});
