import test from 'ava';
import { join } from 'node:path';
import {
  GroupMismatchError,
  InsufficientAcksError,
  InsufficientReplicasError,
  InvalidArgumentError,
  NotLeaderError,
  openNode,
  ReplicaConsistencyError,
  type ConclaveNode,
} from '../src/index.js';
import { freePorts, quietLogger, startGroup, tempDir, waitFor, type LocalGroup } from './helpers.js';

function followersOf(g: LocalGroup, leader: ConclaveNode): ConclaveNode[] {
  return [...g.nodes.values()].filter((n) => n !== leader);
}

/** Cuts `node` off from every other member (both directions, at its own transport). */
function isolate(g: LocalGroup, node: ConclaveNode): void {
  node.faults.partition([[node.id], Object.keys(g.peers).filter((id) => id !== node.id)]);
}

test('consistency: a partitioned follower serves stale data only under none', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const [f] = followersOf(g, leader);
    await leader.put('k', 'v1');
    await waitFor(async () => (await f!.get('k', { consistency: 'none' })) === 'v1', 2000, 'v1 on the follower');
    isolate(g, f!);
    const { token } = await leader.put('k', 'v2');
    t.is(await f!.get('k', { consistency: 'none' }), 'v1', 'none: a stale read is possible');
    await t.throwsAsync(f!.get('k', { consistency: 'linearizable', timeoutMs: 400 }), { instanceOf: ReplicaConsistencyError });
    await t.throwsAsync(f!.get('k', { consistency: { atLeast: token }, timeoutMs: 300 }), { instanceOf: ReplicaConsistencyError, message: /did not apply index/ });
    await new Promise((r) => setTimeout(r, 300));
    await t.throwsAsync(f!.get('k', { consistency: { maxLagMs: 100 }, timeoutMs: 200 }), { instanceOf: ReplicaConsistencyError, message: /more than 100 ms behind/ });
    f!.faults.heal();
    t.is(await f!.get('k', { consistency: 'linearizable' }), 'v2');
    t.is(await f!.get('k', { consistency: { atLeast: token } }), 'v2');
    t.is(await f!.get('k', { consistency: { maxLagMs: 1000 } }), 'v2');
    t.is(await leader.get('k', { consistency: 'lease' }), 'v2');
    t.is(await leader.get('k'), 'v2');
    await t.throwsAsync(leader.get('k', { consistency: 'eventual' as never }), { instanceOf: InvalidArgumentError, message: /consistency must be/ });
    await t.throwsAsync(leader.get('k', { consistency: { atLeast: { ...token, groupId: 'other' } } }), { instanceOf: InvalidArgumentError, message: /commit token of group 'other'/ });
  } finally {
    await g.close();
  }
});

test('InsufficientReplicasError: nothing is written when too few electable replicas are connected', async (t) => {
  const g = await startGroup(3, { insufficientReplicasTimeoutMs: 200 });
  try {
    const leader = await g.waitForLeader();
    const [f1] = followersOf(g, leader);
    await leader.put('before', 1);
    await f1!.close();
    // 'all' needs every electable member: with one down it is refused before anything is written.
    await waitFor(() => leader.status().peers.some((p) => p.id === f1!.id && !p.active), 3000, 'the leader to see f1 gone');
    const lastIndex = leader.status().lastIndex;
    const err = await t.throwsAsync(leader.put('x', 1, { durability: { replicaAck: 'all' } }), { instanceOf: InsufficientReplicasError });
    t.is(err!.code, 'INSUFFICIENT_REPLICAS');
    t.is(err!.required, 3);
    t.is(err!.active, 2);
    t.is(leader.status().lastIndex, lastIndex, 'nothing was proposed');
    // The default policy (simple majority) still works with 2 of 3.
    await leader.put('y', 2);
    t.is(await leader.get('y'), 2);
    t.is(await leader.get('x'), undefined);
  } finally {
    await g.close();
  }
});

test('InsufficientAcksError: the write is committed locally, but the acks it asked for did not come', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const [f1] = followersOf(g, leader);
    await leader.put('warm', 1);
    // The leader's messages reach f1 400 ms late: f1 keeps answering, so it still counts as
    // connected (the write is attempted), but no ack can come within 150 ms, however loaded
    // the machine. (Cutting f1 off instead races the write against f1's election timeout.)
    leader.faults.setLink(f1!.id, { delayMs: 400 });
    const err = await t.throwsAsync(leader.put('k', 'v', { durability: { replicaAck: 'all', ackTimeoutMs: 150 } }), { instanceOf: InsufficientAcksError });
    t.is(err!.code, 'INSUFFICIENT_ACKS');
    t.regex(err!.message, /durable on the leader, but not acknowledged under 'all' within 150 ms/);
    t.is(await leader.get('k'), 'v', 'written and committed under the simple majority');
  } finally {
    await g.close();
  }
});

