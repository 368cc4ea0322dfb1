// Snapshots: streaming in bounded chunks from a consistent view, atomic install, and log
// compaction behind snapshots.
import test from 'ava';
import { GroupMismatchError, initialGroup, InvalidArgumentError, type Entry } from '@conclave/core';
import {
  decodeChunk,
  DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT,
  DEFAULT_SNAPSHOT_INTERVAL_ENTRIES,
  encodeChunk,
  encodeCommand,
  InstallSupersededError,
  LogCompactedError,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  MemoryBackend,
  NodeStorage,
  SNAPSHOT_CHUNK_MAX_BYTES,
  type NodeStorageOptions,
} from '@conclave/storage';
import { removeDir, tempDir } from './helpers.js';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });

async function node(extra: Partial<NodeStorageOptions> = {}): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path: 'snap', backend: 'memory', ...extra });
  await s.initializeGroup(GROUP);
  return s;
}

/** Appends, commits and applies puts of `count` keys (values from `value`) in term `term`. */
async function fill(s: NodeStorage, count: number, value: (i: number) => unknown, term = 1, prefix = 'k'): Promise<void> {
  const start = s.lastIndex + 1;
  const entries: Entry[] = [];
  for (let k = 0; k < count; k++) {
    entries.push({ index: start + k, term, type: 'normal', data: encodeCommand({ op: 'put', key: `${prefix}${start + k}`, value: value(start + k) }) });
  }
  await s.writeReady({ hardState: { term: Math.max(term, s.hardState.term), vote: 'n1', commit: start + count - 1 }, entries });
  await s.applyEntries(entries);
}

async function collect(s: NodeStorage): Promise<Map<string, unknown>> {
  const m = new Map<string, unknown>();
  for await (const [k, v] of s.scan()) m.set(k, v);
  return m;
}

async function transfer(from: NodeStorage, to: NodeStorage): Promise<number> {
  const stream = await from.openSnapshot();
  await to.beginInstall(stream.meta);
  let chunks = 0;
  for await (const chunk of stream) {
    await to.installChunk(chunk);
    chunks++;
  }
  await to.finishInstall();
  return chunks;
}

test('the defaults are a snapshot every 8192 entries and 10240 entries kept', (t) => {
  t.is(DEFAULT_SNAPSHOT_INTERVAL_ENTRIES, 8192);
  t.is(DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT, 10240);
  t.is(SNAPSHOT_CHUNK_MAX_BYTES, 1024 * 1024);
});

test('a snapshot streams in chunks of at most 1 MiB, even with the largest keys and values', async (t) => {
  const s = await node();
  await fill(s, 5, () => Buffer.alloc(300 * 1024, 7));
  // The largest pair allowed: a key of MAX_KEY_BYTES and a value whose encoding is MAX_VALUE_BYTES.
  const bigKey = 'K'.repeat(MAX_KEY_BYTES);
  const bigValue = Buffer.alloc(MAX_VALUE_BYTES - 5, 1);
  await s.writeReady({ entries: [{ index: 6, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: bigKey, value: bigValue }) }], hardState: { term: 1, vote: 'n1', commit: 6 } });
  await s.applyEntries(await s.entries(6, 7));
  const stream = await s.openSnapshot();
  t.deepEqual(stream.meta, { index: 6, term: 1, group: GROUP });
  const sizes: number[] = [];
  const keys: string[] = [];
  for await (const chunk of stream) {
    sizes.push(chunk.length);
    const decoded = decodeChunk(chunk);
    t.is(decoded.seq, sizes.length - 1);
    for (const [k] of decoded.pairs) if (typeof k === "string") keys.push(k);
  }
  t.true(sizes.length >= 3, `chunks: ${sizes.join(', ')}`);
  t.true(sizes.every((n) => n <= SNAPSHOT_CHUNK_MAX_BYTES), `chunks: ${sizes.join(', ')}`);
  t.is(keys.length, 6);
  t.true(keys.includes(bigKey));
  await s.close();
});

test('a snapshot reads a consistent view: writes after openSnapshot do not show', async (t) => {
  const s = await node({ snapshotChunkMaxBytes: 4096 });
  await fill(s, 200, (i) => ({ i, pad: 'p'.repeat(100) }));
  const stream = await s.openSnapshot();
  await fill(s, 50, (i) => i, 1, 'late');
  const receiver = await NodeStorage.open({ path: 'r', backend: 'memory', groupId: 'g' });
  await receiver.beginInstall(stream.meta);
  for await (const chunk of stream) await receiver.installChunk(chunk);
  await receiver.finishInstall();
  t.is(receiver.applied, 200);
  const data = await collect(receiver);
  t.is(data.size, 200);
  t.false([...data.keys()].some((k) => k.startsWith('late')));
  await s.close();
  await receiver.close();
});

