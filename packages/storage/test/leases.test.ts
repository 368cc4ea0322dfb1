// Leases in the replicated state (issue #17): grant and revoke as entries, keys attached by
// puts, deleted with their lease in the revocation's entry; kept over a restart and carried
// by a snapshot; never visible to scans.
import test from 'ava';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, MemoryBackend, NodeStorage, type KvCommand, type NodeStorageOptions } from '@conclave/storage';

const GROUP = initialGroup('g', { n1: '127.0.0.1:7001' });

async function openMem(extra: Partial<NodeStorageOptions> = {}): Promise<NodeStorage> {
  const s = await NodeStorage.open({ path: 'lease', backend: 'memory', ...extra });
  if (s.group === null) await s.initializeGroup(GROUP);
  return s;
}

async function run(s: NodeStorage, items: KvCommand[]) {
  const start = s.lastIndex + 1;
  const term = Math.max(1, s.hardState.term);
  const entries: Entry[] = items.map((item, k) => ({ index: start + k, term, type: 'normal', data: encodeCommand(item) }));
  await s.writeReady({ hardState: { term, vote: 'n1', commit: start + entries.length - 1 }, entries });
  return s.applyEntries(entries);
}

async function keys(s: NodeStorage): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of s.scan()) out.push(k);
  return out;
}

test('a grant is an entry whose revision is the lease id; puts attach keys; a revoke deletes them in its entry', async (t) => {
  const s = await openMem();
  const [g] = await run(s, [{ op: 'leaseGrant', ttlMs: 5000 }]);
  t.deepEqual(g!.outcome, { op: 'leaseGrant', id: 1, ttlMs: 5000 });
  await run(s, [
    { op: 'put', key: 'a', value: 1, lease: 1 },
    { op: 'batch', ops: [{ op: 'put', key: 'b', value: 2, lease: 1 }, { op: 'put', key: 'c', value: 3 }] },
    { op: 'txn', then: [{ op: 'put', key: 'd', value: 4, lease: 1 }] },
    { op: 'put', key: 'e', value: 5, lease: 1 },
    { op: 'put', key: 'e', value: 6 },
  ]);
  t.deepEqual(s.leases(), [{ id: 1, ttlMs: 5000, keys: ['a', 'b', 'd'] }], 'a put without the lease detaches its key');
  t.deepEqual(await keys(s), ['a', 'b', 'c', 'd', 'e'], 'scans never see lease records');
  const [r] = await run(s, [{ op: 'leaseRevoke', id: 1 }]);
  t.deepEqual(r!.outcome, { op: 'leaseRevoke', id: 1, found: true, deleted: 3 });
  t.deepEqual(r!.changes!.map((c) => `${c.type} ${c.key}`), ['delete a', 'delete b', 'delete d'], 'the deletes are the revocation entry\'s changes');
  t.deepEqual(await keys(s), ['c', 'e']);
  t.deepEqual(s.leases(), []);
  const [again] = await run(s, [{ op: 'leaseRevoke', id: 1 }]);
  t.like(again!.outcome, { op: 'leaseRevoke', found: false, deleted: 0 });
  await s.close();
});

test('a put naming an unknown lease is refused at apply with LEASE_NOT_FOUND; nothing is written', async (t) => {
  const s = await openMem();
  const [r, r2] = await run(s, [{ op: 'put', key: 'a', value: 1, lease: 42 }, { op: 'txn', then: [{ op: 'put', key: 'b', value: 1 }, { op: 'put', key: 'c', value: 1, lease: 7 }] }]);
  t.is(r!.error?.code, 'LEASE_NOT_FOUND');
  t.is(r2!.error?.code, 'LEASE_NOT_FOUND');
  t.deepEqual(await keys(s), []);
  t.throws(() => encodeCommand({ op: 'leaseGrant', ttlMs: 0 }), { code: 'INVALID_ARGUMENT', message: /ttlMs/ });
  t.throws(() => encodeCommand({ op: 'put', key: 'a', value: 1, lease: -1 }), { code: 'INVALID_ARGUMENT', message: /lease/ });
  t.throws(() => encodeCommand({ op: 'leaseRevoke', id: 1.5 }), { code: 'INVALID_ARGUMENT', message: /id/ });
  await s.close();
});

test('leases and their keys are kept over a restart', async (t) => {
  const backend = new MemoryBackend();
  let s = await openMem({ backend });
  await run(s, [{ op: 'leaseGrant', ttlMs: 3000 }, { op: 'leaseGrant', ttlMs: 4000 }, { op: 'put', key: 'x', value: 1, lease: 2 }, { op: 'put', key: 'y', value: 1, lease: 1 }]);
  await s.close();
  s = await openMem({ backend });
  t.deepEqual(s.leases(), [
    { id: 1, ttlMs: 3000, keys: ['y'] },
    { id: 2, ttlMs: 4000, keys: ['x'] },
  ]);
  await run(s, [{ op: 'leaseRevoke', id: 2 }]);
  t.deepEqual(await keys(s), ['y']);
  await s.close();
});

test('a snapshot carries the leases; the receiver revokes them like the sender', async (t) => {
  const s = await openMem({ snapshotChunkMaxBytes: 4096 });
  await run(s, [{ op: 'leaseGrant', ttlMs: 3000 }, ...Array.from({ length: 50 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: 'v'.repeat(100), lease: i % 2 === 0 ? 1 : 0 }))]);
  const receiver = await NodeStorage.open({ path: 'r', backend: 'memory', groupId: 'g' });
  const stream = await s.openSnapshot();
  await receiver.beginInstall(stream.meta);
  for await (const chunk of stream) await receiver.installChunk(chunk);
  await receiver.finishInstall();
  t.deepEqual(receiver.leases(), s.leases());
  t.is(receiver.leases()[0]!.keys.length, 25);
  t.deepEqual(await keys(receiver), await keys(s));
  await receiver.close();
  await s.close();
});

test("a snapshot installed through writeReady (as a follower's driver does) replaces the lease table in memory", async (t) => {
  const s = await openMem({ snapshotChunkMaxBytes: 4096 });
  await run(s, [{ op: 'leaseGrant', ttlMs: 3000 }, ...Array.from({ length: 20 }, (_, i) => ({ op: 'put' as const, key: `k${i}`, value: i, lease: i % 2 === 0 ? 1 : 0 }))]);
  // The receiver holds a lease of its own that the snapshot's state does not have.
  const receiver = await openMem();
  await run(receiver, [{ op: 'put', key: 'x', value: 1 }, { op: 'leaseGrant', ttlMs: 9000 }]);
  t.deepEqual(receiver.leases(), [{ id: 2, ttlMs: 9000, keys: [] }]);
  const stream = await s.openSnapshot();
  await receiver.beginInstall(stream.meta);
  for await (const chunk of stream) await receiver.installChunk(chunk);
  await receiver.writeReady({ snapshot: stream.meta, hardState: { term: 1, vote: 'n1', commit: stream.meta.index } });
  t.deepEqual(receiver.leases(), s.leases(), "the table is the snapshot's, at once (not only after a restart)");
  t.deepEqual(receiver.leaseTtls(), [{ id: 1, ttlMs: 3000 }]);
  t.is(receiver.lease(2), null);
  t.deepEqual(await keys(receiver), await keys(s));
  await receiver.close();
  await s.close();
});