test('ack policy none resolves at the leader\'s durable write; all once every electable member has it', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const a = await leader.put('a', 1, { durability: { replicaAck: 'none' } });
    const b = await leader.put('b', 2, { durability: { replicaAck: 'all' } });
    t.true(b.token.index > a.token.index);
    // 'all' resolved: every electable follower has it durably (its match index, as the leader saw it).
    const peers = leader.status().peers;
    t.is(peers.length, 2);
    for (const p of peers) t.true(p.matchIndex >= b.token.index, `${p.id} match ${p.matchIndex} >= ${b.token.index}`);
    await t.throwsAsync(leader.put('c', 3, { durability: { replicaAck: 'most' as never } }), { instanceOf: InvalidArgumentError, message: /replicaAck must be one of/ });
    await t.throwsAsync(leader.put('c', 3, { durability: { ackTimeoutMs: -1 } }), { instanceOf: InvalidArgumentError, message: /ackTimeoutMs/ });
  } finally {
    await g.close();
  }
});

test('writes on followers are forwarded; with forwarding off they throw NotLeaderError with a hint', async (t) => {
  const g = await startGroup(3, { forwardWrites: false });
  try {
    const leader = await g.waitForLeader();
    const [f] = followersOf(g, leader);
    // The hint is the leader this follower knows: wait until it has heard from it.
    await waitFor(() => f!.status().leader?.id === leader.id, 3000, 'the follower to know the leader');
    const err = await t.throwsAsync(f!.put('k', 'v'), { instanceOf: NotLeaderError });
    t.is(err!.leaderHint, `${leader.id}@${g.peers[leader.id]}`);
  } finally {
    await g.close();
  }
  const g2 = await startGroup(3);
  try {
    const leader = await g2.waitForLeader();
    for (const f of followersOf(g2, leader)) await f.put(`from-${f.id}`, f.id);
    for (const f of followersOf(g2, leader)) t.is(await leader.get(`from-${f.id}`), f.id);
  } finally {
    await g2.close();
  }
});

test('delete, batch, compareAndSet and scan', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const [f] = followersOf(g, leader);
    await f!.batch([
      { op: 'put', key: 'user:1', value: { name: 'ada' } },
      { op: 'put', key: 'user:2', value: Buffer.from([1, 2, 3]) },
      { op: 'put', key: 'user:3', value: 3 },
      { op: 'put', key: 'zzz', value: 'z' },
    ]);
    await f!.delete('user:3');
    const pairs: [string, unknown][] = [];
    for await (const p of f!.scan({ gte: 'user:', lt: 'user;' })) pairs.push(p);
    t.deepEqual(pairs.map(([k]) => k), ['user:1', 'user:2']);
    t.deepEqual(pairs[0]![1], { name: 'ada' });
    t.deepEqual(Buffer.from(pairs[1]![1] as Uint8Array), Buffer.from([1, 2, 3]));
    const miss = await f!.compareAndSet('user:1', { name: 'bob' }, { name: 'cy' });
    t.false(miss.succeeded);
    t.deepEqual(miss.current, { name: 'ada' });
    const hit = await leader.compareAndSet('user:1', { name: 'ada' }, { name: 'cy' });
    t.true(hit.succeeded);
    t.deepEqual(await f!.get('user:1'), { name: 'cy' });
    const create = await f!.compareAndSet('new', undefined, 'fresh');
    t.true(create.succeeded);
    t.false((await f!.compareAndSet('new', undefined, 'again')).succeeded);
    await t.throwsAsync(leader.put(42 as never, 'v'), { instanceOf: InvalidArgumentError });
  } finally {
    await g.close();
  }
});

test('a new member joins as a secondary, catches up, and is promoted to electable', async (t) => {
  const g = await startGroup(3);
  const [port] = await freePorts(1);
  const dir = tempDir('join');
  const events: string[] = [];
  try {
    const leader = await g.waitForLeader();
    leader.on('memberAdded', (m) => events.push(`${m.id}:${m.type}`));
    for (let i = 0; i < 20; i++) await leader.put(`k${i}`, i);
    const n4 = await openNode({ id: 'n4', dataDir: dir.path, listen: `127.0.0.1:${port}`, join: g.peers.n2!, tickMs: 20, logger: quietLogger });
    g.nodes.set('n4', n4);
    await waitFor(async () => (await n4.get('k19', { consistency: 'none' })) === 19, 5000, 'n4 to catch up');
    t.is(n4.status().members.find((m) => m.id === 'n4')!.type, 'secondary');
    t.is(leader.status().electableGroupSize, 3);
    const group = await n4.changeMembership({ op: 'promote', id: 'n4' });
    t.is(group.members.find((m) => m.id === 'n4')!.type, 'electable');
    await waitFor(() => leader.status().electableGroupSize === 4, 3000, 'E = 4 on the leader');
    t.deepEqual(events, ['n4:secondary', 'n4:electable']);
    t.is(await n4.get('k7'), 7);
  } finally {
    await g.close();
    dir.remove();
  }
});

