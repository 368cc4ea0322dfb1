// An apply batch reads the stored records of the keys it writes in one go, before it runs
// (kv-prefetch.ts): a key written several times in one batch must still see, at each write,
// the record the write before it left (revisions, compares, the watch history's previous
// values), whether the earlier write is in the same entry, an earlier entry of the batch, or
// an earlier batch still in the write-behind buffer.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { decodeValue, encodeCommand, NodeStorage, type ApplyResult, type KvCommand, type NodeStorageOptions } from '@conclave/storage';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001' });
const LONG_MS = 60_000;

/** Writes the entries of `batches` to the log at once, then applies each batch in turn: the last batch's results. */
async function run(s: NodeStorage, batches: KvCommand[][]): Promise<ApplyResult[]> {
  const term = 1;
  let index = s.lastIndex;
  const entries: Entry[][] = batches.map((items) => items.map((item) => ({ index: ++index, term, type: 'normal', data: encodeCommand(item) })));
  await s.writeReady({ hardState: { term, vote: 'n1', commit: index }, entries: entries.flat() });
  let results: ApplyResult[] = [];
  for (const batch of entries) results = await s.applyEntries(batch);
  return results;
}

/** Each change of `r` as [type, key, value, previous value] with the values decoded. */
function changesOf(r: ApplyResult): unknown[] {
  const dec = (b: Uint8Array | null): unknown => (b === null ? null : decodeValue(b));
  return (r.changes ?? []).map((c) => [c.type, c.key, dec(c.value), dec(c.prevValue)]);
}

const policies: [string, Partial<NodeStorageOptions>][] = [
  ['sync', { syncPolicy: 'sync' }],
  ['noSync (the earlier batch still buffered)', { syncPolicy: 'noSync', noSyncFlushIntervalMs: LONG_MS, noSyncFlushBytes: 1 << 30 }],
  ['deferApplyWrites (the earlier batch still buffered)', { syncPolicy: 'sync', deferApplyWrites: true, noSyncFlushIntervalMs: LONG_MS }],
];

for (const [name, options] of policies) {
  test(`${name}: a key written several times in one apply batch sees each earlier write`, async (t) => {
    const s = await NodeStorage.open({ path: 'batch-reads', backend: 'memory', ...options });
    await s.initializeGroup(GROUP);
    const r = await run(s, [
      [{ op: 'put', key: 'k', value: 'v1' }], // index 1, an earlier batch
      [
        { op: 'put', key: 'k', value: 'v2' }, // 2
        { op: 'batch', ops: [{ op: 'put', key: 'k', value: 'v3' }, { op: 'put', key: 'k', value: 'v4' }, { op: 'put', key: 'n', value: 'n1' }, { op: 'put', key: 'n', value: 'n2' }] }, // 3
        { op: 'cas', key: 'k', expected: 'v4', value: 'v5' }, // 4
        {
          op: 'txn', // 5
          if: [
            { key: 'k', target: 'version', op: '==', value: 5 },
            { key: 'k', target: 'modRevision', op: '==', value: 4 },
            { key: 'n', target: 'createRevision', op: '==', value: 3 },
          ],
          then: [{ op: 'put', key: 'k', value: 'v6' }, { op: 'get', key: 'k' }],
          else: [],
        },
        { op: 'del', key: 'k' }, // 6
        { op: 'put', key: 'k', value: 'v7' }, // 7
        { op: 'leaseGrant', ttlMs: LONG_MS }, // 8: lease id 8
        { op: 'put', key: 'l', value: 'l1', lease: 8 }, // 9
        { op: 'put', key: 'l', value: 'l2', lease: 8 }, // 10
        { op: 'leaseRevoke', id: 8 }, // 11
      ],
    ]);
    t.true(r.every((x) => x.error === null), JSON.stringify(r.map((x) => x.error?.message)));
    t.deepEqual(changesOf(r[0]!), [['put', 'k', 'v2', 'v1']]);
    t.deepEqual(changesOf(r[1]!), [
      ['put', 'k', 'v3', 'v2'],
      ['put', 'k', 'v4', 'v3'],
      ['put', 'n', 'n1', null],
      ['put', 'n', 'n2', 'n1'],
    ]);
    t.like(r[2]!.outcome, { op: 'cas', succeeded: true, current: 'v4' });
    t.deepEqual(changesOf(r[2]!), [['put', 'k', 'v5', 'v4']]);
    t.like(r[3]!.outcome, { op: 'txn', succeeded: true });
    t.deepEqual((r[3]!.outcome as unknown as { results: unknown[] }).results, [
      { op: 'put' },
      { op: 'get', found: true, kv: { key: 'k', value: 'v6', createRevision: 1, modRevision: 5, version: 6 } },
    ]);
    t.deepEqual(changesOf(r[4]!), [['delete', 'k', null, 'v6']]);
    t.deepEqual(changesOf(r[5]!), [['put', 'k', 'v7', null]]);
    t.deepEqual(changesOf(r[8]!), [['put', 'l', 'l2', 'l1']]);
    t.like(r[9]!.outcome, { op: 'leaseRevoke', found: true, deleted: 1 });
    t.deepEqual(changesOf(r[9]!), [['delete', 'l', null, 'l2']]);
    t.deepEqual(await s.getWithMeta('k'), { value: 'v7', createRevision: 7, modRevision: 7, version: 1 });
    t.deepEqual(await s.getWithMeta('n'), { value: 'n2', createRevision: 3, modRevision: 3, version: 2 });
    t.is(await s.getWithMeta('l'), undefined);
    // The watch history holds the same previous values.
    const h = await s.readHistory(2, 1 << 20);
    t.deepEqual(
      h.records.filter((x) => x.revision === 2 || x.revision === 6).map((x) => [x.revision, x.changes.map((c) => decodeValue(c.prevValue!))]),
      [
          [2, ['v1']],
          [6, ['v6']],
      ],
    );
    await s.close();
  });
}
