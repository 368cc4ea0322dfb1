// The KV state machine: apply, results, get, scan, conf entries, sync policies, settings,
// and the invariants writeReady enforces.
import test from 'ava';
import { ConfChangeError, initialGroup, InvalidArgumentError, InvariantError, type Entry } from '@conclave/core';
import { encodeCommand, MemoryBackend, NodeStorage, StorageClosedError, type KvCommand, type NodeStorageOptions } from '@conclave/storage';
import { removeDir, tempDir } from './helpers.js';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });

async function openMem(extra: Partial<NodeStorageOptions> = {}): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path: 'kv', backend: 'memory', ...extra });
  await s.initializeGroup(GROUP);
  return s;
}

/** Appends the commands as entries, commits them and applies them; returns the apply results. */
async function run(s: NodeStorage, items: (KvCommand | Entry['type'] | Omit<Entry, 'index' | 'term'>)[]) {
  const start = s.lastIndex + 1;
  const term = Math.max(1, s.hardState.term);
  const entries: Entry[] = items.map((item, k) => {
    const index = start + k;
    if (item === 'noop') return { index, term, type: 'noop', data: new Uint8Array(0) };
    if (typeof item === 'string') throw new Error(item);
    if ('data' in item) return { ...item, index, term } as Entry;
    return { index, term, type: 'normal', data: encodeCommand(item) };
  });
  await s.writeReady({ hardState: { term, vote: 'n1', commit: start + entries.length - 1 }, entries });
  return s.applyEntries(entries);
}

test('put, del, batch and cas apply with per-entry results', async (t) => {
  const s = await openMem();
  const results = await run(s, [
    { op: 'put', key: 'a', value: 1 },
    { op: 'cas', key: 'a', expected: 1, value: 2 },
    { op: 'cas', key: 'a', expected: 1, value: 3 },
    { op: 'cas', key: 'new', value: 'x' },
    { op: 'cas', key: 'new', value: 'y' },
    'noop',
    { op: 'batch', ops: [{ op: 'put', key: 'b', value: Buffer.from('bee') }, { op: 'del', key: 'new' }, { op: 'put', key: 'c', value: { deep: [1] } }] },
    { op: 'cas', key: 'c', expected: { deep: [1] } },
    { op: 'del', key: 'missing' },
  ]);
  t.deepEqual(
    results.map((r) => r.outcome),
    [
      { op: 'put' },
      { op: 'cas', succeeded: true, current: 1 },
      { op: 'cas', succeeded: false, current: 2 },
      { op: 'cas', succeeded: true, current: undefined },
      { op: 'cas', succeeded: false, current: 'x' },
      null,
      { op: 'batch', count: 3 },
      { op: 'cas', succeeded: true, current: { deep: [1] } },
      { op: 'del' },
    ],
  );
  t.true(results.every((r, k) => r.index === k + 1 && r.error === null));
  t.is(await s.get('a'), 2);
  t.deepEqual(await s.get('b'), Buffer.from('bee'));
  t.is(await s.get('c'), undefined, 'compare-and-delete removed c');
  t.is(await s.get('new'), undefined);
  t.is(s.applied, 9);
  await s.close();
});

test('values of every msgpack kind round-trip', async (t) => {
  const s = await openMem();
  const values: unknown[] = [Buffer.from([0, 255]), 'text', 42, -1.5, 2 ** 40, true, false, null, [1, [2, { x: 'y' }]], { a: { b: Buffer.from('c') } }, new Date(0)];
  await run(s, values.map((value, k) => ({ op: 'put' as const, key: `v${k}`, value })));
  for (const [k, v] of values.entries()) t.deepEqual(await s.get(`v${k}`), v);
  await s.close();
});