test('events: stateChange, leaderChange and overrideChanged', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const [f] = followersOf(g, leader);
    const seen: string[] = [];
    f!.on('overrideChanged', (c) => seen.push(`override ${c.previous}->${c.current}`));
    leader.on('stateChange', (s, p) => seen.push(`${p}->${s}`));
    f!.on('leaderChange', (id) => seen.push(`leader ${id}`));
    t.deepEqual(await f!.setElectableGroupSizeOverride(2), { previous: 0, current: 2, electableGroupSize: 3 });
    t.is(f!.status().electableGroupSizeOverride, 2);
    await t.throwsAsync(f!.setElectableGroupSizeOverride(-1), { instanceOf: InvalidArgumentError, message: /got -1/ });
    await t.throwsAsync(f!.setElectableGroupSizeOverride(4), { instanceOf: InvalidArgumentError, message: /larger than the electable group size 3/ });
    await f!.setElectableGroupSizeOverride(0);
    await leader.transferLeadership(f!.id);
    await waitFor(() => f!.isLeader, 3000, 'the transfer');
    await waitFor(() => seen.includes(`leader ${f!.id}`), 2000, 'the leaderChange event');
    t.true(seen.includes('override 0->2') && seen.includes('override 2->0'));
    t.true(seen.includes('leader->follower'));
  } finally {
    await g.close();
  }
});

test('the override survives a restart of the node (a local setting), and is not replicated', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const [f] = followersOf(g, leader);
    await f!.setElectableGroupSizeOverride(2);
    await f!.close();
    const reopened = await openNode({ ...g.options(f!.id) });
    g.nodes.set(f!.id, reopened);
    t.is(reopened.status().electableGroupSizeOverride, 2);
    t.is(leader.status().electableGroupSizeOverride, 0);
  } finally {
    await g.close();
  }
});

test('bad configuration gives a clear error naming what is wrong', async (t) => {
  const dir = tempDir('badcfg');
  try {
    const base = { id: 'n1', dataDir: join(dir.path, 'n1'), listen: '127.0.0.1:7101', logger: quietLogger };
    const peers = { n1: '127.0.0.1:7101', n2: '127.0.0.1:7102' };
    const cases: [string, object, RegExp][] = [
      ['own id missing from peers', { ...base, peers: { n2: '127.0.0.1:7102', n3: '127.0.0.1:7103' } }, /this node's id 'n1' is missing from peers \(n2, n3\)/],
      ['two ids on one address', { ...base, peers: { n1: '127.0.0.1:7101', n2: '127.0.0.1:7101' } }, /peers n1 and n2 have the same address 127.0.0.1:7101/],
      ['malformed peer address', { ...base, peers: { ...peers, n3: 'localhost' } }, /address of n3 'localhost' is not HOST:PORT/],
      ['malformed listen', { ...base, listen: '127.0.0.1:99999', peers }, /listen '127.0.0.1:99999' is not HOST:PORT/],
      ['listen differs from peers', { ...base, listen: '127.0.0.1:7109', peers }, /peers gives n1 the address 127.0.0.1:7101, but listen is 127.0.0.1:7109/],
      ['negative override', { ...base, peers, electableGroupSizeOverride: -1 }, /electableGroupSizeOverride must be an integer >= 0, got -1/],
      ['bad id', { ...base, id: 'n 1', peers }, /id 'n 1' must be 1-64 characters/],
      ['peers and join', { ...base, peers, join: '127.0.0.1:7102' }, /either peers .* or join/],
      ['empty dir, no peers', { ...base }, /is empty: give peers to bootstrap a new group, or join/],
      ['bad sync policy', { ...base, peers, syncPolicy: 'often' }, /syncPolicy must be one of sync, writeNoSync, noSync/],
      ['bad durability', { ...base, peers, durability: { replicaAck: 'most' } }, /replicaAck must be one of/],
    ];
    for (const [name, opts, re] of cases) {
      const err = await t.throwsAsync(openNode(opts as never), { instanceOf: InvalidArgumentError }, name);
      t.regex(err?.message ?? '', re, name);
    }
  } finally {
    dir.remove();
  }
});

test('a data directory of another group is refused with GroupMismatchError', async (t) => {
  const g = await startGroup(1);
  const opts = g.options('n1');
  const node = g.nodes.get('n1')!;
  await g.waitForLeader();
  await node.put('k', 'v');
  await node.close();
  try {
    const err = await t.throwsAsync(openNode({ ...opts, groupId: 'other' }), { instanceOf: GroupMismatchError });
    t.regex(err!.message, new RegExp(`${opts.dataDir.replace(/[/\\]/g, '.')}.*conclave.*other|other.*conclave`));
    const again = await openNode(opts);
    g.nodes.set('n1', again);
    await waitFor(() => again.isLeader, 3000, 'n1 to lead again');
    t.is(await again.get('k'), 'v', 'nothing was lost');
  } finally {
    await g.close();
  }
});
