// ConclaveLevel beyond abstract-level's suite: consistency options, close and reopen,
// fromNode, clears larger than one entry, and what a group of one costs to open.
import test from 'ava';
import { join } from 'node:path';
import { ConclaveLevel, MAX_CLEAR_KEYS, openNode, type ConclaveNode } from '../src/index.js';
import { quietLogger, startGroup, tempDir, waitFor } from './helpers.js';

test('a location alone: a group of one that leads at once, on an ephemeral loopback port, and reopens with its data', async (t) => {
  const dir = tempDir('level-reopen');
  try {
    const location = join(dir.path, 'db');
    const db = new ConclaveLevel<string, unknown>(location, { valueEncoding: 'json' });
    await db.open();
    const node = db.node!;
    t.true(node.isLeader, 'led before open() resolved: the first write does not wait');
    t.regex(node.address, /^127\.0\.0\.1:\d+$/);
    t.not(node.address, '127.0.0.1:0', 'bound to a real port');
    t.deepEqual(node.status().members.map((m) => m.address), ['127.0.0.1:0'], 'the group records port 0: nobody dials a group of one');
    await db.put('k', { a: 1 });
    await db.batch().put('x', [1]).del('k').write();
    await db.close();
    t.is(db.node, null, 'close() closed the node it opened');
    await db.open();
    t.deepEqual(await db.get('x'), [1], 'reopening the same instance sees the data');
    t.is(await db.get('k'), undefined);
    await db.close();
    const again = new ConclaveLevel<string, unknown>(location, { valueEncoding: 'json' });
    t.deepEqual(await again.get('x'), [1], 'a new instance on the location (deferred open) too');
    await again.close();
  } finally {
    dir.remove();
  }
});

test('createIfMissing and errorIfExists behave as classic-level, naming the location', async (t) => {
  const dir = tempDir('level-exists');
  try {
    const location = join(dir.path, 'db');
    const missing = new ConclaveLevel(location, { createIfMissing: false });
    const err = await t.throwsAsync(missing.open(), { code: 'LEVEL_DATABASE_NOT_OPEN' });
    t.regex((err as Error & { cause: Error }).cause.message, /db does not exist/);
    const db = new ConclaveLevel(location);
    await db.put('a', '1');
    await db.close();
    const exists = new ConclaveLevel(location, { errorIfExists: true });
    const err2 = await t.throwsAsync(exists.open(), { code: 'LEVEL_DATABASE_NOT_OPEN' });
    t.regex((err2 as Error & { cause: Error }).cause.message, /db exists/);
  } finally {
    dir.remove();
  }
});

test('fromNode wraps an open node and leaves it open on close; level keys live under their own prefix', async (t) => {
  const dir = tempDir('level-from-node');
  let node: ConclaveNode | null = null;
  try {
    node = await openNode({ id: 'a', dataDir: join(dir.path, 'a'), listen: '127.0.0.1:0', peers: { a: '127.0.0.1:0' }, logger: quietLogger });
    await waitFor(() => node!.isLeader, 5000, 'the group of one to lead');
    await node.put('plain', 'node value');
    const db = ConclaveLevel.fromNode(node);
    await db.put('plain', 'level value');
    await db.close();
    t.true(node.status().state !== 'detached');
    t.is(await node.get('plain'), 'node value', 'the node is open, and its own key untouched');
    t.deepEqual(await node.get('\u0000plain'), Buffer.from('level value'), 'level data: prefix U+0000, bytes as Latin-1');
    await db.open();
    t.is(await db.get('plain'), 'level value', 'reopened on the same node');
    t.deepEqual(await db.keys().all(), ['plain'], 'iterators see only level keys');
    await db.close();
  } finally {
    await node?.close();
    dir.remove();
  }
});

test('a clear larger than one entry deletes exactly the range and limit asked, forwards and in reverse', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('level-clear');
  try {
    const db = new ConclaveLevel(join(dir.path, 'db'), { conclave: { syncPolicy: 'noSync' } });
    const n = MAX_CLEAR_KEYS * 2 + 500;
    const key = (i: number): string => `k${String(i).padStart(5, '0')}`;
    const ops = Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: key(i), value: String(i) }));
    for (let i = 0; i < n; i += 1000) await db.batch(ops.slice(i, i + 1000));
    const before = db.node!.status().lastIndex;
    // The last 1500 keys below k02400, newest first: two entries (1000 + 500).
    await db.clear({ lt: key(2400), reverse: true, limit: 1500 });
    t.is(db.node!.status().lastIndex - before, 2, 'one entry per MAX_CLEAR_KEYS keys');
    const left = await db.keys().all();
    t.is(left.length, n - 1500);
    t.deepEqual(left.slice(898, 902), [key(898), key(899), key(2400), key(2401)]);
    await db.clear({ gte: key(0) });
    t.deepEqual(await db.keys().all(), []);
    await db.close();
  } finally {
    dir.remove();
  }
});

test('bad consistency options are refused, naming the option; nothing is read', async (t) => {
  const dir = tempDir('level-bad');
  try {
    t.throws(() => new ConclaveLevel(join(dir.path, 'x'), { consistency: 'strong' as never }), { code: 'INVALID_ARGUMENT', message: /consistency must be/ });
    const db = new ConclaveLevel(join(dir.path, 'db'));
    await db.put('a', '1');
    await t.throwsAsync(db.get('a', { consistency: { maxLagMs: -1 } }), { code: 'INVALID_ARGUMENT', message: /maxLagMs/ });
    t.throws(() => db.iterator({ consistency: 'bogus' as never }), { code: 'INVALID_ARGUMENT' });
    await t.throwsAsync(db.put('b', '1', { durability: { replicaSync: true } } as never), { code: 'INVALID_ARGUMENT', message: /replicaSync/ });
    t.is(await db.get('b'), undefined);
    await db.close();
  } finally {
    dir.remove();
  }
});

test("on a follower cut off from its group: linearizable reads and iterators fail in time, 'none' reads the member's own state", async (t) => {
  t.timeout(60_000);
  const group = await startGroup(3, { enableFaultInjection: true });
  try {
    const leader = await group.waitForLeader();
    const follower = [...group.nodes.values()].find((n) => n !== leader)!;
    const db = ConclaveLevel.fromNode(follower, { readTimeoutMs: 1500 });
    await db.put('k', 'v1');
    t.is(await db.get('k'), 'v1', 'read-your-writes through the leader');
    for (const n of group.nodes.values()) n.faults.partition([[follower.id], [...group.nodes.keys()].filter((id) => id !== follower.id)]);
    await t.throwsAsync(db.get('k'), { message: /read|leader/ }, 'no read index without the leader');
    await t.throwsAsync(db.iterator().all());
    t.is(await db.get('k', { consistency: 'none' }), 'v1');
    t.deepEqual(await db.iterator({ consistency: 'none' }).all(), [['k', 'v1']]);
    const local = ConclaveLevelNone(follower);
    t.deepEqual(await local.values().all(), ['v1'], "a database whose default consistency is 'none'");
    await local.close();
    await db.close();
  } finally {
    await group.close();
  }
});

/** fromNode with consistency 'none' as the database's default. */
function ConclaveLevelNone(node: ConclaveNode): ConclaveLevel {
  return ConclaveLevel.fromNode(node, { consistency: 'none' });
}