test('get and scan refuse bad keys and options', async (t) => {
  const s = await openMem();
  await t.throwsAsync(s.get(5 as unknown as string), { instanceOf: InvalidArgumentError, message: /key must be a non-empty string/ });
  await t.throwsAsync(s.get(''), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(s.scan({ gte: 3 as unknown as string }).next(), { instanceOf: InvalidArgumentError, message: /gte must be a string/ });
  await t.throwsAsync(s.scan({ limit: -1 }).next(), { instanceOf: InvalidArgumentError, message: /limit/ });
  await s.close();
});

test('scan honours gte, gt, lte, lt, limit and reverse, in UTF-8 byte order', async (t) => {
  const s = await openMem();
  const keys = ['a', 'b', 'ba', 'c', 'd', 'z', 'é', '\u{1F600}'];
  await run(s, keys.map((key) => ({ op: 'put' as const, key, value: key })));
  const scan = async (o: Parameters<NodeStorage['scan']>[0]): Promise<string[]> => {
    const out: string[] = [];
    for await (const [k, v] of s.scan(o)) {
      t.is(v, k);
      out.push(k);
    }
    return out;
  };
  t.deepEqual(await scan({}), ['a', 'b', 'ba', 'c', 'd', 'z', 'é', '\u{1F600}']);
  t.deepEqual(await scan({ gte: 'b', lt: 'd' }), ['b', 'ba', 'c']);
  t.deepEqual(await scan({ gt: 'b', lte: 'd' }), ['ba', 'c', 'd']);
  t.deepEqual(await scan({ gte: 'b', limit: 2 }), ['b', 'ba']);
  t.deepEqual(await scan({ reverse: true, limit: 3 }), ['\u{1F600}', 'é', 'z']);
  t.deepEqual(await scan({ reverse: true, gt: 'a', lt: 'c' }), ['ba', 'b']);
  t.deepEqual(await scan({ limit: 0 }), []);
  t.deepEqual(await scan({ gte: 'zz', lt: 'zzz' }), []);
  await s.close();
});

test('a scan sees the data as of its start, not later writes', async (t) => {
  const s = await openMem();
  await run(s, [{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'b', value: 2 }]);
  const it = s.scan();
  const first = await it.next();
  await run(s, [{ op: 'del', key: 'b' }, { op: 'put', key: 'c', value: 3 }]);
  const rest: string[] = [];
  for await (const [k] of it) rest.push(k);
  t.deepEqual(first.value, ['a', 1]);
  t.deepEqual(rest, ['b']);
  await s.close();
});

test('conf entries update the stored group; invalid ones apply as no-ops with an error', async (t) => {
  const backend = new MemoryBackend();
  let s = await NodeStorage.open({ path: 'conf', backend });
  await s.initializeGroup(GROUP);
  const conf = (change: NonNullable<Entry['change']>): Omit<Entry, 'index' | 'term'> => ({ type: 'conf', data: new Uint8Array(0), change });
  const results = await run(s, [
    conf({ op: 'addSecondary', id: 'n3', address: '127.0.0.1:7003' }),
    conf({ op: 'addElectable', id: 'n1', address: '127.0.0.1:7009' }),
    conf({ op: 'promote', id: 'n3' }),
    conf({ op: 'remove', id: 'n2' }),
  ]);
  t.is(results[0]!.outcome?.op, 'conf');
  t.true(results[1]!.error instanceof ConfChangeError);
  t.is(results[1]!.outcome, null);
  t.is(results[2]!.error, null);
  const expected = [
    { id: 'n1', type: 'electable', removed: false },
    { id: 'n2', type: 'electable', removed: true },
    { id: 'n3', type: 'electable', removed: false },
  ];
  const shape = (g: typeof s.group) => g?.members.map((m) => ({ id: m.id, type: m.type, removed: m.removed }));
  t.deepEqual(shape(s.group), expected);
  await s.close();
  s = await NodeStorage.open({ path: 'conf', backend, groupId: 'g' });
  t.deepEqual(shape((await s.load()).group), expected);
  await s.close();
});

test('applyEntries refuses entries that do not continue the applied index or are not persisted', async (t) => {
  const s = await openMem();
  await run(s, [{ op: 'put', key: 'a', value: 1 }]);
  const e = (index: number): Entry => ({ index, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: 'x', value: index }) });
  await t.throwsAsync(s.applyEntries([e(1)]), { instanceOf: InvariantError, message: /does not continue the applied index/ });
  await t.throwsAsync(s.applyEntries([e(3)]), { instanceOf: InvariantError });
  await t.throwsAsync(s.applyEntries([e(2)]), { instanceOf: InvariantError, message: /beyond the persisted log/ });
  t.is(s.applied, 1);
  t.is(await s.get('x'), undefined);
  await s.close();
});

