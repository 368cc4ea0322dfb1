// NodeStorageOptions.disk: the 'level' backend's code path (side file, LOG check, lock)
// over a disk given from outside, as the simulation gives one.
import test from 'ava';
import { MemoryLevel } from 'memory-level';
import { initialGroup, type Entry } from '@conclave/core';
import { DamagedDataDirectoryError, encodeCommand, NodeStorage, StorageLockedError, type RawDb, type StorageDisk, type StorageTimers } from '../src/index.js';

/** A disk in memory: one database kept across opens (a close leaves its data), side files in a map. */
function memoryDisk(): StorageDisk & { files: Map<string, Buffer>; damage: string[]; locked: boolean; failWrites: boolean } {
  const level = new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const disk = {
    files: new Map<string, Buffer>(),
    damage: [] as string[],
    locked: false,
    failWrites: false,
    checkBeforeOpen: async () => {},
    createDb(): RawDb {
      let open = false;
      return {
        get status() {
          return open ? 'open' : 'closed';
        },
        async open() {
          if (disk.locked) throw Object.assign(new Error('locked'), { code: 'LEVEL_LOCKED' });
          if (level.status !== 'open') await level.open();
          disk.locked = true;
          open = true;
        },
        async close() {
          if (open) disk.locked = false;
          open = false;
        },
        get: (k, o) => level.get(k, o as never),
        getMany: (k) => level.getMany(k),
        snapshot: () => level.snapshot(),
        // memory-level has no sync option: every batch is "durable" here
        batch: (ops) => (disk.failWrites ? Promise.reject(Object.assign(new Error('Input/output error'), { code: 'EIO' })) : level.batch(ops)),
        iterator: (o) => level.iterator(o as never) as never,
        clear: (o) => level.clear(o as never),
      };
    },
    damageReported: async () => disk.damage,
    readSideFile: async (name: string) => disk.files.get(name) ?? null,
    replaceSideFile: async (name: string, bytes: Buffer) => {
      disk.files.set(name, Buffer.from(bytes));
    },
  };
  return disk;
}

test('a disk given from outside gets the side file, the damage check and the lock of the level backend', async (t) => {
  const disk = memoryDisk();
  const first = await NodeStorage.open({ path: 'sim/n1', disk, groupId: 'g' });
  t.true(disk.files.has('CONCLAVE-HARDSTATE'), 'the side file is written through the disk');
  await t.throwsAsync(NodeStorage.open({ path: 'sim/n1', disk, groupId: 'g' }), { instanceOf: StorageLockedError, message: /sim\/n1/ });
  await first.setSettings({ electableGroupSizeOverride: 2 });
  await first.close();

  const again = await NodeStorage.open({ path: 'sim/n1', disk, groupId: 'g' });
  t.is(again.settings.electableGroupSizeOverride, 2, 'the data outlives the close');
  await again.close();

  disk.files.set('CONCLAVE-HARDSTATE', Buffer.from('garbage\n'));
  await t.throwsAsync(NodeStorage.open({ path: 'sim/n1', disk, groupId: 'g' }), { instanceOf: DamagedDataDirectoryError, message: /CONCLAVE-HARDSTATE/ });
  disk.files.delete('CONCLAVE-HARDSTATE');
  disk.damage = ['Log #5: dropping 20 bytes; Corruption: checksum mismatch'];
  await t.throwsAsync(NodeStorage.open({ path: 'sim/n1', disk, groupId: 'g' }), { instanceOf: DamagedDataDirectoryError, message: /dropping 20 bytes/ });
});

test('the write-behind flush runs on the timers given, with the interval configured', async (t) => {
  const pending: { fn: () => void; delayMs: number }[] = [];
  const timers: StorageTimers = {
    setTimeout: (fn, delayMs) => {
      pending.push({ fn, delayMs });
      return { unref: () => {} };
    },
    clearTimeout: () => {},
  };
  const disk = memoryDisk();
  const s = await NodeStorage.open({ path: 'sim/n2', disk, syncPolicy: 'noSync', noSyncFlushIntervalMs: 1234, timers });
  try {
    await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001' }));
    t.is(pending.length, 0, 'nothing buffered yet');
    const entries: Entry[] = [{ index: 1, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: 'k', value: 'v' }) }];
    await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: 1 }, entries });
    await s.applyEntries(entries);
    t.is(pending.length, 1, 'the buffered write armed one flush timer');
    t.is(pending[0]!.delayMs, 1234);
    t.is(await s.get('k'), 'v');
  } finally {
    await s.close();
  }
});

test('a write-behind flush that fails on its timer reports the failure at once (onFailure), not at the next use', async (t) => {
  const pending: (() => void)[] = [];
  const timers: StorageTimers = {
    setTimeout: (fn) => {
      pending.push(fn);
      return { unref: () => {} };
    },
    clearTimeout: () => {},
  };
  const disk = memoryDisk();
  const failures: Error[] = [];
  const s = await NodeStorage.open({ path: 'sim/n3', disk, syncPolicy: 'noSync', timers, onFailure: (err) => failures.push(err) });
  try {
    await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001' }));
    const entries: Entry[] = [{ index: 1, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: 'k', value: 'v' }) }];
    await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: 1 }, entries });
    await s.applyEntries(entries);
    t.is(pending.length, 1, 'a flush timer is armed');
    disk.failWrites = true;
    pending[0]!();
    for (let i = 0; i < 100 && failures.length === 0; i++) await new Promise((r) => setImmediate(r));
    t.is(failures.length, 1, 'the failure was reported when the flush on the timer failed');
    t.is((failures[0] as { code?: string }).code, 'STORAGE_IO');
    t.regex(failures[0]!.message, /sim\/n3.*fail-stop/);
    await t.throwsAsync(s.writeReady({ hardState: { term: 2, vote: 'n1', commit: 1 } }), { message: /fail-stop/ });
    t.is(failures.length, 1, 'reported once');
  } finally {
    await s.close().catch(() => {});
  }
});

test('disk is refused with a memory backend, naming the option', async (t) => {
  await t.throwsAsync(NodeStorage.open({ path: 'x', backend: 'memory', disk: memoryDisk() }), { message: /disk is for the 'level' backend only/ });
});
