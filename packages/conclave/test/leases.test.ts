// Leases, locks and elections with an in-process group of three (issue #17). Nothing here
// asserts on timing: expiry is waited for with a deadline that only bounds a failure.
import test from 'ava';
import { openNode, type ConclaveNode } from '../src/index.js';
import { codeOf, startGroup, waitFor, within, type LocalGroup } from './helpers.js';

// tickMs 50 (helpers): a 500 ms election timeout, so the shortest lease is 750 ms.
const TTL_MS = 1500;

async function queued(n: ConclaveNode): Promise<number> {
  let count = 0;
  for await (const _ of n.scan({ gte: 'jobs/reindex/', lt: 'jobs/reindex0' })) count++;
  return count;
}

function follower(g: LocalGroup, leader: ConclaveNode): ConclaveNode {
  return [...g.nodes.values()].find((n) => n !== leader)!;
}

test.serial('leases: grant, put with a lease, keepAlive (forwarded from a follower), revoke deletes the keys in one entry; errors name the input', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const f = follower(g, leader);
    const lease = await f.grantLease({ ttlMs: 60_000 });
    t.is(lease.id, lease.grantedRevision);
    t.is(lease.ttlMs, 60_000);
    await f.put('svc/a', 1, { lease: lease.id });
    await leader.put('svc/b', 2, { lease: lease.id });
    await leader.put('plain', 3);
    const onLeader = leader.leases().find((l) => l.id === lease.id)!;
    t.deepEqual(onLeader.keys, ['svc/a', 'svc/b']);
    t.true(onLeader.remainingMs !== null && onLeader.remainingMs <= 60_000 + 500, "at most the TTL, plus one election timeout when granted as this leader took over");
    await f.ready();
    t.is(f.leases().find((l) => l.id === lease.id)!.remainingMs, null, 'only the leader knows the remaining time');
    t.deepEqual(await lease.keepAlive(), { id: lease.id, ttlMs: 60_000 }, 'a follower forwards the keep-alive');
    t.deepEqual(await leader.keepAliveLease(lease.id), { id: lease.id, ttlMs: 60_000 });

    const w = leader.watch({ prefix: 'svc/' });
    const it = w[Symbol.asyncIterator]();
    await lease.revoke();
    const batch = (await within(it.next(), 10_000, "the revocation batch")).value as { events: readonly { type: string; key: string; revision: number }[] };
    t.deepEqual(batch.events.map((e) => `${e.type} ${e.key}`), ['delete svc/a', 'delete svc/b']);
    t.is(new Set(batch.events.map((e) => e.revision)).size, 1, 'both deletes at the revocation revision');
    w.close();
    t.is(await leader.get('svc/a'), undefined);
    t.is(await leader.get('plain'), 3);

    t.is(await codeOf(leader.revokeLease(lease.id)), 'LEASE_NOT_FOUND');
    t.is(await codeOf(f.keepAliveLease(lease.id)), 'LEASE_NOT_FOUND', 'forwarded, and revived as LEASE_NOT_FOUND');
    t.is(await codeOf(f.put('x', 1, { lease: 999_999 })), 'LEASE_NOT_FOUND');
    t.is(await leader.get('x'), undefined, 'a put naming an unknown lease did not happen');
    const bad = await t.throwsAsync(leader.grantLease({ ttlMs: 10 }));
    t.is((bad as { code?: string }).code, 'INVALID_ARGUMENT');
    t.regex(bad!.message, /ttlMs must be an integer from 750/);
    t.is(await codeOf(leader.keepAliveLease(-1)), 'INVALID_ARGUMENT');
    t.is(await codeOf(leader.put('y', 1, { lease: 1.5 })), 'INVALID_ARGUMENT');
  } finally {
    await g.close();
  }
});

