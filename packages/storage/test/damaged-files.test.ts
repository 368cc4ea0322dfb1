// Damage that open-errors.test.ts does not cover: every record of every key space cut
// short at every length, and LevelDB's own files (tables, write-ahead log, MANIFEST,
// CURRENT) with flipped bytes or cut short. Opening never crashes and never reports an
// untyped LevelDB error: it opens (with whatever LevelDB recovered), or refuses with a
// typed error naming the data directory.
import test from 'ava';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, NodeStorage } from '@conclave/storage';
import { removeDir, seededRandom, tempDir } from './helpers.js';

const ENTRIES = 120;
/** Codes a damaged directory may be refused with. */
const TYPED = ['STORAGE_DAMAGED', 'STORAGE_CORRUPT', 'STORAGE_IO', 'STORAGE_FOREIGN_DIRECTORY', 'STORAGE_UNSUPPORTED_FORMAT', 'GROUP_MISMATCH'];

async function prepare(dir: string, keepOpen = false): Promise<NodeStorage | null> {
  const s = await NodeStorage.open({ path: dir, groupId: 'g' });
  await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001' }));
  await s.setSettings({ electableGroupSizeOverride: 1 });
  const entries: Entry[] = [];
  for (let i = 1; i <= ENTRIES; i++) entries.push({ index: i, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: `k${i}`, value: `value-${i}` }) });
  for (let i = 0; i < ENTRIES; i += 20) {
    const batch = entries.slice(i, i + 20);
    await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: i + 20 }, entries: batch });
    await s.applyEntries(batch);
  }
  if (keepOpen) return s;
  await s.close();
  return null;
}

/**
 * What opening `dir` gives: 'same' as the intact directory, 'older' (the state after fewer
 * writes, whole: what a write-ahead log cut short leaves), 'altered' (anything else), or the
 * error's code. Throws on an untyped error, or one that does not name the directory.
 */
async function outcome(dir: string): Promise<string> {
  let s: NodeStorage | null = null;
  try {
    s = await NodeStorage.open({ path: dir, groupId: 'g' });
    const st = await s.load();
    const kv = new Map<string, unknown>();
    for await (const [k, v] of s.scan()) kv.set(k, v);
    const prefix =
      st.lastIndex <= ENTRIES &&
      st.applied <= st.lastIndex &&
      st.entries.length === st.lastIndex &&
      st.entries.every((e, i) => e.index === i + 1) &&
      kv.size === st.applied &&
      [...Array(st.applied).keys()].every((i) => kv.get(`k${i + 1}`) === `value-${i + 1}`);
    if (!prefix) return 'altered';
    return st.applied === ENTRIES && st.lastIndex === ENTRIES ? 'same' : 'older';
  } catch (err) {
    const e = err as { code?: unknown; message?: string };
    if (typeof e.code !== 'string' || !TYPED.includes(e.code)) throw new Error(`untyped error opening ${dir}: ${String(e.code)} ${e.message}`, { cause: err });
    if (e.code !== 'GROUP_MISMATCH' && !e.message!.includes(dir)) throw new Error(`${e.code} does not name the directory: ${e.message}`);
    return e.code;
  } finally {
    await s?.close().catch(() => {});
  }
}

