// The simulated disk's crash semantics and faults, the model the whole-node simulation
// trusts: synced batches survive, unsynced ones are lost newest first, failures are sticky.
import test from 'ava';
import { Scheduler } from './scheduler.js';
import { DiskIoError, SimDisk, type SimLevel } from './sim-disk.js';

const k = (s: string): Buffer => Buffer.from(s);

async function setup(seed = 1): Promise<{ s: Scheduler; disk: SimDisk; db: SimLevel }> {
  const s = new Scheduler({ seed });
  const disk = new SimDisk('/sim/n1', s, { minWriteMs: 1, maxWriteMs: 2, syncMs: 1 });
  const db = disk.open('n1#1');
  await db.open();
  return { s, disk, db };
}

async function reopen(disk: SimDisk, owner: string): Promise<SimLevel> {
  const db = disk.open(owner);
  await db.open();
  return db;
}

/** A batch as NodeStorage writes it (abstract-level's types do not list `sync`). */
const batch = (db: SimLevel, ops: { type: 'put' | 'del'; key: Buffer; value?: Buffer }[], sync: boolean): Promise<void> => db.batch(ops as never, { sync } as never);

const get = async (db: SimLevel, key: string): Promise<string | undefined> => (await db.get(k(key)))?.toString();

test('a write completes after its latency, as a scheduler event, and is readable then', async (t) => {
  const { s, db } = await setup();
  let done = false;
  void batch(db, [{ type: 'put', key: k('a'), value: k('1') }], true).then(() => (done = true));
  await s.settle();
  t.false(done);
  t.is(await get(db, 'a'), undefined);
  await s.run({ forMs: 10 });
  t.true(done);
  t.is(await get(db, 'a'), '1');
  t.true(s.nowMs >= 2, 'latency at least minWriteMs + syncMs');
});

test('synced batches survive a crash, and so does every batch before the last sync', async (t) => {
  const { s, disk, db } = await setup();
  void batch(db, [{ type: 'put', key: k('a'), value: k('1') }], false);
  void batch(db, [{ type: 'put', key: k('b'), value: k('2') }], true);
  await s.run({ forMs: 20 });
  t.is(disk.unsyncedBatches, 0);
  disk.crash();
  const db2 = await reopen(disk, 'n1#2');
  t.is(await get(db2, 'a'), '1');
  t.is(await get(db2, 'b'), '2');
});

test('unsynced batches are lost newest first: what survives a crash is always a prefix', async (t) => {
  const survivors = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const { s, disk, db } = await setup(seed);
    const wrote = batch(db, [{ type: 'put', key: k('base'), value: k('x') }], true);
    await s.run({ forMs: 10 });
    await wrote;
    for (let i = 0; i < 5; i++) void batch(db, [{ type: 'put', key: k(`u${i}`), value: k(String(i)) }, { type: 'del', key: k('base') }], false);
    await s.run({ forMs: 50 });
    const { kept, lost } = disk.crash();
    t.is(kept + lost, 5);
    const db2 = await reopen(disk, `n1#${seed}b`);
    const present = [];
    for (let i = 0; i < 5; i++) present.push((await get(db2, `u${i}`)) !== undefined);
    // A prefix: once one is missing, every later one is too.
    t.deepEqual(present, present.map((_, i) => i < kept), `seed ${seed}: ${present}`);
    t.is(await get(db2, 'base'), kept > 0 ? undefined : 'x', 'a batch survives whole');
    survivors.add(kept);
  }
  t.true(survivors.has(0) && survivors.has(5) && survivors.size >= 4, `the seeds cover the cases (${[...survivors]})`);
});

test('a write in flight at the crash never answers, and may or may not survive', async (t) => {
  const outcomes = new Set<boolean>();
  for (let seed = 1; seed <= 20; seed++) {
    const { s, disk, db } = await setup(seed);
    let answered = false;
    void batch(db, [{ type: 'put', key: k('f'), value: k('1') }], true).finally(() => (answered = true));
    await s.settle();
    disk.crash();
    await s.run({ forMs: 50 });
    t.false(answered);
    const db2 = await reopen(disk, 'n1#2');
    outcomes.add((await get(db2, 'f')) === '1');
  }
  t.deepEqual([...outcomes].sort(), [false, true]);
});

test('a second database on the disk fails to open with LEVEL_LOCKED; after close one can, with everything written', async (t) => {
  const { s, disk, db } = await setup();
  const other = disk.open('other');
  const locked = await t.throwsAsync(other.open());
  t.is((locked as { cause?: { code?: string } }).cause?.code, 'LEVEL_LOCKED');
  const w = db.put(k('a'), k('1'));
  await s.run({ forMs: 10 });
  await w;
  await db.close();
  const db2 = await reopen(disk, 'n1#2');
  t.is(await get(db2, 'a'), '1', 'a clean close keeps unsynced writes (the process did not crash)');
});

