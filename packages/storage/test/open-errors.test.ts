// Opening a data directory: another group's, a locked one, corrupted records, foreign
// files. Each gives its typed error naming the path, and the data on disk is unchanged.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import { GroupMismatchError, initialGroup, type Entry } from '@conclave/core';
import {
  encodeCommand,
  encodeEntry,
  ForeignDataDirectoryError,
  MemoryBackend,
  NodeStorage,
  StorageCorruptError,
  StorageFormatError,
  StorageLockedError,
  type KeySpace,
} from '@conclave/storage';
import * as keys from '../src/keys.js';
import { Fixture, removeDir, tempDir } from './helpers.js';

const raw = new Packr({ useRecords: false });
const ENTRIES = 5;

async function prepare(dir: string, groupId = 'g'): Promise<void> {
  const s = await NodeStorage.open({ path: dir, groupId });
  await s.initializeGroup(initialGroup(groupId, { n1: '127.0.0.1:7001' }));
  await s.setSettings({ electableGroupSizeOverride: 1 });
  const entries: Entry[] = [];
  for (let i = 1; i <= ENTRIES; i++) entries.push({ index: i, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: `k${i}`, value: i }) });
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: ENTRIES }, entries });
  await s.applyEntries(entries);
  await s.close();
}

async function withRaw<T>(dir: string, fn: (db: Level<Buffer, Buffer>) => Promise<T>): Promise<T> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Every key and value, hex-encoded: the logical content of the database. */
async function dump(dir: string): Promise<string[]> {
  return withRaw(dir, async (db) => (await db.iterator().all()).map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`));
}

async function expectIntact(t: import('ava').ExecutionContext, dir: string, groupId = 'g'): Promise<void> {
  const s = await NodeStorage.open({ path: dir, groupId });
  const st = await s.load();
  t.is(st.applied, ENTRIES);
  t.is(st.entries.length, ENTRIES);
  t.is(await s.get(`k${ENTRIES}`), ENTRIES);
  t.is(st.settings.electableGroupSizeOverride, 1);
  await s.close();
}

test('a directory of another group gives GroupMismatchError naming it and both ids', async (t) => {
  const dir = tempDir('mismatch');
  try {
    await prepare(dir, 'alpha');
    const before = await dump(dir);
    const err = await t.throwsAsync(NodeStorage.open({ path: dir, groupId: 'beta' }), { instanceOf: GroupMismatchError });
    t.is(err!.code, 'GROUP_MISMATCH');
    t.true(err!.message.includes(dir) && err!.message.includes("'alpha'") && err!.message.includes("'beta'"), err!.message);
    t.deepEqual(await dump(dir), before);
    await expectIntact(t, dir, 'alpha');
  } finally {
    removeDir(dir);
  }
});

test('a directory locked by another process gives StorageLockedError naming it', async (t) => {
  const dir = tempDir('locked');
  try {
    await prepare(dir, 'lock');
    const holder = new Fixture('lock-holder.ts', [dir]);
    try {
      await holder.waitFor((l) => l === 'locked', 15_000, 'the other process to lock the directory');
      const err = await t.throwsAsync(NodeStorage.open({ path: dir, groupId: 'lock' }), { instanceOf: StorageLockedError });
      t.is(err!.code, 'STORAGE_LOCKED');
      t.is(err!.path, dir);
      t.true(err!.message.includes(dir), err!.message);
    } finally {
      await holder.kill();
    }
    await expectIntact(t, dir, 'lock');
  } finally {
    removeDir(dir);
  }
});

test('a directory already open in this process, or a held memory backend, is locked too', async (t) => {
  const dir = tempDir('locked-here');
  try {
    const first = await NodeStorage.open({ path: dir });
    await t.throwsAsync(NodeStorage.open({ path: dir }), { instanceOf: StorageLockedError });
    await first.close();
    const again = await NodeStorage.open({ path: dir });
    await again.close();
  } finally {
    removeDir(dir);
  }
  const backend = new MemoryBackend();
  const held = await NodeStorage.open({ path: 'mem', backend });
  await t.throwsAsync(NodeStorage.open({ path: 'mem', backend }), { instanceOf: StorageLockedError, message: /mem/ });
  await held.close();
  (await NodeStorage.open({ path: 'mem', backend })).close();
});

test('a non-empty directory that is not a LevelDB is refused and left untouched', async (t) => {
  const dir = tempDir('foreign');
  try {
    writeFileSync(join(dir, 'notes.txt'), 'precious');
    const err = await t.throwsAsync(NodeStorage.open({ path: dir }), { instanceOf: ForeignDataDirectoryError });
    t.is(err!.code, 'STORAGE_FOREIGN_DIRECTORY');
    t.true(err!.message.includes(dir) && err!.message.includes('notes.txt'), err!.message);
    t.deepEqual(readdirSync(dir), ['notes.txt']);
    t.is(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'precious');
    const file = join(dir, 'notes.txt');
    await t.throwsAsync(NodeStorage.open({ path: file }), { instanceOf: ForeignDataDirectoryError, message: /not a directory/ });
  } finally {
    removeDir(dir);
  }
});

test('a LevelDB database without the conclave marker is refused and left untouched', async (t) => {
  const dir = tempDir('foreign-level');
  try {
    await withRaw(dir, (db) => db.put(Buffer.from('theirs'), Buffer.from('data')));
    const before = await dump(dir);
    await t.throwsAsync(NodeStorage.open({ path: dir }), { instanceOf: ForeignDataDirectoryError, message: /without a conclave format marker/ });
    t.deepEqual(await dump(dir), before);
  } finally {
    removeDir(dir);
  }
});

test('an empty or missing directory is initialised, and adopts the group id once known', async (t) => {
  const dir = tempDir('fresh');
  try {
    const nested = join(dir, 'a', 'b');
    let s = await NodeStorage.open({ path: nested });
    t.is(s.groupId, null);
    await s.close();
    s = await NodeStorage.open({ path: nested, groupId: 'g1' });
    t.is(s.groupId, 'g1');
    await s.close();
    await t.throwsAsync(NodeStorage.open({ path: nested, groupId: 'g2' }), { instanceOf: GroupMismatchError });
    t.true(existsSync(join(nested, 'CURRENT')));
  } finally {
    removeDir(dir);
  }
});

const entry = (index: number, term = 1): Buffer =>
  encodeEntry({ index, term, type: 'normal', data: encodeCommand({ op: 'put', key: `k${index}`, value: index }) });

const corruptions: { name: string; space: KeySpace; key: number | string | null; message: string; damage: (db: Level<Buffer, Buffer>) => Promise<void> }[] = [
  { name: 'undecodable log entry', space: 'log', key: 3, message: 'undecodable msgpack', damage: (db) => db.put(keys.logKey(3), Buffer.from([0xc1, 0x00])) },
  { name: 'log entry under the wrong index', space: 'log', key: 3, message: 'carries index 5', damage: (db) => db.put(keys.logKey(3), entry(5)) },
  { name: 'log entry of the wrong shape', space: 'log', key: 2, message: 'not a 4- or 5-element entry tuple', damage: (db) => db.put(keys.logKey(2), raw.pack({ index: 2 })) },
  { name: 'log entry with a decreasing term', space: 'log', key: 4, message: 'term 0 is below the previous term 1', damage: (db) => db.put(keys.logKey(4), entry(4, 0)) },
  { name: 'gap in the log', space: 'log', key: 4, message: 'gap in the log: expected index 3', damage: (db) => db.del(keys.logKey(3)) },
  { name: 'malformed log key', space: 'log', key: '02ff', message: 'malformed log key', damage: (db) => db.put(Buffer.from([0x02, 0xff]), entry(1)) },
  { name: 'undecodable hard state', space: 'hardState', key: null, message: 'undecodable msgpack', damage: (db) => db.put(keys.META_HARD_STATE, Buffer.from([0x92])) },
  { name: 'hard state with a numeric vote', space: 'hardState', key: null, message: 'vote is not a string', damage: (db) => db.put(keys.META_HARD_STATE, raw.pack([1, 2, 3])) },
  { name: 'hard state commit beyond the log', space: 'hardState', key: null, message: 'commit 99 is beyond the last log index 5', damage: (db) => db.put(keys.META_HARD_STATE, raw.pack([1, 'n1', 99])) },
  { name: 'hard state term below the log', space: 'hardState', key: null, message: 'term 0 is below the last log term 1', damage: (db) => db.put(keys.META_HARD_STATE, raw.pack([0, '', 1])) },
  { name: 'bad group metadata', space: 'group', key: null, message: 'members', damage: (db) => db.put(keys.META_GROUP, raw.pack({ groupId: 'g' })) },
  { name: 'bad applied index', space: 'applied', key: null, message: 'not an index', damage: (db) => db.put(keys.META_APPLIED, raw.pack('five')) },
  { name: 'applied index beyond the log', space: 'applied', key: null, message: 'applied index 9 is outside the log', damage: (db) => db.put(keys.META_APPLIED, raw.pack(9)) },
  { name: 'bad snapshot meta', space: 'snapshot', key: null, message: 'bad index or term', damage: (db) => db.put(keys.META_SNAPSHOT, raw.pack({ index: -1 })) },
  { name: 'bad compaction point', space: 'compacted', key: null, message: 'not an [index, term] tuple', damage: (db) => db.put(keys.META_COMPACTED, raw.pack([1])) },
  { name: 'unknown KV space', space: 'kvSpace', key: null, message: 'not an integer', damage: (db) => db.put(keys.META_KV_SPACE, raw.pack('c')) },
  { name: 'bad setting', space: 'settings', key: 'electableGroupSizeOverride', message: 'not an integer >= 0', damage: (db) => db.put(keys.settingKey('electableGroupSizeOverride'), raw.pack(-2)) },
  { name: 'undecodable format marker', space: 'format', key: null, message: 'undecodable msgpack', damage: (db) => db.put(keys.META_FORMAT, Buffer.from([0xff, 0xff])) },
];

for (const c of corruptions) {
  test(`a corrupted record is reported with its key space and key: ${c.name}`, async (t) => {
    const dir = tempDir('corrupt');
    try {
      await prepare(dir);
      await withRaw(dir, c.damage);
      const before = await dump(dir);
      const err = await t.throwsAsync(NodeStorage.open({ path: dir, groupId: 'g' }), { instanceOf: StorageCorruptError });
      t.is(err!.code, 'STORAGE_CORRUPT');
      t.is(err!.path, dir);
      t.is(err!.keySpace, c.space);
      t.is(err!.key, c.key);
      t.true(err!.message.includes(dir) && err!.message.includes(c.message), err!.message);
      t.deepEqual(await dump(dir), before, 'a failed open changes nothing');
      // The directory is released: opening again gives the same error, not a lock error.
      await t.throwsAsync(NodeStorage.open({ path: dir, groupId: 'g' }), { instanceOf: StorageCorruptError });
    } finally {
      removeDir(dir);
    }
  });
}

test('a format marker from a newer build or another program is refused', async (t) => {
  const dir = tempDir('format');
  try {
    await prepare(dir);
    await withRaw(dir, (db) => db.put(keys.META_FORMAT, raw.pack({ format: 'conclave-storage', version: 99, groupId: 'g' })));
    const err = await t.throwsAsync(NodeStorage.open({ path: dir }), { instanceOf: StorageFormatError });
    t.is(err!.code, 'STORAGE_UNSUPPORTED_FORMAT');
    t.true(err!.message.includes('version 99'));
    await withRaw(dir, (db) => db.put(keys.META_FORMAT, raw.pack({ format: 'something-else', version: 1, groupId: null })));
    await t.throwsAsync(NodeStorage.open({ path: dir }), { instanceOf: ForeignDataDirectoryError, message: /something-else/ });
  } finally {
    removeDir(dir);
  }
});

test('a corrupted KV value is reported by get and scan, naming the key', async (t) => {
  const dir = tempDir('corrupt-kv');
  try {
    await prepare(dir);
    await withRaw(dir, (db) => db.put(keys.kvKey(0, 'k2'), Buffer.from([0xc1])));
    const s = await NodeStorage.open({ path: dir, groupId: 'g' });
    const err = await t.throwsAsync(s.get('k2'), { instanceOf: StorageCorruptError });
    t.is(err!.keySpace, 'kv');
    t.is(err!.key, 'k2');
    t.true(err!.message.includes('kv["k2"]'), err!.message);
    t.is(await s.get('k1'), 1, 'other keys still read');
    await t.throwsAsync(async () => {
      for await (const _ of s.scan()) void _;
    }, { instanceOf: StorageCorruptError });
    await s.close();
  } finally {
    removeDir(dir);
  }
});