test('every record cut short at every length is refused as STORAGE_CORRUPT, naming its key space', async (t) => {
  const root = tempDir('truncated-values');
  try {
    const dir = join(root, 'db');
    await prepare(dir);
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const records = await db.iterator().all();
    await db.close();
    // Log entries and KV values are many and alike: a few of each, plus every meta and setting record.
    const rnd = seededRandom(5);
    const chosen = records.filter(([k]) => k[0]! <= 0x01 || rnd() < 0.05);
    const spaces = new Map<string, number>();
    let cases = 0;
    for (const [key, value] of chosen) {
      for (let len = 0; len < value.length; len++) {
        const copy = join(root, 'copy');
        removeDir(copy);
        cpSync(dir, copy, { recursive: true });
        const raw = new Level<Buffer, Buffer>(copy, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
        await raw.open();
        await raw.put(key, value.subarray(0, len));
        await raw.close();
        let s: NodeStorage | null = null;
        try {
          s = await NodeStorage.open({ path: copy, groupId: 'g' });
          // A cut KV value or watch history record is found when it is read, not at open.
          for await (const _ of s.scan()) void _;
          await s.readHistory(s.historyStart, 64 * 1024 * 1024);
          t.fail(`a ${len}-byte prefix of record ${key.toString('hex')} went unnoticed`);
        } catch (err) {
          const e = err as { code?: string; keySpace?: string; message: string };
          t.is(e.code, 'STORAGE_CORRUPT', e.message);
          t.true(e.message.includes(copy), e.message);
          spaces.set(e.keySpace!, (spaces.get(e.keySpace!) ?? 0) + 1);
        } finally {
          await s?.close().catch(() => {});
        }
        cases++;
      }
    }
    t.log(`${cases} cut records refused, by key space: ${JSON.stringify(Object.fromEntries(spaces))}`);
    for (const space of ['format', 'hardState', 'group', 'applied', 'settings', 'log', 'kv', 'history']) t.true(spaces.has(space), `key space ${space} covered`);
  } finally {
    removeDir(root);
  }
});

test("LevelDB's files with flipped bytes or cut short: a typed error naming the directory, or a consistent open", async (t) => {
  const root = tempDir('damaged-files');
  try {
    // Two layouts: everything in table files (closed and opened again, which compacts the
    // write-ahead log into a table), and the writes only in the write-ahead log (copied while
    // open, as a crash would leave it).
    const closed = join(root, 'closed');
    await prepare(closed);
    await (await NodeStorage.open({ path: closed, groupId: 'g' })).close();
    const live = join(root, 'live');
    const open = await prepare(live, true);
    const crashed = join(root, 'crashed');
    mkdirSync(crashed);
    for (const f of readdirSync(live)) if (f !== 'LOCK') copyFileSync(join(live, f), join(crashed, f));
    await open!.close();

    const rnd = seededRandom(11);
    const seen = new Map<string, number>();
    let cases = 0;
    for (const dir of [closed, crashed]) {
      // Opening replays and rewrites LevelDB's files: only copies are opened, never `dir`.
      const copyOf = (): string => {
        const copy = join(root, 'copy');
        removeDir(copy);
        cpSync(dir, copy, { recursive: true });
        return copy;
      };
      t.is(await outcome(copyOf()), 'same');
      for (const file of readdirSync(dir).filter((f) => !['LOCK', 'LOG', 'LOG.old'].includes(f))) {
        const bytes = readFileSync(join(dir, file));
        if (bytes.length === 0) continue;
        for (let i = 0; i < 24; i++) {
          const copy = copyOf();
          const pos = Math.floor(rnd() * bytes.length);
          const flip = i % 2 === 0;
          if (flip) {
            const damaged = Buffer.from(bytes);
            damaged[pos] = damaged[pos]! ^ (1 << Math.floor(rnd() * 8));
            writeFileSync(join(copy, file), damaged);
          } else truncateSync(join(copy, file), pos);
          const kind = await outcome(copy); // throws on an untyped error
          const fileKind = file.replace(/\d+/g, 'N');
          // LevelDB does not verify block checksums on reads (classic-level cannot ask it to):
          // a flipped bit inside a value in a table can go unseen. Nowhere else may it.
          if (kind === 'altered' && !(flip && fileKind === 'N.ldb')) t.fail(`${fileKind} ${flip ? 'flipped' : 'cut'} at ${pos}: opened with altered data`);
          const row = `${dir === closed ? 'tables' : 'log only'} ${fileKind} ${flip ? 'flip' : 'cut'}: ${kind}`;
          seen.set(row, (seen.get(row) ?? 0) + 1);
          cases++;
        }
      }
    }
    t.log(`${cases} damaged copies:\n${[...seen].sort().map(([k, n]) => `  ${k}: ${n}`).join('\n')}`);
    t.true(cases >= 100);
  } finally {
    removeDir(root);
  }
});
