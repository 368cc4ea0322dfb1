// Revisions (createRevision, modRevision, version with etcd's meaning), transactions applied
// atomically, and the watch history: retained by revisions and bytes, kept over a restart,
// restarted after a snapshot install.
import test from 'ava';
import { initialGroup, InvalidArgumentError, type Entry } from '@conclave/core';
import { encodeCommand, MemoryBackend, NodeStorage, prefixEnd, type KvCommand, type NodeStorageOptions } from '@conclave/storage';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001' });

async function openMem(extra: Partial<NodeStorageOptions> = {}): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path: 'rev', backend: 'memory', ...extra });
  if (s.group === null) await s.initializeGroup(GROUP);
  return s;
}

async function run(s: NodeStorage, items: (KvCommand | 'noop')[]) {
  const start = s.lastIndex + 1;
  const term = Math.max(1, s.hardState.term);
  const entries: Entry[] = items.map((item, k) =>
    item === 'noop' ? { index: start + k, term, type: 'noop', data: new Uint8Array(0) } : { index: start + k, term, type: 'normal', data: encodeCommand(item) },
  );
  await s.writeReady({ hardState: { term, vote: 'n1', commit: start + entries.length - 1 }, entries });
  return s.applyEntries(entries);
}

test('each key carries createRevision, modRevision and version; a delete resets them', async (t) => {
  const s = await openMem();
  await run(s, [{ op: 'put', key: 'a', value: 1 }, 'noop', { op: 'put', key: 'a', value: 2 }, { op: 'put', key: 'b', value: 'x' }]);
  t.deepEqual(await s.getWithMeta('a'), { value: 2, createRevision: 1, modRevision: 3, version: 2 });
  t.deepEqual(await s.getWithMeta('b'), { value: 'x', createRevision: 4, modRevision: 4, version: 1 });
  await run(s, [{ op: 'del', key: 'a' }, { op: 'put', key: 'a', value: 3 }]);
  t.deepEqual(await s.getWithMeta('a'), { value: 3, createRevision: 6, modRevision: 6, version: 1 });
  t.is(await s.get('a'), 3);
  const metas: unknown[] = [];
  for await (const kv of s.scan({ withMeta: true })) metas.push(kv);
  t.deepEqual(metas, [
    ['a', { value: 3, createRevision: 6, modRevision: 6, version: 1 }],
    ['b', { value: 'x', createRevision: 4, modRevision: 4, version: 1 }],
  ]);
  await s.close();
});

test('a txn compares, then runs one branch; reads see the branch earlier writes', async (t) => {
  const s = await openMem();
  await run(s, [{ op: 'put', key: 'x/1', value: 1 }, { op: 'put', key: 'x/2', value: 2 }, { op: 'put', key: 'y', value: 'old' }]);
  const [r] = await run(s, [
    {
      op: 'txn',
      if: [
        { key: 'y', target: 'value', op: '==', value: 'old' },
        { key: 'y', target: 'version', op: '==', value: 1 },
        { key: 'x/1', target: 'modRevision', op: '<', value: 3 },
        { key: 'nope', target: 'exists', op: '==', value: false },
      ],
      then: [{ op: 'put', key: 'y', value: 'new' }, { op: 'get', key: 'y' }, { op: 'deleteRange', prefix: 'x/' }, { op: 'range', prefix: 'x/' }],
      else: [{ op: 'get', key: 'y' }],
    },
  ]);
  t.like(r!.outcome, { op: 'txn', succeeded: true });
  const results = (r!.outcome as unknown as { results: unknown[] }).results;
  t.deepEqual(results, [
    { op: 'put' },
    { op: 'get', found: true, kv: { key: 'y', value: 'new', createRevision: 3, modRevision: 4, version: 2 } },
    { op: 'deleteRange', deleted: 2 },
    { op: 'range', kvs: [], more: false },
  ]);
  t.deepEqual(
    r!.changes!.map((c) => [c.type, c.key]),
    [
      ['put', 'y'],
      ['delete', 'x/1'],
      ['delete', 'x/2'],
    ],
  );
  const [f] = await run(s, [{ op: 'txn', if: [{ key: 'missing', target: 'value', op: '!=', value: 1 }], then: [{ op: 'put', key: 'z', value: 1 }], else: [{ op: 'range', gte: 'a', limit: 1 }] }]);
  // A value compare on an absent key is false whatever the operator (etcd).
  t.like(f!.outcome, { op: 'txn', succeeded: false });
  t.like((f!.outcome as unknown as { results: unknown[] }).results[0], { op: 'range', more: false, kvs: [{ key: 'y', value: 'new' }] });
  t.is(await s.get('z'), undefined);
  await s.close();
});

