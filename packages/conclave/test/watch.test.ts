// Watch through the embedding API: complete and in revision order on any member, a
// transaction's changes in one batch, replay from history (after a restart too), COMPACTED,
// overflow of a slow consumer, progress notifications, and a linearizable start.
import test from 'ava';
import { openNode, CompactedError, WatchOverflowError, type ConclaveNode, type WatchBatch, type Watcher } from '../src/index.js';
import { freePorts, quietLogger, startGroup, tempDir, within } from './helpers.js';

/** Collects batches from `w` until `done` says so (bounded by `ms`). */
async function collect(w: Watcher, done: (all: WatchBatch[]) => boolean, ms: number): Promise<WatchBatch[]> {
  const all: WatchBatch[] = [];
  await within(
    (async () => {
      for await (const b of w) {
        all.push(b);
        if (done(all)) break;
      }
    })(),
    ms,
    'the watched batches',
  );
  return all;
}

const events = (bs: WatchBatch[]) => bs.flatMap((b) => b.events.map((e) => `${e.type} ${e.key}${e.value !== undefined ? `=${JSON.stringify(e.value)}` : ''}@${e.revision}`));

async function single(extra: Record<string, unknown> = {}) {
  const [port] = await freePorts(1);
  const dir = tempDir('watch');
  const opts = { id: 'n1', dataDir: dir.path, listen: `127.0.0.1:${port}`, peers: { n1: `127.0.0.1:${port}` }, logger: quietLogger, metrics: false, tickMs: 50, ...extra };
  return { node: await openNode({ ...opts, waitReady: true }), opts, dir };
}

test('a follower watcher sees every change in its range once, in revision order, a txn in one batch', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader) as ConclaveNode;
    await follower.ready();
    const w = follower.watch({ prefix: 'w/' }, { prevValue: true });
    const a = await leader.put('w/a', 1);
    await leader.put('other', 1);
    const b = await follower.put('w/b', 2);
    const tx = await leader.txn({ then: [{ op: 'put', key: 'w/a', value: 3 }, { op: 'delete', key: 'w/b' }, { op: 'put', key: 'w/c', value: 4 }] });
    const got = await collect(w, (all) => events(all).length >= 5, 20_000);
    t.deepEqual(events(got), [`put w/a=1@${a.revision}`, `put w/b=2@${b.revision}`, `put w/a=3@${tx.revision}`, `delete w/b@${tx.revision}`, `put w/c=4@${tx.revision}`]);
    const txBatches = got.filter((bt) => bt.events.some((e) => e.revision === tx.revision));
    t.is(txBatches.length, 1, "a transaction's changes come in one batch");
    t.like(txBatches[0]!.events[0], { prevValue: 1 });
    t.true(got.every((bt) => bt.events.every((e) => e.revision <= bt.revision)));
  } finally {
    await g.close();
  }
});

test('fromRevision replays the history (also after a restart), then goes live; older than the history is COMPACTED', async (t) => {
  const { node, opts, dir } = await single({ watchHistoryRevisions: 50 });
  let n: ConclaveNode = node;
  try {
    const first = await n.put('k/1', 'a');
    for (let i = 0; i < 5; i++) await n.put(`k/${i}`, i);
    await n.close();
    n = await openNode({ ...opts, waitReady: true });
    const w = n.watch({ gte: 'k/', lt: 'k0' }, { fromRevision: first.revision });
    const live = n.put('k/live', true);
    const got = await collect(w, (all) => events(all).some((e) => e.startsWith('put k/live')), 20_000);
    t.deepEqual(
      events(got).map((e) => e.split('@')[0]),
      ['put k/1="a"', 'put k/0=0', 'put k/1=1', 'put k/2=2', 'put k/3=3', 'put k/4=4', 'put k/live=true'],
    );
    const revs = got.flatMap((b) => b.events.map((e) => e.revision));
    t.deepEqual(revs, [...revs].sort((x, y) => x - y));
    await live;
    // Previous values come back from the history after the restart too (stored as references to the record that wrote them).
    const withPrev = n.watch({ gte: 'k/', lt: 'k0' }, { fromRevision: first.revision, prevValue: true });
    const replayed = await collect(withPrev, (all) => events(all).length >= 7, 20_000);
    t.deepEqual(
      replayed.flatMap((b) => b.events.map((e) => [e.key, e.value, e.prevValue])),
      [['k/1', 'a', undefined], ['k/0', 0, undefined], ['k/1', 1, 'a'], ['k/2', 2, undefined], ['k/3', 3, undefined], ['k/4', 4, undefined], ['k/live', true, undefined]],
    );
    for (let i = 0; i < 60; i++) await n.put('filler', i);
    const old = n.watch({ prefix: 'k/' }, { fromRevision: first.revision });
    const err = await t.throwsAsync(collect(old, () => true, 10_000), { instanceOf: CompactedError });
    t.is(err!.code, 'COMPACTED');
    t.true(err!.oldestRevision > first.revision);
  } finally {
    await n.close();
    dir.remove();
  }
});

