// get() does not go through the write queue, so it can race the background clear of the
// old KV generation after a snapshot install. A key present in both states must never be
// read as absent.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, MemoryBackend, NodeStorage } from '@conclave/storage';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });

async function withKey(path: string, backend: MemoryBackend | 'memory', value: string, count: number, term: number): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path, backend });
  await s.initializeGroup(GROUP);
  const entries: Entry[] = [];
  for (let i = 1; i < count; i++) entries.push({ index: i, term, type: 'normal', data: encodeCommand({ op: 'put', key: `${value}${i}`, value: i }) });
  entries.push({ index: count, term, type: 'normal', data: encodeCommand({ op: 'put', key: 'both', value }) });
  await s.writeReady({ hardState: { term, vote: 'n1', commit: count }, entries });
  await s.applyEntries(entries);
  return s;
}

test('a get that started before an install and ends after the old state was cleared still finds a key present in both states', async (t) => {
  const backend = new MemoryBackend();
  const s = await withKey('follower', backend, 'old', 5, 1);
  const leader = await withKey('leader', 'memory', 'new', 20, 2);
  const stream = await leader.openSnapshot();
  await s.beginInstall(stream.meta);
  for await (const chunk of stream) await s.installChunk(chunk);

  // Hold the next read of LevelDB until the install is done and the old state cleared.
  const db = backend.db as { get: (k: Buffer) => Promise<Buffer | undefined> };
  const original = db.get.bind(db);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  db.get = async (k) => {
    if (held++ === 0) await gate;
    return original(k);
  };
  const read = s.get('both');
  await s.finishInstall();
  // The clear of the old generation runs in the background; close() waits for it.
  const deadline = Date.now() + 10_000;
  while ((s as unknown as { s: { pendingClear: Promise<void> | null } }).s.pendingClear !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.is((s as unknown as { s: { pendingClear: Promise<void> | null } }).s.pendingClear, null, 'the old state was cleared');
  release();
  const value = await read;
  t.true(value === 'old' || value === 'new', `read ${String(value)}`);
  t.is(await s.get('both'), 'new');
  db.get = original;
  await s.close();
  await leader.close();
});
