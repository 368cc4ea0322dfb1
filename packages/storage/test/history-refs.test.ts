// The watch history stores each value once (issue 15, large values): a change's previous
// value refers to the older record that wrote it; that record stays, below the history's
// start, until the last record referring to it leaves; a version 2 directory (previous values
// inline) is read as it is and its marker raised; a version 1 one is still refused.
import test from 'ava';
import { Packr } from 'msgpackr';
import { initialGroup, type Entry } from '@conclave/core';
import { decodeValue, encodeCommand, MemoryBackend, NodeStorage, StorageFormatError, type KvCommand, type NodeStorageOptions } from '@conclave/storage';
import * as keys from '../src/keys.js';
import { STORAGE_FORMAT_VERSION } from '../src/data-directory.js';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001' });
const raw = new Packr({ useRecords: false, mapsAsObjects: true });

async function openMem(backend: MemoryBackend, extra: Partial<NodeStorageOptions> = {}): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path: 'refs', backend, ...extra });
  if (s.group === null) await s.initializeGroup(GROUP);
  return s;
}

/** Appends and applies `items` as one batch (one apply batch: references within it too). */
async function run(s: NodeStorage, items: KvCommand[]) {
  const start = s.lastIndex + 1;
  const entries: Entry[] = items.map((item, k) => ({ index: start + k, term: 1, type: 'normal', data: encodeCommand(item) }));
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: start + entries.length - 1 }, entries });
  const r = await s.applyEntries(entries);
  if (r.some((x) => x.error !== null)) throw new Error(JSON.stringify(r.map((x) => x.error?.message)));
}

async function replay(s: NodeStorage, from: number): Promise<[number, string, string, unknown, unknown][]> {
  const h = await s.readHistory(from, 1 << 24);
  return h.records.flatMap((r) => r.changes.map((c): [number, string, string, unknown, unknown] => [r.revision, c.type, c.key, c.value && decodeValue(c.value), c.prevValue && decodeValue(c.prevValue)]));
}

/** The history keys on disk: [revision, referred revisions]. */
async function diskHistory(backend: MemoryBackend): Promise<[number, number[] | null][]> {
  const it = backend.db.iterator({ ...keys.HISTORY_RANGE, values: false });
  const out: [number, number[] | null][] = [];
  for (let b = await it.nextv(100); b.length > 0; b = await it.nextv(100)) for (const [k] of b) out.push([keys.historyRevisionOf(k), keys.historyRefsOf(k)]);
  await it.close();
  return out;
}

const big = (c: string): string => c.repeat(4000);

test('an overwrite keeps its previous value once: a reference to the record that wrote it, read back exactly, also after a restart', async (t) => {
  const backend = new MemoryBackend();
  let s = await openMem(backend);
  await run(s, [{ op: 'put', key: 'k', value: big('a') }]);
  // In one apply batch: the references point into the same batch.
  await run(s, [{ op: 'put', key: 'k', value: big('b') }, { op: 'del', key: 'k' }, { op: 'put', key: 'k', value: big('c') }, { op: 'batch', ops: [{ op: 'put', key: 'k', value: 'd1' }, { op: 'put', key: 'k', value: 'd2' }] }]);
  const expected = [
    [1, 'put', 'k', big('a'), null],
    [2, 'put', 'k', big('b'), big('a')],
    [3, 'delete', 'k', null, big('b')],
    [4, 'put', 'k', big('c'), null],
    // The second write of a key in one revision has the first as its previous value.
    [5, 'put', 'k', 'd1', big('c')],
    [5, 'put', 'k', 'd2', 'd1'],
  ];
  t.deepEqual(await replay(s, 1), expected);
  t.deepEqual(await diskHistory(backend), [[1, null], [2, [1]], [3, [2]], [4, null], [5, [4]]]);
  // Three large values, each held once (inline, the previous values were four more).
  t.true(s.historySize.sizeBytes < 4 * 4000, `${s.historySize.sizeBytes} bytes`);
  await s.close();
  s = await openMem(backend);
  t.deepEqual(await replay(s, 1), expected);
  t.deepEqual(await replay(s, 3), expected.slice(2), 'a page starting after the referred record reads it');
  await s.close();
});