test('writeReady refuses malformed entries and broken hard-state invariants, writing nothing', async (t) => {
  const s = await openMem();
  await run(s, [{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'b', value: 2 }]);
  const e = (index: number, term = 1): Entry => ({ index, term, type: 'noop', data: new Uint8Array(0) });
  const hs = { term: 1, vote: 'n1', commit: 2 };
  await t.throwsAsync(s.writeReady({ entries: [e(4)] }), { instanceOf: InvalidArgumentError, message: /gap after the last index 2/ });
  await t.throwsAsync(s.writeReady({ entries: [e(3), e(5)] }), { instanceOf: InvalidArgumentError, message: /not contiguous/ });
  await t.throwsAsync(s.writeReady({ hardState: { term: 2, vote: 'n1', commit: 2 }, entries: [e(3, 2), e(4, 1)] }), { instanceOf: InvalidArgumentError, message: /terms decrease/ });
  await t.throwsAsync(s.writeReady({ entries: [{ index: 3, term: 1, type: 'normal', data: 'x' as unknown as Uint8Array }] }), { instanceOf: InvalidArgumentError, message: /data must be a Uint8Array/ });
  await t.throwsAsync(s.writeReady({ hardState: { ...hs, term: 0 } }), { instanceOf: InvariantError, message: /term went back/ });
  await t.throwsAsync(s.writeReady({ hardState: { ...hs, vote: 'n2' } }), { instanceOf: InvariantError, message: /vote changed within term 1/ });
  await t.throwsAsync(s.writeReady({ hardState: { ...hs, commit: 3 } }), { instanceOf: InvariantError, message: /commit 3 is beyond the last log index 2/ });
  await t.throwsAsync(s.writeReady({ hardState: { ...hs, term: 2 }, entries: [e(2, 2)] }), { instanceOf: InvariantError, message: /would rewrite committed entry 2/ });
  await t.throwsAsync(s.writeReady({ entries: [e(3, 2)] }), { instanceOf: InvariantError, message: /hard state term 1 is below the last log term 2/ });
  await t.throwsAsync(s.writeReady({ hardState: { term: 1, vote: 3 as unknown as string, commit: 2 } }), { instanceOf: InvalidArgumentError });
  t.is(s.lastIndex, 2);
  t.deepEqual(s.hardState, hs);
  t.deepEqual((await s.entries(1, 3)).map((x) => x.index), [1, 2]);
  // A vote change with a new term is fine.
  await s.writeReady({ hardState: { term: 2, vote: 'n2', commit: 2 } });
  t.deepEqual(s.hardState, { term: 2, vote: 'n2', commit: 2 });
  await s.close();
});

test('noSync buffers whole batches: reads see them, crash() loses only the buffered tail', async (t) => {
  const backend = new MemoryBackend();
  let s = await NodeStorage.open({ path: 'nosync', backend, syncPolicy: 'noSync', noSyncFlushIntervalMs: 60_000 });
  await s.initializeGroup(GROUP);
  await run(s, [{ op: 'put', key: 'a', value: 1 }]);
  await s.flush();
  await run(s, [{ op: 'put', key: 'b', value: 2 }, { op: 'cas', key: 'b', expected: 2, value: 3 }]);
  t.is(await s.get('b'), 3, 'buffered writes are visible, to get and to CAS');
  await s.crash();
  s = await NodeStorage.open({ path: 'nosync', backend, syncPolicy: 'noSync' });
  const st = await s.load();
  t.is(st.lastIndex, 1);
  t.is(st.applied, 1);
  t.is(await s.get('a'), 1);
  t.is(await s.get('b'), undefined);
  await s.close();
});

