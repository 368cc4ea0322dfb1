// Views of the KV state (snapshot-consistent reads for ConclaveLevel) and clear entries.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { decodeCommand, decodeValue, encodeCommand, MAX_CLEAR_KEYS, MemoryBackend, NodeStorage, type KvCommand } from '@conclave/storage';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001' });

async function open(deferApplyWrites: boolean): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path: 'view', backend: new MemoryBackend(), syncPolicy: 'sync', deferApplyWrites, noSyncFlushIntervalMs: 60_000 });
  await s.initializeGroup(GROUP);
  return s;
}

async function run(s: NodeStorage, cmds: KvCommand[]): Promise<void> {
  const start = s.lastIndex + 1;
  const entries: Entry[] = cmds.map((c, k) => ({ index: start + k, term: 1, type: 'normal', data: encodeCommand(c) }));
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: start + entries.length - 1 }, entries });
  const results = await s.applyEntries(entries);
  for (const r of results) if (r.error) throw r.error;
}

async function keys(s: NodeStorage, range = {}): Promise<string[]> {
  const v = s.view();
  const it = v.iterator(range);
  try {
    return (await it.nextv(100_000)).map(([k]) => k);
  } finally {
    await it.close();
    await v.close();
  }
}

for (const defer of [false, true]) {
  test(`a view is the state applied when it was taken: later applies never show (deferApplyWrites ${defer})`, async (t) => {
    const s = await open(defer);
    await run(s, [{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'c', value: 3 }]);
    const view = s.view();
    t.is(view.appliedIndex, s.applied);
    const it = view.iterator();
    await run(s, [{ op: 'del', key: 'a' }, { op: 'put', key: 'b', value: 2 }, { op: 'put', key: 'c', value: 30 }]);
    t.deepEqual((await it.nextv(10)).map(([k]) => k), ['a', 'c']);
    t.truthy(await view.get('a'), 'get on the view too');
    t.is(await view.get('b'), null);
    await it.close();
    await view.close();
    t.deepEqual(await keys(s), ['b', 'c'], 'a new view sees the latest');
    t.deepEqual(await keys(s, { reverse: true, lt: 'c' }), ['b']);
    await s.close();
  });

  test(`clear deletes the first (or last) limit keys of its range, seeing earlier writes of the same apply (deferApplyWrites ${defer})`, async (t) => {
    const s = await open(defer);
    await run(s, ['a', 'b', 'c', 'd', 'e'].map((key) => ({ op: 'put', key, value: key })));
    // One apply: a put, then clears that must see it, in both directions.
    await run(s, [
      { op: 'put', key: 'bb', value: 1 },
      { op: 'clear', gt: 'a', lt: 'e', limit: 2 },
      { op: 'clear', gte: 'a', lte: 'e', reverse: true, limit: 1 },
    ]);
    t.deepEqual(await keys(s), ['a', 'c', 'd']);
    await s.close();
  });

  test(`viewAt: the state at an index inside one apply, replayed over an older view, cas and clear included (deferApplyWrites ${defer})`, async (t) => {
    const s = await open(defer);
    await run(s, [{ op: 'put', key: 'a', value: 1 }, { op: 'put', key: 'c', value: 3 }]);
    const base = s.view();
    const at = base.appliedIndex;
    // One apply of five entries: LevelDB never holds the states between them.
    await run(s, [
      { op: 'put', key: 'b', value: 2 },
      { op: 'cas', key: 'a', expected: 1, value: 10 },
      { op: 'clear', gte: 'b', limit: 1 },
      { op: 'put', key: 'd', value: 4 },
      { op: 'del', key: 'c' },
    ]);
    const view = await s.viewAt(base, at + 3);
    t.truthy(view);
    t.is(view!.appliedIndex, at + 3);
    const it = view!.iterator();
    t.deepEqual((await it.nextv(10)).map(([k]) => k), ['a', 'c'], 'b put then cleared; d and the del of c come after');
    it.seek('b');
    t.deepEqual((await it.nextv(10)).map(([k]) => k), ['c'], 'seek stays in the same state');
    await it.close();
    t.is(decodeValue((await view!.get('a'))!), 10, 'the cas succeeded in the replay too');
    t.is(await s.viewAt(base, at), base, 'its own index: the view itself');
    t.is(await s.viewAt(base, s.applied + 1), null, 'not applied: no such state');
    await t.throwsAsync(s.viewAt(view!, at + 2), { code: 'INVALID_ARGUMENT' });
    await view!.close();
    await s.close();
  });

  test(`viewAt: null once the entries after the view are compacted (deferApplyWrites ${defer})`, async (t) => {
    const s = await open(defer);
    await run(s, [{ op: 'put', key: 'a', value: 1 }]);
    const base = s.view();
    await run(s, [{ op: 'put', key: 'b', value: 2 }, { op: 'put', key: 'c', value: 3 }]);
    await s.compact(s.applied);
    t.is(await s.viewAt(base, s.applied - 1), null);
    await base.close();
    await s.close();
  });

}

test('clear commands are validated: bounds, one of gt/gte and of lt/lte, a limit from 1 to MAX_CLEAR_KEYS', (t) => {
  const ok: KvCommand = { op: 'clear', gte: 'a', lt: 'b', reverse: true, limit: 5 };
  t.deepEqual(decodeCommand(encodeCommand(ok)), ok);
  t.throws(() => encodeCommand({ op: 'clear', limit: MAX_CLEAR_KEYS + 1 }), { code: 'INVALID_ARGUMENT', message: /limit must be an integer from 1 to 1000/ });
  t.throws(() => encodeCommand({ op: 'clear', limit: 0 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => encodeCommand({ op: 'clear', gt: 'a', gte: 'a', limit: 1 }), { message: /gt or gte, not both/ });
  t.throws(() => encodeCommand({ op: 'clear', lt: 'a', lte: 'a', limit: 1 }), { message: /lt or lte, not both/ });
  t.throws(() => encodeCommand({ op: 'clear', gt: 5 as never, limit: 1 }), { message: /command\.gt must be a non-empty string/ });
  t.throws(() => encodeCommand({ op: 'batch', ops: [{ op: 'clear', limit: 1 } as never] }), { message: /must be 'put' or 'del'/ });
});