test('install switches the whole state at once and resets a diverged log', async (t) => {
  const leader = await node({ snapshotChunkMaxBytes: 2048 });
  await fill(leader, 300, (i) => `v${i}`, 3);
  const dir = tempDir('install');
  try {
    let follower = await NodeStorage.open({ path: dir, groupId: 'g' });
    await follower.initializeGroup(initialGroup('g', { n2: '127.0.0.1:7002' }));
    await fill(follower, 10, (i) => `old${i}`, 1, 'old');
    // An uncommitted, diverged tail that the snapshot must discard.
    await follower.writeReady({ entries: [{ index: 11, term: 1, type: 'noop', data: new Uint8Array(0) }] });
    const chunks = await transfer(leader, follower);
    t.true(chunks >= 3, `${chunks} chunks`);
    const check = async (s: NodeStorage): Promise<void> => {
      const st = await s.load();
      t.is(st.applied, 300);
      t.deepEqual(st.snapshot, { index: 300, term: 3, group: GROUP });
      t.deepEqual(st.compacted, { index: 300, term: 3 });
      t.is(st.firstIndex, 301);
      t.is(st.lastIndex, 300);
      t.deepEqual(st.entries, []);
      t.deepEqual(st.hardState, { term: 3, vote: '', commit: 300 });
      t.deepEqual(st.group, GROUP);
      t.is(s.term(300), 3);
      const data = await collect(s);
      t.is(data.size, 300);
      t.is(data.get('k1'), 'v1');
      t.is(data.get('k300'), 'v300');
      await t.throwsAsync(s.entries(300, 301), { instanceOf: LogCompactedError });
    };
    await check(follower);
    await follower.close();
    follower = await NodeStorage.open({ path: dir, groupId: 'g' });
    await check(follower);
    // The follower carries on from the snapshot.
    await fill(follower, 2, (i) => `after${i}`, 3);
    t.is(await follower.get('k301'), 'after301');
    await follower.close();
  } finally {
    removeDir(dir);
    await leader.close();
  }
});

test('install keeps the log after the snapshot point when the log matches it', async (t) => {
  const leader = await node();
  await fill(leader, 20, (i) => i, 2);
  const follower = await node();
  const leaderLog = await leader.entries(1, 21);
  // The follower has all 20 entries (and one more), but applied only 5.
  await follower.writeReady({ hardState: { term: 2, vote: 'n1', commit: 5 }, entries: [...leaderLog, { index: 21, term: 2, type: 'noop', data: new Uint8Array(0) }] });
  await follower.applyEntries(leaderLog.slice(0, 5));
  const stream = await leader.openSnapshot();
  await follower.beginInstall(stream.meta);
  for await (const chunk of stream) await follower.installChunk(chunk);
  await follower.finishInstall();
  t.is(follower.applied, 20);
  t.is(follower.firstIndex, 21);
  t.is(follower.lastIndex, 21, 'the entry after the snapshot point stayed');
  t.is((await follower.entries(21, 22))[0]?.type, 'noop');
  await leader.close();
  await follower.close();
});

test('writeReady with a snapshot finishes the staged install in the Ready batch', async (t) => {
  const leader = await node();
  await fill(leader, 10, (i) => i, 4);
  const follower = await NodeStorage.open({ path: 'f', backend: 'memory' });
  const stream = await leader.openSnapshot();
  await follower.beginInstall(stream.meta);
  for await (const chunk of stream) await follower.installChunk(chunk);
  const next: Entry = { index: 11, term: 4, type: 'normal', data: encodeCommand({ op: 'put', key: 'z', value: 1 }) };
  await follower.writeReady({ snapshot: stream.meta, entries: [next], hardState: { term: 4, vote: 'n1', commit: 11 } });
  t.is(follower.applied, 10);
  t.is(follower.lastIndex, 11);
  t.deepEqual(follower.hardState, { term: 4, vote: 'n1', commit: 11 });
  t.is(follower.groupId, 'g', 'a node without a group adopts the snapshot group');
  await follower.applyEntries([next]);
  t.is(await follower.get('z'), 1);
  t.is(await follower.get('k10'), 10);
  await t.throwsAsync(follower.writeReady({ snapshot: stream.meta }), { instanceOf: InvalidArgumentError, message: /none is staged/ });
  await leader.close();
  await follower.close();
});