test('a failing write rejects, nothing of it is readable or survives, and every later write fails at once', async (t) => {
  const { s, disk, db } = await setup();
  disk.failNext = 'write';
  const failed = batch(db, [{ type: 'put', key: k('a'), value: k('1') }], true);
  const later = batch(db, [{ type: 'put', key: k('b'), value: k('2') }], true);
  await s.run({ forMs: 20 });
  const err = await t.throwsAsync(failed, { instanceOf: DiskIoError });
  t.is(err?.code, 'LEVEL_IO_ERROR');
  await t.throwsAsync(later, { instanceOf: DiskIoError });
  t.is(await get(db, 'a'), undefined);
  disk.crash();
  const db2 = await reopen(disk, 'n1#2');
  t.is(await get(db2, 'a'), undefined);
  t.is(await get(db2, 'b'), undefined);
});

test('a failing sync rejects, yet its record may come back after a crash (it reached the log)', async (t) => {
  const outcomes = new Set<boolean>();
  for (let seed = 1; seed <= 20; seed++) {
    const { s, disk, db } = await setup(seed);
    disk.failNext = 'sync';
    const failed = batch(db, [{ type: 'put', key: k('a'), value: k('1') }], true);
    await s.run({ forMs: 20 });
    const err = await t.throwsAsync(failed);
    t.regex(err!.message, /fdatasync/);
    t.is(await get(db, 'a'), undefined, 'not readable: LevelDB skips the memtable after a failed write');
    disk.crash();
    const db2 = await reopen(disk, 'n1#2');
    outcomes.add((await get(db2, 'a')) === '1');
  }
  t.deepEqual([...outcomes].sort(), [false, true]);
});

test('a full disk fails writes with ENOSPC until space is freed and the database reopened', async (t) => {
  const { s, disk, db } = await setup();
  disk.full = true;
  const failed = db.put(k('a'), k('1'));
  await s.run({ forMs: 20 });
  await t.throwsAsync(failed, { message: /No space left on device/ });
  disk.full = false;
  await t.throwsAsync(db.put(k('b'), k('2')), { message: /No space/ }, 'sticky until reopened');
  await db.close();
  const db2 = await reopen(disk, 'n1#2');
  const ok = db2.put(k('c'), k('3'));
  await s.run({ forMs: 20 });
  await ok;
  t.is(await get(db2, 'c'), '3');
});

test('writes complete in the order they were issued; clear() is an unsynced delete', async (t) => {
  const { s, disk, db } = await setup(7);
  const order: number[] = [];
  for (let i = 0; i < 10; i++) void batch(db, [{ type: 'put', key: k(`k${i}`), value: k(String(i)) }], i % 3 === 0).then(() => order.push(i));
  await s.run({ forMs: 100 });
  t.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const cleared = db.clear({ gte: k('k5') } as never);
  await s.run({ forMs: 20 });
  await cleared;
  t.is(await get(db, 'k7'), undefined);
  t.is(disk.unsyncedBatches, 1, 'k9 was synced; the clear is pending');
  t.deepEqual(disk.durableGet(k('k7'))?.toString(), '7');
});

test('side files are replaced whole and durably at completion; a crash before keeps the old one', async (t) => {
  const { s, disk } = await setup();
  const w1 = disk.files.write('HS', Buffer.from('one'));
  await s.run({ forMs: 10 });
  await w1;
  void disk.files.write('HS', Buffer.from('two'));
  disk.crash();
  await s.run({ forMs: 10 });
  t.is(disk.files.read('HS')?.toString(), 'one');
  disk.files.failNext = 'sync';
  const w3 = disk.files.write('HS', Buffer.from('three'));
  await s.run({ forMs: 10 });
  await t.throwsAsync(w3, { instanceOf: DiskIoError });
  t.is(disk.files.read('HS')?.toString(), 'one');
});

test('batches outstanding together have no order: a later one may land first, and a sync covers only what is before it in the log', async (t) => {
  const s = new Scheduler({ seed: 3 });
  const disk = new SimDisk('/sim/n1', s, { minWriteMs: 1, maxWriteMs: 2, syncMs: 5, reorderRate: 1 });
  const db = disk.open('n1#1');
  await db.open();
  const order: string[] = [];
  void batch(db, [{ type: 'put', key: k('a'), value: k('1') }], false).then(() => order.push('a'));
  void batch(db, [{ type: 'put', key: k('b'), value: k('2') }], true).then(() => order.push('b'));
  await s.run({ forMs: 20 });
  t.deepEqual(disk.overlap, { concurrent: 1, reordered: 1, ordered: 1 });
  t.is(order.length, 2);
  // b went before a in the log: its sync made b durable, and a (after it, unsynced) may be lost.
  t.is(disk.durableGet(k('b'))?.toString(), '2');
  t.is(disk.durableGet(k('a')), undefined);
  t.is(disk.unsyncedBatches, 1);
});

test('with reorderRate 0 (the default) outstanding batches keep issue order', async (t) => {
  const { s, disk, db } = await setup();
  void batch(db, [{ type: 'put', key: k('a'), value: k('1') }], false);
  void batch(db, [{ type: 'put', key: k('b'), value: k('2') }], true);
  await s.run({ forMs: 20 });
  t.deepEqual(disk.overlap, { concurrent: 1, reordered: 0, ordered: 1 });
  t.is(disk.unsyncedBatches, 0);
});