test.serial('leases: one not kept alive expires at the leader; its keys go; autoKeepAlive keeps another alive past its TTL', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const f = follower(g, leader);
    const kept = await f.grantLease({ ttlMs: TTL_MS, autoKeepAlive: true });
    const dropped = await f.grantLease({ ttlMs: TTL_MS });
    await f.put('kept', 1, { lease: kept.id });
    await f.put('dropped', 1, { lease: dropped.id });
    const lost: Error[] = [];
    kept.on('lost', (e) => lost.push(e));
    await waitFor(async () => (await leader.get('dropped')) === undefined, 30_000, 'the unrenewed lease to expire');
    t.is(await codeOf(dropped.keepAlive()), 'LEASE_NOT_FOUND');
    t.true(dropped.signal.aborted, 'keepAlive on an expired lease marks it lost');
    // The renewed one outlived its TTL several times over (renewals every TTL / 3).
    t.is(await leader.get('kept'), 1);
    t.deepEqual(lost, []);
    await kept.revoke();
    t.is(await leader.get('kept'), undefined);
  } finally {
    await g.close();
  }
});

test.serial('locks: waiters queue; fencing tokens increase across holders; a holder whose lease ends loses the lock and the next waiter gets it', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const [a, b, c] = [...g.nodes.values()];
    const first = await a!.lock('jobs/reindex', { ttlMs: TTL_MS, timeoutMs: 30_000 });
    t.true(first.isHeld);
    // Queued one after the other, so that the queue's order is known.
    const second$ = b!.lock('jobs/reindex', { ttlMs: TTL_MS, timeoutMs: 30_000 });
    await waitFor(async () => (await queued(leader)) === 2, 20_000, 'the second contender queued');
    const third$ = c!.lock('jobs/reindex', { ttlMs: 60_000, timeoutMs: 30_000 });
    await waitFor(async () => (await queued(leader)) === 3, 20_000, 'the third contender queued');
    t.is(await codeOf(leader.lock('jobs/reindex', { ttlMs: TTL_MS, timeoutMs: 300 })), 'LOCK_TIMEOUT', 'a short wait times out');
    await first.release();
    const second = await within(second$, 30_000, 'the second holder');
    t.true(second.fencingToken > first.fencingToken);
    // The holder "dies": its keep-alives stop; its lease expires at the leader.
    const lostSeen = new Promise((resolve) => second.on('lost', resolve));
    second.lease.close();
    const third = await within(third$, 30_000, 'the third holder, after the second lease expired');
    t.true(third.fencingToken > second.fencingToken, 'fencing tokens strictly increase');
    await within(lostSeen, 30_000, 'the lost event of the expired holder');
    t.true(second.signal.aborted);
    t.is((second.signal.reason as { code?: string }).code, 'LOCK_LOST');
    await third.release();
    t.is(await codeOf(a!.lock('', {})), 'INVALID_ARGUMENT');
  } finally {
    await g.close();
  }
});

test.serial('elections: campaign resolves when leader; observe follows the leaders; resign hands over', async (t) => {
  const g = await startGroup(3);
  try {
    await g.waitForLeader();
    const [a, b] = [...g.nodes.values()];
    const ea = a!.election('scheduler');
    const eb = b!.election('scheduler');
    const leading = await ea.campaign('a', { ttlMs: 60_000 });
    t.true(ea.isLeader);
    const seen: unknown[] = [];
    const ac = new AbortController();
    const observing = (async () => {
      for await (const l of b!.election('scheduler').observe({ signal: ac.signal })) {
        seen.push(l.value);
        if (seen.length === 2) break;
      }
    })();
    const bLeads$ = eb.campaign('b', { ttlMs: 60_000 });
    await waitFor(() => seen.length >= 1, 20_000, 'the first leader observed');
    await ea.resign();
    const bLeads = await within(bLeads$, 20_000, "b's campaign");
    t.true(bLeads.fencingToken > leading.fencingToken);
    await within(observing, 20_000, 'the second leader observed');
    t.deepEqual(seen, ['a', 'b']);
    t.like(await eb.leader(), { value: 'b' });
    await eb.resign();
    t.is(await eb.leader(), null);
  } finally {
    await g.close();
  }
});

