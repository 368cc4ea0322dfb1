// Revisions and transactions through the embedding API: on the leader and forwarded from a
// follower, compareAndSet as sugar over a transaction, and get/scan with their revisions.
import test from 'ava';
import { InvalidArgumentError, type ConclaveNode } from '../src/index.js';
import { startGroup, waitFor } from './helpers.js';

test('writes carry their revision; a txn is one entry, atomic, answered with its branch and results, on any member', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader) as ConclaveNode;
    const w1 = await leader.put('acct/a', 100);
    t.is(w1.revision, w1.token.index);
    const w2 = await follower.put('acct/b', 5);
    t.true(w2.revision > w1.revision, 'revisions increase');
    t.deepEqual(await follower.get('acct/a', { withMeta: true }), { value: 100, createRevision: w1.revision, modRevision: w1.revision, version: 1 });

    // A transfer: both balances move in one entry, only if a still holds 100.
    const r = await follower.txn({
      if: [{ key: 'acct/a', target: 'value', op: '==', value: 100 }, { key: 'acct/b', target: 'modRevision', op: '==', value: w2.revision }],
      then: [{ op: 'put', key: 'acct/a', value: 60 }, { op: 'put', key: 'acct/b', value: 45 }, { op: 'range', prefix: 'acct/' }],
      else: [{ op: 'get', key: 'acct/a' }],
    });
    t.true(r.succeeded);
    t.is(r.revision, r.token.index);
    t.like(r.results[2], { op: 'range', more: false, kvs: [{ key: 'acct/a', value: 60, version: 2, modRevision: r.revision }, { key: 'acct/b', value: 45, modRevision: r.revision }] });
    const again = await leader.txn({ if: [{ key: 'acct/a', target: 'value', op: '==', value: 100 }], then: [{ op: 'delete', key: 'acct/a' }], else: [{ op: 'get', key: 'acct/a' }] });
    t.false(again.succeeded);
    t.like(again.results[0], { op: 'get', found: true, kv: { value: 60 } });

    const metas: unknown[] = [];
    for await (const kv of follower.scan({ gte: 'acct/', lt: 'acct0' }, { withMeta: true, consistency: { atLeast: again.token } })) metas.push(kv);
    t.like(metas, [['acct/a', { value: 60, version: 2 }], ['acct/b', { value: 45, version: 2, createRevision: w2.revision }]]);

    // compareAndSet keeps its answers, now as a transaction.
    const cas = await follower.compareAndSet('acct/a', 60, 61);
    t.like(cas, { succeeded: true, current: 60 });
    t.true(cas.revision > again.revision);
    t.like(await leader.compareAndSet('acct/a', 60, 62), { succeeded: false, current: 61 });
    t.like(await leader.compareAndSet('fresh', undefined, 'x'), { succeeded: true, current: undefined });
    t.like(await leader.compareAndSet('fresh', 'x', undefined), { succeeded: true, current: 'x' });
    t.is(await leader.get('fresh'), undefined);
    await t.throwsAsync(leader.compareAndSet('k', undefined, () => 1), { instanceOf: InvalidArgumentError, message: /^next must be a msgpack value/ });
    await t.throwsAsync(leader.txn({ if: [{ key: 'a', target: 'value', op: '~', value: 1 }] } as never), { instanceOf: InvalidArgumentError, message: /if\[0\]\.op must be one of/ });
    await waitFor(async () => (await follower.get('acct/a', { consistency: 'none' })) === 61, 10_000, 'the cas applied on the follower');
  } finally {
    await g.close();
  }
});