test('a txn that would delete too many keys fails whole at apply: nothing written', async (t) => {
  const s = await openMem();
  const ops = Array.from({ length: 10_001 }, (_, i) => ({ op: 'put' as const, key: `k/${String(i).padStart(5, '0')}`, value: i }));
  await run(s, [{ op: 'batch', ops: ops.slice(0, 5000) }, { op: 'batch', ops: ops.slice(5000) }]);
  const [r] = await run(s, [{ op: 'txn', then: [{ op: 'put', key: 'other', value: 1 }, { op: 'deleteRange', prefix: 'k/' }] }]);
  t.true(r!.error instanceof InvalidArgumentError);
  t.is(await s.get('other'), undefined);
  t.is(await s.get('k/00000'), 0);
  await s.close();
});

test('txn arguments are checked, naming what is wrong', (t) => {
  const bad: [unknown, string][] = [
    [{ op: 'txn', if: [{ key: 'a', target: 'size', op: '==', value: 1 }] }, 'command.if[0].target must be one of'],
    [{ op: 'txn', if: [{ key: 'a', target: 'version', op: '==', value: -1 }] }, 'command.if[0].value must be an integer >= 0'],
    [{ op: 'txn', if: [{ key: 'a', target: 'exists', op: '<', value: true }] }, "command.if[0].op must be == or != for target 'exists'"],
    [{ op: 'txn', then: [{ op: 'put', key: 'a', value: 1 }, { op: 'delete', key: 'a' }] }, 'command.then[1] writes key "a" already written by command.then[0]'],
    [{ op: 'txn', else: [{ op: 'deleteRange', prefix: 'a' }, { op: 'put', key: 'ab', value: 1 }] }, 'inside the deleteRange of command.else[0]'],
    [{ op: 'txn', then: [{ op: 'range', prefix: 'a', limit: 0 }] }, 'command.then[0].limit must be an integer from 1 to 1000'],
    [{ op: 'txn', then: [{ op: 'scan' }] }, 'command.then[0].op must be one of put, delete, deleteRange, get, range'],
    [{ op: 'txn', when: [] }, "unknown field 'when'"],
  ];
  for (const [cmd, message] of bad) {
    const err = t.throws(() => encodeCommand(cmd as KvCommand), { instanceOf: InvalidArgumentError });
    t.true(err!.message.includes(message), err!.message);
  }
  t.is(prefixEnd('a/'), 'a0');
  t.is(prefixEnd('\u{10ffff}'), null);
});

test('history: every change by revision, retained by revisions and bytes, kept over a restart', async (t) => {
  const backend = new MemoryBackend();
  let s = await openMem({ backend, watchHistoryRevisions: 5 });
  t.is(s.historyStart, 1);
  await run(s, [{ op: 'put', key: 'a', value: 1 }, 'noop', { op: 'put', key: 'a', value: 2 }, { op: 'del', key: 'nobody' }, { op: 'del', key: 'a' }]);
  let h = await s.readHistory(1, 1 << 20);
  t.is(h.upTo, 5);
  t.deepEqual(
    h.records.map((r) => [r.revision, r.changes.map((c) => `${c.type} ${c.key} ${c.prevValue ? 'prev' : ''}`)]),
    [
      [1, ['put a ']],
      [3, ['put a prev']],
      [5, ['delete a prev']],
    ],
  );
  await run(s, [{ op: 'put', key: 'b', value: 1 }, { op: 'put', key: 'b', value: 2 }, { op: 'put', key: 'b', value: 3 }]);
  // Revisions 1 and 3 are out of the window of 5 (applied 8): start moves past the last one dropped.
  t.is(s.historyStart, 4);
  t.like(await s.readHistory(2, 1 << 20), { compacted: true, start: 4 });
  await s.close();
  s = await openMem({ backend, watchHistoryRevisions: 5 });
  t.is(s.historyStart, 4);
  h = await s.readHistory(4, 1);
  t.is(h.records.length, 1, 'a page holds at least one record');
  t.is(h.upTo, 5);
  t.deepEqual(h.records[0]!.revision, 5);
  await s.close();

  const small = await openMem({ watchHistorySizeBytes: 64 });
  await run(small, Array.from({ length: 10 }, (_, i) => ({ op: 'put' as const, key: 'k', value: 'v'.repeat(20 + i) })));
  t.true(small.historySize.sizeBytes <= 64 || small.historySize.records === 1, JSON.stringify(small.historySize));
  t.true(small.historyStart > 1);
  await small.close();
});