test.serial('leases: a follower behind the compacted log gets them in a snapshot; once leader it still knows them with their keys, and an expiry deletes the keys on every member', async (t) => {
  // A snapshot every 20 entries keeping 2 behind it: the follower, closed while the leases
  // are granted and attached, comes back behind the compacted log and must install one.
  const g = await startGroup(3, { snapshotIntervalEntries: 20, entriesKeptAfterSnapshot: 2 });
  try {
    const leader = await g.waitForLeader();
    const fid = [...g.nodes].find(([, n]) => n !== leader)![0];
    await g.nodes.get(fid)!.close();
    const expiring = await leader.grantLease({ ttlMs: TTL_MS, autoKeepAlive: true });
    const kept = await leader.grantLease({ ttlMs: 60_000 });
    await leader.put('svc/a', 'a', { lease: expiring.id });
    await leader.put('svc/b', 'b', { lease: expiring.id });
    await leader.put('svc/kept', 'k', { lease: kept.id });
    await leader.put('plain', 'p');
    for (let i = 0; i < 60; i++) await leader.put(`filler/${i}`, i);
    const grantIndex = expiring.grantedRevision;

    const f = await openNode(g.options(fid));
    g.nodes.set(fid, f); // closed with the group
    await waitFor(() => f.status().appliedIndex >= leader.status().commitIndex, 30_000, 'the follower to catch up');
    const st = f.status();
    const installed = st.history.find((h) => h.event === 'SNAPSHOT_INSTALLED');
    t.truthy(installed, 'the follower caught up through a snapshot');
    const snapshotIndex = Number(/index (\d+)/.exec(installed!.detail)?.[1]);
    t.true(snapshotIndex > grantIndex, `the snapshot (index ${snapshotIndex}) covers the grants (index ${grantIndex}): the follower has the leases from the snapshot alone`);
    const table = (n: ConclaveNode) => n.leases().map((l) => ({ id: l.id, ttlMs: l.ttlMs, keys: l.keys }));
    t.deepEqual(table(f), [
      { id: expiring.id, ttlMs: TTL_MS, keys: ['svc/a', 'svc/b'] },
      { id: kept.id, ttlMs: 60_000, keys: ['svc/kept'] },
    ]);
    t.deepEqual(table(f), table(leader));

    // The installed follower leads: it takes the leases over from the snapshot's table.
    await leader.transferLeadership(fid, 20_000);
    await waitFor(() => f.isLeader, 20_000, `${fid} to lead`);
    await waitFor(() => f.leases().every((l) => l.remainingMs !== null), 5000, 'the new leader to set deadlines');
    t.deepEqual(await f.keepAliveLease(kept.id), { id: kept.id, ttlMs: 60_000 }, 'the new leader renews a lease it knows only from the snapshot');

    // The holder of `expiring` stops renewing: the new leader expires it, and the
    // revocation deletes its keys on every member; the other lease and its key stay.
    expiring.close();
    for (const [id, n] of g.nodes) {
      await waitFor(async () => (await n.get('svc/a', { consistency: 'none' })) === undefined && (await n.get('svc/b', { consistency: 'none' })) === undefined, 30_000, `the expired lease's keys to go on ${id}`);
    }
    for (const [id, n] of g.nodes) {
      await waitFor(() => n.status().appliedIndex >= f.status().commitIndex, 10_000, `${id} to apply the revocation`);
      t.deepEqual(table(n), [{ id: kept.id, ttlMs: 60_000, keys: ['svc/kept'] }], `${id}: only the kept lease is left`);
      t.is(await n.get('svc/kept', { consistency: 'none' }), 'k', id);
      t.is(await n.get('plain', { consistency: 'none' }), 'p', id);
    }
  } finally {
    await g.close();
  }
});
