// The snapshot trigger and the log kept behind a snapshot are bounded in bytes as well as
// in entries, so that large values cannot make the log (and the Raft core's copy) huge.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { DEFAULT_BYTES_KEPT_AFTER_SNAPSHOT, DEFAULT_SNAPSHOT_INTERVAL_BYTES, encodeCommand, NodeStorage } from '@conclave/storage';

const KiB = 1024;

async function fill(s: NodeStorage, count: number, valueBytes: number): Promise<void> {
  const start = s.lastIndex + 1;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({ index: start + i, term: 1, type: 'normal', data: encodeCommand({ op: 'put', key: `k${start + i}`, value: Buffer.alloc(valueBytes, 1) }) });
  }
  await s.writeReady({ hardState: { term: 1, vote: 'n1', commit: start + count - 1 }, entries });
  await s.applyEntries(entries);
}

test('the byte bounds default to 64 MiB and are validated', async (t) => {
  t.is(DEFAULT_SNAPSHOT_INTERVAL_BYTES, 64 * KiB * KiB);
  t.is(DEFAULT_BYTES_KEPT_AFTER_SNAPSHOT, 64 * KiB * KiB);
  await t.throwsAsync(NodeStorage.open({ path: 'x', backend: 'memory', snapshotIntervalBytes: 0 }), { message: /snapshotIntervalBytes must be/ });
  await t.throwsAsync(NodeStorage.open({ path: 'x', backend: 'memory', bytesKeptAfterSnapshot: -1 }), { message: /bytesKeptAfterSnapshot must be/ });
});

test('a snapshot is due after snapshotIntervalBytes of applied log, and at most bytesKeptAfterSnapshot of log stays behind it', async (t) => {
  const s = await NodeStorage.open({ path: 'bytes', backend: 'memory', snapshotIntervalBytes: 100 * KiB, bytesKeptAfterSnapshot: 50 * KiB });
  await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001' }));
  await fill(s, 9, 10 * KiB); // about 90 KiB: under the interval
  t.is(await s.maybeSnapshot(), null);
  await fill(s, 2, 10 * KiB); // past 100 KiB
  const snap = await s.maybeSnapshot();
  t.is(snap?.index, 11);
  // 50 KiB kept: the 4 newest entries of about 10 KiB each (a fifth would pass 50 KiB).
  t.is(s.compacted.index, 7);
  t.is(s.firstIndex, 8);
  t.is(await s.maybeSnapshot(), null, 'the byte count starts again after a snapshot');
  await s.close();
});