test('a watcher that does not keep up is closed with WATCH_OVERFLOW and the last revision it was given; an idle one gets progress', async (t) => {
  const { node, dir } = await single({ watchQueueSizeBytes: 4096 });
  try {
    const idle = node.watch({ key: 'never' }, { progressMs: 100 });
    const progress = await collect(idle, (all) => all.length >= 1, 10_000);
    t.deepEqual(progress[0]!.events, []);
    t.true(progress[0]!.revision >= 1);

    const slow = node.watch({ prefix: 'big/' });
    const it = slow[Symbol.asyncIterator]();
    const firstWrite = await node.put('big/0', 'x'.repeat(100));
    const first = await within(it.next(), 10_000, 'the first batch');
    t.is((first.value as WatchBatch).revision >= firstWrite.revision, true);
    // Nobody reads now: 10 writes of 1 KiB pass the 4 KiB queue.
    for (let i = 1; i <= 10; i++) await node.put(`big/${i}`, 'x'.repeat(1024));
    const err = await t.throwsAsync(within(it.next(), 10_000, 'the overflow'), { instanceOf: WatchOverflowError });
    t.is(err!.code, 'WATCH_OVERFLOW');
    t.is(err!.lastRevision, (first.value as WatchBatch).revision);
    // Resuming from lastRevision + 1 replays what it missed.
    const resumed = node.watch({ prefix: 'big/' }, { fromRevision: err!.lastRevision + 1 });
    const again = await collect(resumed, (all) => events(all).length >= 10, 10_000);
    t.is(events(again).length, 10);
  } finally {
    await node.close();
    dir.remove();
  }
});

test("consistency 'linearizable' starts a watch at the leader's commit; bad arguments are named", async (t) => {
  const { node, dir } = await single();
  try {
    const w0 = await node.put('lin', 1);
    const w = node.watch({ key: 'lin' }, { consistency: 'linearizable', progressMs: 50 });
    const [b] = await collect(w, (all) => all.length >= 1, 10_000);
    t.true(b!.revision >= w0.revision);
    t.throws(() => node.watch({ prefix: 'a', key: 'b' } as never), { message: /exactly one of key, prefix, gte/ });
    t.throws(() => node.watch({ prefix: 'a' }, { fromRevision: 0 }), { message: /fromRevision must be an integer >= 1/ });
    t.throws(() => node.watch({ prefix: '' }), { message: /range.prefix must be a non-empty string/ });
    const closing = node.watch({ prefix: 'a' });
    const ended = collect(closing, () => false, 10_000);
    await node.close();
    await t.throwsAsync(ended, { code: 'NODE_CLOSED' });
  } finally {
    await node.close();
    dir.remove();
  }
});

test("past watchBuffersSizeBytes the member closes the watcher furthest behind; the others go on", async (t) => {
  const { node, dir } = await single({ watchQueueSizeBytes: 1024 * 1024, watchBuffersSizeBytes: 8 * 1024 });
  try {
    const slow = node.watch({ prefix: 'm/' })[Symbol.asyncIterator]();
    const fast = node.watch({ prefix: 'm/' });
    const got: WatchBatch[] = [];
    const reading = collect(fast, (all) => (got.splice(0, got.length, ...all), events(all).length >= 20), 20_000);
    for (let i = 0; i < 20; i++) await node.put(`m/${i}`, 'x'.repeat(1024));
    await reading;
    t.is(events(got).length, 20, 'the watcher that keeps up saw everything');
    const err = await t.throwsAsync(within(slow.next(), 10_000, 'the slow watcher'), { instanceOf: WatchOverflowError });
    t.regex(err!.message, /watchBuffersSizeBytes/);
  } finally {
    await node.close();
    dir.remove();
  }
});
