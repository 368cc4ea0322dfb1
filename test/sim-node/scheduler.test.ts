// The scheduler: virtual time, microtasks drained between events, pause and kill, and the
// same seed giving the same run bit for bit, through the disk, the network and the clocks.
import test from 'ava';
import { Scheduler } from './scheduler.js';
import { SimClock } from './sim-clock.js';
import { SimDisk } from './sim-disk.js';
import { SimNetwork } from './sim-network.js';

test('events run in time order, each after the previous one\'s promise chains settled', async (t) => {
  const s = new Scheduler({ seed: 1, keepTrace: true });
  const seen: string[] = [];
  s.after(10, null, 'b', () => seen.push(`b@${s.nowMs}`));
  s.after(5, null, 'a', () => {
    seen.push(`a@${s.nowMs}`);
    // A long promise chain started by an event ends before the next event runs.
    void (async () => {
      for (let i = 0; i < 50; i++) await Promise.resolve();
      seen.push('a-chain-done');
      await new Promise<void>((r) => process.nextTick(r));
      seen.push('a-tick-done');
    })();
  });
  await s.run({ forMs: 100 });
  t.deepEqual(seen, ['a@5', 'a-chain-done', 'a-tick-done', 'b@10']);
  t.is(s.nowMs, 100);
});

test('an immediate runs after its event\'s promise jobs and before any later event, but after one queued before it for the same instant', async (t) => {
  const s = new Scheduler({ seed: 1 });
  const seen: string[] = [];
  s.after(5, 'n1', 'a', () => {
    seen.push('a');
    void Promise.resolve().then(() => seen.push('a-job'));
    s.immediate('n1', () => {
      seen.push('a-imm');
      s.immediate('n1', () => seen.push('a-imm-imm'));
    });
  });
  s.after(5.5, null, 'b', () => seen.push('b'));
  s.after(6, null, 'c', () => {
    s.after(0, null, 'd (same instant, queued first)', () => seen.push('d'));
    s.immediate('n2', () => seen.push('c-imm'));
  });
  s.after(7, null, 'e', () => {
    s.pause('n2');
    s.immediate('n2', () => seen.push('paused-imm'));
    s.immediate('n3', () => seen.push('dead-imm'));
    s.kill('n3');
  });
  await s.run({ forMs: 10 });
  t.deepEqual(seen, ['a', 'a-job', 'a-imm', 'a-imm-imm', 'b', 'd', 'c-imm']);
  s.resume('n2');
  await s.run({ forMs: 1 });
  t.deepEqual(seen.slice(-1), ['paused-imm']);
});

test('a paused owner\'s events wait and run in order at resume; a killed owner\'s never run', async (t) => {
  const s = new Scheduler({ seed: 2 });
  const seen: string[] = [];
  for (let i = 1; i <= 3; i++) s.after(i, 'n1', `e${i}`, () => seen.push(`n1:${i}@${s.nowMs}`));
  s.after(2, 'n2', 'x', () => seen.push(`n2@${s.nowMs}`));
  s.after(1, 'n3', 'y', () => seen.push('n3'));
  s.pause('n1');
  s.kill('n3');
  await s.run({ forMs: 10 });
  t.deepEqual(seen, ['n2@2']);
  s.resume('n1');
  await s.run({ forMs: 1 });
  t.deepEqual(seen, ['n2@2', 'n1:1@10', 'n1:2@10', 'n1:3@10']);
});

test('run stops when done() holds and at its step limit', async (t) => {
  const s = new Scheduler({ seed: 3 });
  let n = 0;
  const tick = (): void => {
    n++;
    s.after(1, null, 'tick', tick);
  };
  s.after(1, null, 'tick', tick);
  t.true(await s.run({ forMs: 1000, done: () => n >= 7 }));
  t.is(n, 7);
  t.false(await s.run({ forMs: 1000, maxSteps: 5 }));
  t.is(n, 12);
});

test('an event that throws rejects run(), and the scheduler runs again afterwards', async (t) => {
  const s = new Scheduler({ seed: 4 });
  s.after(1, null, 'boom', () => {
    throw new Error('boom');
  });
  await t.throwsAsync(s.run({ forMs: 10 }), { message: 'boom' });
  let ran = false;
  s.after(1, null, 'later', () => (ran = true));
  t.false(await s.run({ forMs: 10 }));
  t.true(ran);
});

test('thousands of events in one run: microtasks still drain after each, across turns of the real event loop', async (t) => {
  const s = new Scheduler({ seed: 5 });
  let settled = 0;
  let lagging = 0;
  for (let i = 0; i < 5000; i++) {
    s.after(i / 10, null, 'e', () => {
      if (settled !== i) lagging++;
      void Promise.resolve().then(() => new Promise<void>((r) => process.nextTick(r))).then(() => settled++);
    });
  }
  await s.run({ forMs: 1000 });
  t.is(settled, 5000);
  t.is(lagging, 0, "every event saw the previous one's chain settled");
});

/** A little world using every simulated part with random async work; returns its trace digest. */
async function world(seed: number): Promise<{ digest: string; steps: number; lines: readonly string[] }> {
  const s = new Scheduler({ seed, keepTrace: true });
  const net = new SimNetwork<{ n: number }>(s, {
    maxMessageBytes: 100,
    sizeOf: (m) => m.n,
    copy: (m) => ({ ...m }),
    describe: (m) => `m${m.n}`,
    profile: { dropRate: 0.1, duplicateRate: 0.1, reorderRate: 0.2, minDelayMs: 0.1, maxDelayMs: 5 },
  });
  const ids = ['a', 'b', 'c'];
  for (const id of ids) {
    const disk = new SimDisk(id, s, { minWriteMs: 0.1, maxWriteMs: 3, syncMs: 1 });
    const db = disk.open(id);
    await db.open();
    const clock = new SimClock(s, id, { rate: 1 + (s.random() - 0.5) * 0.3 });
    net.attach(id, {
      owner: id,
      deliver: (from, m) => {
        void (async () => {
          await db.put(Buffer.from(`${from}-${m.n}`), Buffer.from([m.n]), { sync: m.n % 2 === 0 } as never);
          s.note(id, `stored ${from}-${m.n}`);
          if (m.n < 90) net.send(id, ids[(m.n * 7) % 3]!, { n: m.n + 3 });
        })();
      },
    });
    clock.setInterval(() => net.send(id, ids[Math.floor(s.random() * 3)]!, { n: Math.floor(s.random() * 120) }), 7, `tick ${id}`);
  }
  await s.run({ forMs: 500 });
  return { digest: s.digest(), steps: s.steps, lines: s.traceLines() };
}

test('the same seed gives the same run, bit for bit; another seed another run', async (t) => {
  const a = await world(42);
  const b = await world(42);
  const c = await world(43);
  t.true(a.steps > 500, `a busy world (${a.steps} events)`);
  t.deepEqual(a.lines, b.lines);
  t.is(a.digest, b.digest);
  t.not(a.digest, c.digest);
});
