// A snapshot install interrupted by SIGKILL leaves the whole old state or the whole new one.
import test from 'ava';
import { Level } from 'level';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, NodeStorage } from '@conclave/storage';
import { META_INSTALL, PREFIX_KV } from '../src/keys.js';
import { NEW_KEYS, NEW_TERM, newValue, OLD_KEYS, OLD_TERM, oldValue } from './fixtures/install-data.js';
import { Fixture, removeDir, seededRandom, sleep, tempDir } from './helpers.js';

const OLD_LAST = OLD_KEYS + 20;
const OLD_COMMIT = OLD_KEYS + 10;

async function prepareOld(dir: string): Promise<void> {
  const s = await NodeStorage.open({ path: dir, groupId: 'install' });
  await s.initializeGroup(initialGroup('install', { n2: '127.0.0.1:7002' }));
  const entries: Entry[] = [];
  for (let i = 1; i <= OLD_LAST; i++) {
    entries.push({ index: i, term: OLD_TERM, type: 'normal', data: encodeCommand({ op: 'put', key: `old${i}`, value: oldValue(i) }) });
  }
  await s.writeReady({ hardState: { term: OLD_TERM, vote: 'n2', commit: OLD_COMMIT }, entries });
  await s.applyEntries(entries.slice(0, OLD_KEYS));
  await s.close();
}

/** The KV generations that hold keys and whether an install marker is left, reading LevelDB directly. */
async function rawSpaces(dir: string): Promise<{ generations: number[]; marker: boolean }> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    const keys = await db.keys({ gte: Buffer.from([PREFIX_KV]), lt: Buffer.from([PREFIX_KV + 1]) }).all();
    const generations = [...new Set(keys.map((k) => k.readUInt32BE(1)))];
    return { generations, marker: (await db.get(META_INSTALL)) !== undefined };
  } finally {
    await db.close();
  }
}

type Outcome = 'old' | 'new';

async function check(t: import('ava').ExecutionContext, dir: string, context: string): Promise<Outcome> {
  const s = await NodeStorage.open({ path: dir, groupId: 'install' });
  let outcome: Outcome;
  try {
    const st = await s.load();
    const keys = new Map<string, unknown>();
    for await (const [k, v] of s.scan()) keys.set(k, v);
    if (st.applied === OLD_KEYS) {
      outcome = 'old';
      t.is(st.snapshot, null, `${context}: old state with a snapshot meta`);
      t.is(st.lastIndex, OLD_LAST, context);
      t.is(st.firstIndex, 1, context);
      t.deepEqual(st.hardState, { term: OLD_TERM, vote: 'n2', commit: OLD_COMMIT }, context);
      t.deepEqual(st.group?.members.map((m) => m.id), ['n2'], context);
      t.is(keys.size, OLD_KEYS, `${context}: old state has ${keys.size} keys`);
      for (let i = 1; i <= OLD_KEYS; i++) t.deepEqual(keys.get(`old${i}`), oldValue(i));
    } else {
      outcome = 'new';
      t.is(st.applied, NEW_KEYS, `${context}: applied ${st.applied} is neither old nor new`);
      t.is(st.snapshot?.index, NEW_KEYS, context);
      t.is(st.snapshot?.term, NEW_TERM, context);
      t.deepEqual(st.compacted, { index: NEW_KEYS, term: NEW_TERM }, context);
      t.is(st.lastIndex, NEW_KEYS, context);
      t.is(st.entries.length, 0, context);
      t.deepEqual(st.hardState, { term: NEW_TERM, vote: '', commit: NEW_KEYS }, context);
      t.deepEqual(st.group?.members.map((m) => m.id), ['n1', 'n2'], context);
      t.is(keys.size, NEW_KEYS, `${context}: new state has ${keys.size} keys`);
      let bad = 0;
      for (let i = 1; i <= NEW_KEYS; i++) if (JSON.stringify(keys.get(`new${i}`)) !== JSON.stringify(newValue(i))) bad++;
      t.is(bad, 0, `${context}: ${bad} new values differ`);
    }
  } finally {
    await s.close();
  }
  // Open cleaned what the crash left: only the active space has keys, no install marker.
  const raw = await rawSpaces(dir);
  t.false(raw.marker, `${context}: install marker left after open`);
  t.true(raw.generations.length <= 1, `${context}: several KV generations hold keys after open (${raw.generations.join(', ')})`);
  return outcome;
}

test.serial('a snapshot install killed at any point leaves the whole old state or the whole new one', async (t) => {
  t.timeout(60_000);
  const seed = Number(process.env.CONCLAVE_CRASH_SEED ?? Date.now() % 1_000_000);
  const rand = seededRandom(seed);
  t.log(`replay with CONCLAVE_CRASH_SEED=${seed}`);
  // Kill right after a given line, or after a random delay from `ready`.
  const points: { after: string | null; delayMs: number }[] = [
    { after: 'B', delayMs: 0 },
    { after: 'C 0', delayMs: 0 },
    { after: 'C 20', delayMs: 0 },
    { after: 'LAST_CHUNK', delayMs: 0 },
    { after: 'S', delayMs: 0 },
    ...Array.from({ length: 7 }, () => ({ after: null, delayMs: Math.floor(rand() * 120) })),
  ];
  const seen: Record<Outcome, number> = { old: 0, new: 0 };
  for (const [n, point] of points.entries()) {
    const dir = tempDir('install-crash');
    try {
      await prepareOld(dir);
      const child = new Fixture('install-writer.ts', [dir]);
      const ready = await child.waitFor((l) => l.startsWith('ready '), 20_000, 'the installer to be ready');
      const chunks = Number(ready.split(' ')[1]);
      t.true(chunks > 21, `the snapshot should have many chunks (has ${chunks})`);
      const after = point.after === 'LAST_CHUNK' ? `C ${chunks - 1}` : point.after;
      if (after !== null) await child.waitFor((l) => l === after, 20_000, `line '${after}'`);
      else await sleep(point.delayMs);
      await child.kill();
      const context = `kill #${n} after ${after ?? `${point.delayMs} ms`} (seed ${seed}); child saw ${child.lines.at(-1)}`;
      const outcome = await check(t, dir, context);
      if (child.lines.includes('S')) t.is(outcome, 'new', `${context}: finishInstall resolved, yet the old state came back`);
      seen[outcome]++;
      t.log(`${context}: ${outcome}`);
    } finally {
      removeDir(dir);
    }
  }
  t.log(`outcomes: ${seen.old} old, ${seen.new} new`);
  t.true(seen.old > 0 && seen.new > 0, 'both outcomes should occur across the kill points');
});