test('install refuses a snapshot of another group, a stale one, and chunks out of order', async (t) => {
  const leader = await node({ snapshotChunkMaxBytes: 1024 });
  await fill(leader, 50, (i) => 'x'.repeat(i * 10));
  const stream = await leader.openSnapshot();
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  t.true(chunks.length >= 3);

  const other = await NodeStorage.open({ path: 'o', backend: 'memory', groupId: 'another' });
  const err = await t.throwsAsync(other.beginInstall(stream.meta), { instanceOf: GroupMismatchError });
  t.true(err!.message.includes("'g'") && err!.message.includes("'another'"), err!.message);

  const follower = await node();
  await fill(follower, 60, (i) => i);
  await t.throwsAsync(follower.beginInstall(stream.meta), { instanceOf: InvalidArgumentError, message: /not beyond the applied index 60/ });
  await t.throwsAsync(follower.installChunk(chunks[0]!), { instanceOf: InvalidArgumentError, message: /without beginInstall/ });
  await t.throwsAsync(follower.finishInstall(), { instanceOf: InvalidArgumentError, message: /without beginInstall/ });
  await t.throwsAsync(follower.beginInstall({ index: 'x' } as never), { instanceOf: InvalidArgumentError, message: /snapshot meta/ });

  const fresh = await node();
  await fresh.beginInstall(stream.meta);
  await t.throwsAsync(fresh.installChunk(chunks[1]!), { instanceOf: InvalidArgumentError, message: /chunk 1 arrived, expected chunk 0/ });
  await fresh.installChunk(chunks[0]!);
  await t.throwsAsync(fresh.installChunk(chunks[0]!), { instanceOf: InvalidArgumentError, message: /chunk 0 arrived, expected chunk 1/ });
  await t.throwsAsync(fresh.finishInstall(), { instanceOf: InvalidArgumentError, message: /last chunk has not arrived/ });
  await t.throwsAsync(fresh.installChunk(Buffer.from([1, 2, 3])), { instanceOf: InvalidArgumentError, message: /snapshot chunk/ });
  await t.throwsAsync(fresh.installChunk(encodeChunk(1, false, ['', Buffer.from([0xc0])])), { instanceOf: InvalidArgumentError, message: /key #0 must be a non-empty string/ });
  await t.throwsAsync(fresh.installChunk(encodeChunk(1, false, ['k', Buffer.from([0xc1])])), { instanceOf: InvalidArgumentError, message: /not valid msgpack/ });
  for (const c of chunks.slice(1)) await fresh.installChunk(c);
  await t.throwsAsync(fresh.installChunk(chunks[0]!), { instanceOf: InvalidArgumentError, message: /after the last chunk/ });
  await fresh.finishInstall();
  t.is(fresh.applied, 50);
  t.deepEqual(await collect(fresh), await collect(leader));
  for (const s of [leader, other, follower, fresh]) await s.close();
});

test('each install has its own key: a superseded stream\'s chunks and abort are refused, the newer install stays whole', async (t) => {
  const a = await node();
  await fill(a, 30, (i) => `a${i}`, 1, 'a');
  const b = await node();
  await fill(b, 30, (i) => `b${i}`, 2, 'b');
  const chunksOf = async (s: NodeStorage) => {
    const stream = await s.openSnapshot();
    const out: Uint8Array[] = [];
    for await (const c of stream) out.push(c);
    return { meta: stream.meta, chunks: out };
  };
  const sa = await chunksOf(a);
  const sb = await chunksOf(b);
  const f = await node();
  const keyA = await f.beginInstall(sa.meta);
  await f.installChunk(sa.chunks[0]!, keyA);
  const keyB = await f.beginInstall(sb.meta);
  t.not(keyA, keyB);
  t.deepEqual(f.stagedInstall, { key: keyB, meta: sb.meta, complete: false });
  const err = await t.throwsAsync(f.installChunk(sa.chunks[1] ?? sa.chunks[0]!, keyA), { instanceOf: InstallSupersededError });
  t.is(err!.code, 'INSTALL_SUPERSEDED');
  t.regex(err!.message, new RegExp(`install #${keyA} was superseded \\(#${keyB} is staged now\\)`));
  await f.abortInstall(keyA);
  t.is(f.stagedInstall?.key, keyB, 'aborting the old install leaves the new one');
  for (const c of sb.chunks) await f.installChunk(c, keyB);
  t.true(f.stagedInstall!.complete);
  await f.finishInstall();
  t.deepEqual(await collect(f), await collect(b));
  for (const s of [a, b, f]) await s.close();
});

test('abortInstall keeps the current state and empties the staging space', async (t) => {
  const backend = new MemoryBackend();
  const leader = await node();
  await fill(leader, 30, (i) => i);
  let s = await NodeStorage.open({ path: 'abort', backend });
  await s.initializeGroup(GROUP);
  await fill(s, 3, (i) => `mine${i}`, 1, 'mine');
  const stream = await leader.openSnapshot();
  await s.beginInstall(stream.meta);
  for await (const c of stream) await s.installChunk(c);
  await s.abortInstall();
  t.false(s.installing);
  t.is(s.applied, 3);
  t.deepEqual([...(await collect(s)).keys()], ['mine1', 'mine2', 'mine3']);
  await s.close();
  s = await NodeStorage.open({ path: 'abort', backend });
  t.is(s.applied, 3);
  t.is((await collect(s)).size, 3);
  await s.close();
  await leader.close();
});

test('maybeSnapshot records a snapshot every interval and compacts, keeping the trailing entries', async (t) => {
  const backend = new MemoryBackend();
  let s = await NodeStorage.open({ path: 'compact', backend, snapshotIntervalEntries: 10, entriesKeptAfterSnapshot: 4 });
  await s.initializeGroup(GROUP);
  const metas: number[] = [];
  for (let k = 0; k < 25; k++) {
    await fill(s, 1, (i) => i, 1 + Math.floor(k / 10));
    const meta = await s.maybeSnapshot();
    if (meta) metas.push(meta.index);
  }
  t.deepEqual(metas, [10, 20]);
  t.deepEqual(s.snapshot, { index: 20, term: 2, group: GROUP });
  t.deepEqual(s.compacted, { index: 16, term: 2 });
  t.is(s.firstIndex, 17);
  t.is(s.term(16), 2);
  t.is(s.term(15), null);
  await t.throwsAsync(s.entries(16, 18), { instanceOf: LogCompactedError, message: /log index 16 is compacted/ });
  t.is((await s.entries(17, 26)).length, 9);
  await t.throwsAsync(s.compact(26), { instanceOf: InvalidArgumentError, message: /only 25 is applied/ });
  await s.compact(24);
  t.is(s.firstIndex, 25);
  await s.close();
  s = await NodeStorage.open({ path: 'compact', backend });
  const st = await s.load();
  t.deepEqual(st.compacted, { index: 24, term: 3 });
  t.deepEqual(st.entries.map((e) => e.index), [25]);
  t.is(st.snapshot?.index, 20);
  t.is((await collect(s)).size, 25, 'compaction never touches the KV data');
  await s.close();
});

test('rollback install (JE hard recovery): a snapshot at or below the applied index replaces committed state whole', async (t) => {
  // The leader's side: 6 entries of term 1, then 3 of term 3.
  const leader = await node();
  await fill(leader, 6, (i) => `common${i}`, 1);
  await fill(leader, 3, (i) => `leader${i}`, 3, 'x');
  const stream = await leader.openSnapshot();
  // The diverged follower: the same 6, then 5 of its own in term 2, committed and applied.
  const f = await node();
  await fill(f, 6, (i) => `common${i}`, 1);
  await fill(f, 5, (i) => `lost${i}`, 2, 'y');
  t.is(f.applied, 11);
  t.is(stream.meta.index, 9);
  await t.throwsAsync(f.beginInstall(stream.meta), { instanceOf: InvalidArgumentError, message: /not beyond the applied index 11/ }, 'an ordinary install refuses');
  await f.beginInstall(stream.meta, { rollback: true });
  for await (const chunk of stream) await f.installChunk(chunk);
  await f.writeReady({ snapshot: stream.meta, hardState: { term: 3, vote: '', commit: 9 } });
  t.is(f.applied, 9);
  t.is(f.hardState.commit, 9, 'the commit index went down to the snapshot');
  t.is(f.lastIndex, 9, 'the diverged entries are gone from the log');
  t.deepEqual(await collect(f), await collect(leader));
  t.is(await f.get('y7'), undefined, 'a lost write is gone');
  // The leader's next entries append normally after the rollback.
  await f.writeReady({ entries: [{ index: 10, term: 3, type: 'normal', data: encodeCommand({ op: 'put', key: 'next', value: 1 }) }], hardState: { term: 3, vote: '', commit: 10 } });
  await f.applyEntries([{ index: 10, term: 3, type: 'normal', data: encodeCommand({ op: 'put', key: 'next', value: 1 }) }]);
  t.is(await f.get('next'), 1);
  await f.close();
  await leader.close();
});