test('noSync flushes on its timer and on close', async (t) => {
  const backend = new MemoryBackend();
  let s = await NodeStorage.open({ path: 'nosync-timer', backend, syncPolicy: 'noSync', noSyncFlushIntervalMs: 5 });
  await s.initializeGroup(GROUP);
  await run(s, [{ op: 'put', key: 'a', value: 1 }]);
  await new Promise((r) => setTimeout(r, 50));
  await s.crash();
  s = await NodeStorage.open({ path: 'nosync-timer', backend, syncPolicy: 'noSync', noSyncFlushIntervalMs: 60_000 });
  t.is(await s.get('a'), 1, 'the timer flushed');
  await run(s, [{ op: 'put', key: 'b', value: 2 }]);
  await s.close();
  s = await NodeStorage.open({ path: 'nosync-timer', backend });
  t.is(await s.get('b'), 2, 'close flushed');
  await s.close();
});

test('sync policies all persist on LevelDB across close and reopen', async (t) => {
  for (const syncPolicy of ['sync', 'writeNoSync', 'noSync'] as const) {
    const dir = tempDir(`policy-${syncPolicy}`);
    try {
      let s = await NodeStorage.open({ path: dir, syncPolicy, groupId: 'g' });
      await s.initializeGroup(GROUP);
      await run(s, [{ op: 'put', key: 'k', value: syncPolicy }]);
      await s.close();
      s = await NodeStorage.open({ path: dir, groupId: 'g' });
      t.is(await s.get('k'), syncPolicy);
      t.is(s.applied, 1);
      await s.close();
    } finally {
      removeDir(dir);
    }
  }
});

test('local settings persist, are validated, and are separate from the group', async (t) => {
  const backend = new MemoryBackend();
  let s = await NodeStorage.open({ path: 'settings', backend });
  t.deepEqual(s.settings, { electableGroupSizeOverride: 0, overrideSpan: null });
  await s.setSettings({ electableGroupSizeOverride: 2, overrideSpan: { from: 35, to: 0 } });
  await t.throwsAsync(s.setSettings({ overrideSpan: { from: 0, to: 3 } }), { instanceOf: InvalidArgumentError, message: /overrideSpan must be null or \{ from, to \}: from is not an integer >= 1/ });
  await t.throwsAsync(s.setSettings({ overrideSpan: 'x' as never }), { instanceOf: InvalidArgumentError, message: /overrideSpan/ });
  await t.throwsAsync(s.setSettings({ electableGroupSizeOverride: -1 }), { instanceOf: InvalidArgumentError, message: /electableGroupSizeOverride must be an integer >= 0/ });
  await t.throwsAsync(s.setSettings({ electableGroupSizeOverride: 1.5 }), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(s.setSettings({ nope: 1 } as never), { instanceOf: InvalidArgumentError, message: /unknown setting 'nope'/ });
  await s.close();
  s = await NodeStorage.open({ path: 'settings', backend });
  t.deepEqual((await s.load()).settings, { electableGroupSizeOverride: 2, overrideSpan: { from: 35, to: 0 } });
  t.is(s.group, null);
  await s.close();
});

test('initializeGroup refuses a second group and a group of another id', async (t) => {
  const s = await NodeStorage.open({ path: 'init', backend: 'memory', groupId: 'g' });
  await t.throwsAsync(s.initializeGroup(initialGroup('other', { n1: '127.0.0.1:7001' })), { code: 'GROUP_MISMATCH' });
  await s.initializeGroup(GROUP);
  await t.throwsAsync(s.initializeGroup(GROUP), { instanceOf: InvalidArgumentError, message: /already has group metadata/ });
  await s.close();
});

test('a closed storage refuses every operation with StorageClosedError', async (t) => {
  const s = await openMem();
  await s.close();
  await s.close();
  await t.throwsAsync(s.writeReady({ hardState: { term: 1, vote: '', commit: 0 } }), { instanceOf: StorageClosedError });
  await t.throwsAsync(s.get('a'), { instanceOf: StorageClosedError });
  await t.throwsAsync(s.entries(1, 1), { instanceOf: StorageClosedError });
  await t.throwsAsync(s.applyEntries([]), { instanceOf: StorageClosedError });
});
