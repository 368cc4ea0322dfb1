// The simulated network and clocks: partitions, the frame limit, FIFO links, loss and
// duplication, a paused receiver's queue; clock drift, wall steps and timers.
import test from 'ava';
import { Scheduler } from './scheduler.js';
import { MAX_DRIFT, SimClock } from './sim-clock.js';
import { SimNetwork, type NetProfile } from './sim-network.js';

type Msg = { n: number; bytes: number };

function net(seed: number, profile: Partial<NetProfile> = {}) {
  const s = new Scheduler({ seed });
  const n = new SimNetwork<Msg>(s, { maxMessageBytes: 1000, sizeOf: (m) => m.bytes, copy: (m) => ({ ...m }), profile });
  const got: Record<string, string[]> = { a: [], b: [], c: [] };
  for (const id of Object.keys(got)) n.attach(id, { owner: id, deliver: (from, m) => got[id]!.push(`${from}:${m.n}`) });
  return { s, n, got };
}

test('a link is FIFO without reordering, and messages arrive within the delay bounds', async (t) => {
  const { s, n, got } = net(1, { minDelayMs: 1, maxDelayMs: 10 });
  for (let i = 0; i < 50; i++) n.send('a', 'b', { n: i, bytes: 10 });
  t.true(await s.run({ forMs: 10.001, done: () => got.b!.length === 50 }));
  t.deepEqual(got.b, Array.from({ length: 50 }, (_, i) => `a:${i}`));
});

test('reordering, loss and duplication happen at their rates', async (t) => {
  const { s, n, got } = net(2, { minDelayMs: 1, maxDelayMs: 10, reorderRate: 0.5, dropRate: 0.2, duplicateRate: 0.2 });
  for (let i = 0; i < 500; i++) n.send('a', 'b', { n: i, bytes: 10 });
  await s.run({ forMs: 20 });
  const ns = got.b!.map((x) => Number(x.slice(2)));
  t.true(ns.some((v, i) => i > 0 && v < ns[i - 1]!), 'some arrive out of order');
  t.true(n.stats.dropped > 50 && n.stats.dropped < 150, `dropped ${n.stats.dropped}`);
  t.true(n.stats.duplicated > 40 && n.stats.duplicated < 130, `duplicated ${n.stats.duplicated}`);
  t.is(ns.length, 500 - n.stats.dropped + n.stats.duplicated);
});

test('a partition cuts messages across cells, also those already in flight; heal restores', async (t) => {
  const { s, n, got } = net(3, { minDelayMs: 5, maxDelayMs: 5 });
  n.send('a', 'b', { n: 1, bytes: 1 });
  n.partition([['a'], ['b', 'c']]);
  n.send('a', 'b', { n: 2, bytes: 1 });
  n.send('b', 'c', { n: 3, bytes: 1 });
  await s.run({ forMs: 10 });
  t.deepEqual(got.b, []);
  t.deepEqual(got.c, ['b:3']);
  n.heal();
  n.cutOneWay('a', 'c');
  n.send('a', 'b', { n: 4, bytes: 1 });
  n.send('a', 'c', { n: 5, bytes: 1 });
  n.send('c', 'a', { n: 6, bytes: 1 });
  await s.run({ forMs: 10 });
  t.deepEqual(got.b, ['a:4']);
  t.deepEqual(got.c, ['b:3']);
  t.deepEqual(got.a, ['c:6']);
});

test('a message over the frame limit is refused at send', async (t) => {
  const { s, n, got } = net(4);
  t.true(n.send('a', 'b', { n: 1, bytes: 1000 }));
  t.false(n.send('a', 'b', { n: 2, bytes: 1001 }));
  await s.run({ forMs: 10 });
  t.deepEqual(got.b, ['a:1']);
  t.is(n.stats.oversized, 1);
});

test('a paused receiver\'s messages queue and arrive in order at resume; a detached one\'s are lost', async (t) => {
  const { s, n, got } = net(5);
  s.pause('b');
  for (let i = 0; i < 5; i++) n.send('a', 'b', { n: i, bytes: 1 });
  n.send('a', 'c', { n: 9, bytes: 1 });
  n.detach('c');
  await s.run({ forMs: 100 });
  t.deepEqual(got.b, []);
  t.deepEqual(got.c, []);
  s.resume('b');
  await s.run({ forMs: 1 });
  t.deepEqual(got.b, ['a:0', 'a:1', 'a:2', 'a:3', 'a:4']);
});

test('a drifting clock counts its own time; timers fire on it; the wall clock steps, the monotonic one never', async (t) => {
  const s = new Scheduler({ seed: 6 });
  const fast = new SimClock(s, 'f', { rate: 1.2 });
  const slow = new SimClock(s, 's', { rate: 0.8 });
  const f0 = fast.nowMs();
  const fired: string[] = [];
  fast.setTimeout(() => fired.push(`fast@${s.nowMs.toFixed(1)}`), 120);
  slow.setTimeout(() => fired.push(`slow@${s.nowMs.toFixed(1)}`), 80);
  const iv = slow.setInterval(() => fired.push('tick'), 40);
  await s.run({ forMs: 100.01 });
  // 120 fast ms and 80 slow ms are both 100 world ms; the slow 40 ms interval fires every 50.
  t.deepEqual(fired, ['tick', 'fast@100.0', 'slow@100.0', 'tick']);
  t.is(fast.nowMs() % 1, 0, 'whole milliseconds, as production');
  t.is(fast.nowMs() - f0, 120);
  const w = slow.wallNowMs();
  const m = slow.nowMs();
  slow.stepWall(-60_000);
  t.is(Math.round(slow.wallNowMs() - w), -60_000);
  t.is(slow.nowMs(), m);
  slow.clear(iv);
  await s.run({ forMs: 1000 });
  t.is(fired.filter((x) => x === 'tick').length, 2);
  t.throws(() => fast.setRate(1 + MAX_DRIFT + 0.01), { message: /outside the documented bound/ });
});