test('a record referred to outlives the window: it lingers below the start until its last referrer leaves, over restarts', async (t) => {
  const backend = new MemoryBackend();
  const opts = { watchHistoryRevisions: 3 };
  let s = await openMem(backend, opts);
  await run(s, [{ op: 'put', key: 'k', value: big('1') }]);
  await run(s, [{ op: 'put', key: 'x', value: 1 }, { op: 'put', key: 'y', value: 1 }, { op: 'put', key: 'k', value: 'k2' }]);
  await run(s, [{ op: 'put', key: 'z', value: 1 }, { op: 'put', key: 'z', value: 2 }]);
  // Applied 6, a window of 3: revisions 4-6, and record 1 lingers for record 4.
  t.is(s.historyStart, 4);
  t.like(s.historySize, { records: 3, lingeringRecords: 1 });
  t.true(s.historySize.sizeBytes > 4000, 'the lingering record counts in the bytes held');
  t.deepEqual(await replay(s, 4), [
    [4, 'put', 'k', 'k2', big('1')],
    [5, 'put', 'z', 1, null],
    [6, 'put', 'z', 2, 1],
  ]);
  t.like(await s.readHistory(1, 1 << 20), { compacted: true, start: 4 });
  await s.close();
  s = await openMem(backend, opts);
  t.like(s.historySize, { records: 3, lingeringRecords: 1 });
  t.deepEqual((await replay(s, 4))[0], [4, 'put', 'k', 'k2', big('1')]);
  // Record 4 leaves: record 1 goes with it, in the same batch.
  await run(s, [{ op: 'put', key: 'w', value: 1 }]);
  t.is(s.historyStart, 5);
  t.like(s.historySize, { records: 3, lingeringRecords: 0 });
  t.deepEqual(await diskHistory(backend), [[5, null], [6, [5]], [7, null]]);
  t.true(s.historySize.sizeBytes < 4000);
  await s.close();
  s = await openMem(backend, opts);
  t.like(s.historySize, { records: 3, lingeringRecords: 0 });
  await s.close();
});

test('the byte budget counts lingering records, and the history stays within it but for the newest record and what it refers to', async (t) => {
  const backend = new MemoryBackend();
  const s = await openMem(backend, { watchHistorySizeBytes: 20_000 });
  // Ten keys overwritten in turn: every record refers to the one ten before it.
  for (let round = 0; round < 6; round++) await run(s, Array.from({ length: 10 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: big(String(round)) })));
  const size = s.historySize;
  t.true(size.sizeBytes <= 20_000, JSON.stringify(size));
  const onDisk = await diskHistory(backend);
  t.is(onDisk.length, size.records + size.lingeringRecords, 'memory accounts for every record on disk');
  const changes = await replay(s, s.historyStart);
  t.true(changes.length > 0);
  for (const [revision, , key, value, prev] of changes) {
    const round = Math.floor((revision - 1) / 10);
    t.deepEqual([key, value, prev], [`k${(revision - 1) % 10}`, big(String(round)), round === 0 ? null : big(String(round - 1))]);
  }
  await s.close();
});

test('a version 2 directory (previous values inline) opens, reads as before, and is marked version 3; version 1 is refused', async (t) => {
  const backend = new MemoryBackend();
  let s = await openMem(backend);
  await run(s, [{ op: 'put', key: 'a', value: 'a1' }, { op: 'put', key: 'b', value: 'b1' }]);
  await s.close();
  // What a version 2 build wrote for an overwrite of 'a': the previous value inline.
  const v = (x: unknown): Buffer => raw.pack(x);
  const record = raw.pack([[1, 'a', v('a2'), v('a1')]]);
  const it = backend.db.iterator({ gte: keys.historyBound(2), lt: keys.historyBound(3), values: false });
  const [[old]] = (await it.nextv(1)) as [[Buffer, Buffer]];
  await it.close();
  await backend.db.batch([
    { type: 'del', key: old },
    { type: 'put', key: keys.historyKey(2, record.length), value: record },
    { type: 'put', key: keys.META_FORMAT, value: raw.pack({ format: 'conclave-storage', version: 2, groupId: 'g' }) },
  ]);
  s = await openMem(backend);
  t.deepEqual(await replay(s, 1), [
    [1, 'put', 'a', 'a1', null],
    [2, 'put', 'a', 'a2', 'a1'],
  ]);
  t.like(raw.unpack((await backend.db.get(keys.META_FORMAT))!), { version: STORAGE_FORMAT_VERSION });
  t.is(STORAGE_FORMAT_VERSION, 3);
  await s.close();
  await backend.db.batch([{ type: 'put', key: keys.META_FORMAT, value: raw.pack({ format: 'conclave-storage', version: 1, groupId: 'g' }) }]);
  const err = await t.throwsAsync(openMem(backend), { instanceOf: StorageFormatError });
  t.regex(err!.message, /version 1 is older/);
});
