// deferApplyWrites: under 'sync', applies and commit-only hard states wait in memory and go
// out with the next synced write; the durable log lets a crashed node apply them again.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, MemoryBackend, NodeStorage, type KvCommand, type NodeStorageOptions } from '@conclave/storage';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });
const LONG_MS = 60_000;

async function open(backend: MemoryBackend, extra: Partial<NodeStorageOptions> = {}): Promise<NodeStorage> {
  return NodeStorage.open({ path: 'defer', backend, syncPolicy: 'sync', deferApplyWrites: true, noSyncFlushIntervalMs: LONG_MS, ...extra });
}

/** Appends one entry per item (with the hard state that commits them) and applies them. */
async function run(s: NodeStorage, items: (KvCommand | Omit<Entry, 'index' | 'term'>)[]): Promise<void> {
  const start = s.lastIndex + 1;
  const entries: Entry[] = items.map((item, k) =>
    'data' in item ? ({ ...item, index: start + k, term: 1 } as Entry) : { index: start + k, term: 1, type: 'normal', data: encodeCommand(item) },
  );
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: start + entries.length - 1 }, entries });
  await s.applyEntries(entries);
}

test('applies wait in memory: reads see them, a crash loses them but not their log', async (t) => {
  const backend = new MemoryBackend();
  let s = await open(backend);
  await s.initializeGroup(GROUP);
  await run(s, [{ op: 'put', key: 'a', value: 1 }, { op: 'cas', key: 'a', expected: 1, value: 2 }]);
  t.is(await s.get('a'), 2, 'get and CAS see the deferred apply');
  t.is(s.applied, 2);
  await s.crash();
  s = await open(backend);
  const st = await s.load();
  t.is(st.lastIndex, 2, 'the log was synced');
  t.is(st.hardState.commit, 2);
  t.is(st.applied, 0, 'the apply was still in memory');
  t.is(await s.get('a'), undefined);
  await s.applyEntries(st.entries);
  t.is(await s.get('a'), 2, 'applying again from the log gives the same state');
  await s.close();
});

test('a commit-only hard state is written at once without fsync; the next log write carries the deferred apply', async (t) => {
  const backend = new MemoryBackend();
  let s = await open(backend);
  await s.initializeGroup(GROUP);
  const e1: Entry = { index: 1, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: 'a', value: 1 }) };
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: [e1] });
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: 1 } });
  await s.applyEntries([e1]);
  t.deepEqual(s.hardState, { term: 1, vote: 'n1', commit: 1 });
  await s.crash();
  s = await open(backend);
  let st = await s.load();
  t.is(st.hardState.commit, 1, 'a process crash keeps the commit (rollback detection counts on it)');
  t.is(st.applied, 0);
  await s.applyEntries(st.entries);
  await run(s, [{ op: 'put', key: 'b', value: 2 }]);
  await s.crash();
  s = await open(backend);
  st = await s.load();
  t.is(st.lastIndex, 2);
  t.is(st.hardState.commit, 2, "entry 2's batch carried its own hard state");
  t.is(st.applied, 1, "entry 2's batch carried the apply of entry 1");
  t.is(await s.get('a'), 1);
  t.is(await s.get('b'), undefined);
  await s.close();
});

test('deferred writes reach the disk on the flush timer and on close', async (t) => {
  const backend = new MemoryBackend();
  let s = await open(backend, { noSyncFlushIntervalMs: 5 });
  await s.initializeGroup(GROUP);
  await run(s, [{ op: 'put', key: 'a', value: 1 }]);
  await new Promise((r) => setTimeout(r, 50));
  await s.crash();
  s = await open(backend);
  t.is(s.applied, 1, 'the timer flushed');
  await run(s, [{ op: 'put', key: 'b', value: 2 }]);
  await s.close();
  s = await open(backend);
  t.is(await s.get('b'), 2, 'close flushed');
  await s.close();
});

test('a membership change is written at once', async (t) => {
  const backend = new MemoryBackend();
  let s = await open(backend);
  await s.initializeGroup(GROUP);
  await run(s, [{ type: 'conf', data: new Uint8Array(0), change: { op: 'addSecondary', id: 'n3', address: '127.0.0.1:7003' } }]);
  await s.crash();
  s = await open(backend);
  t.is(s.applied, 1);
  t.true(s.group!.members.some((m) => m.id === 'n3'));
  await s.close();
});

test('ignored under writeNoSync: every apply is written at once', async (t) => {
  const backend = new MemoryBackend();
  let s = await open(backend, { syncPolicy: 'writeNoSync' });
  await s.initializeGroup(GROUP);
  await run(s, [{ op: 'put', key: 'a', value: 1 }]);
  await s.crash();
  s = await open(backend, { syncPolicy: 'writeNoSync' });
  t.is(s.applied, 1);
  await s.close();
});

test('a non-boolean deferApplyWrites is refused', async (t) => {
  await t.throwsAsync(() => NodeStorage.open({ path: 'bad', backend: 'memory', deferApplyWrites: 'yes' as unknown as boolean }), { message: /deferApplyWrites must be a boolean/ });
});
