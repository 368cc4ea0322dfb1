// Durability.localSync (JE's localSync over the node's syncPolicy): a localSync write is
// fdatasync'ed on the leader before it resolves, even under 'noSync'; replicaSync, which a
// write cannot impose on the replicas, is refused rather than accepted and ignored.
import test from 'ava';
import { startGroup } from './helpers.js';

interface Spied {
  synced: number;
}

/** Counts the leader storage's LevelDB batches written with sync: true. */
function spySyncedBatches(node: unknown): Spied {
  const db = (node as { ctx: { storage: { s: { db: { batch: (ops: unknown[], o?: { sync?: boolean }) => Promise<void> } } } } }).ctx.storage.s.db;
  const original = db.batch.bind(db);
  const spied: Spied = { synced: 0 };
  db.batch = (ops, o) => {
    if (o?.sync === true) spied.synced++;
    return original(ops, o);
  };
  return spied;
}

test('under noSync, a write with localSync: true is fdatasync-ed before it resolves; a default write is not', async (t) => {
  const group = await startGroup(1, { syncPolicy: 'noSync' });
  try {
    const leader = await group.waitForLeader();
    await leader.put('warm', 1);
    const spied = spySyncedBatches(leader);
    await leader.put('plain', 1);
    await leader.put('plain2', 2, { durability: { localSync: false } });
    t.is(spied.synced, 0, 'noSync writes without localSync are not synced');
    await leader.put('synced', 3, { durability: { localSync: true } });
    t.true(spied.synced >= 1, 'a localSync write was followed by a synced batch before it resolved');
    const before = spied.synced;
    await leader.batch([{ op: 'put', key: 'b', value: 1 }], { durability: { localSync: true } });
    await leader.delete('plain', { durability: { localSync: true } });
    await leader.compareAndSet('b', 1, 2, { durability: { localSync: true } });
    t.true(spied.synced >= before + 3, 'batch, delete and compareAndSet honour it too');
  } finally {
    await group.close();
  }
});

test('replicaSync is refused naming it, and nothing is written', async (t) => {
  const group = await startGroup(1);
  try {
    const leader = await group.waitForLeader();
    const err = await t.throwsAsync(leader.put('k', 1, { durability: { replicaSync: true } as never }));
    t.is((err as { code?: string }).code, 'INVALID_ARGUMENT');
    t.regex(err!.message, /replicaSync is not supported.*syncPolicy.*nothing was written/);
    t.is(await leader.get('k'), undefined);
  } finally {
    await group.close();
  }
});
