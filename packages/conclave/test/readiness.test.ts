// Readiness (issue 22, item 1): node.ready() resolves once this member knows a leader and has
// applied up to the leader's commit index; openNode({ waitReady: true }) does the same before
// it resolves; node.leader says who leads, synchronously. A member that cannot get ready is
// told what is missing.
import test from 'ava';
import { AbortedError, NotReadyError, openNode } from '../src/index.js';
import { freePorts, quietLogger, startGroup, tempDir } from './helpers.js';

test('ready() on a follower resolves once it knows the leader and has applied what the leader had committed', async (t) => {
  const g = await startGroup(3);
  t.teardown(() => g.close());
  const leader = await g.waitForLeader(30_000);
  const follower = [...g.nodes.values()].find((n) => n !== leader)!;
  // Committed on the leader (and a majority) when ready() is called; maybe not applied on the follower yet.
  for (let i = 0; i < 20; i++) await leader.put(`k${i}`, i, { durability: { replicaAck: 'simpleMajority' } });
  await follower.ready({ timeoutMs: 20_000 });
  t.is(await follower.get('k19', { consistency: 'none' }), 19, 'caught up: a local read sees what the leader had committed');
  t.deepEqual(follower.leader, { id: leader.id, address: g.peers[leader.id] });
  t.deepEqual(leader.leader, { id: leader.id, address: g.peers[leader.id] });
});

test('openNode({ waitReady: true }) resolves only once the member is ready: every member knows the leader', async (t) => {
  const g = await startGroup(3, { waitReady: true });
  t.teardown(() => g.close());
  const leaders = [...g.nodes.values()].map((n) => n.leader);
  t.true(leaders.every((l) => l !== null), 'every member knows a leader as soon as openNode resolved');
  // The leader they name is one and the same member (a later election could change it: allow one).
  const ids = new Set(leaders.map((l) => l!.id));
  t.true(ids.size >= 1 && ids.size <= 2);
});

test('ready() without a quorum rejects with NotReadyError naming the missing leader and the quorum; an abort rejects with ABORTED', async (t) => {
  const ports = await freePorts(3);
  const peers = { n1: `127.0.0.1:${ports[0]}`, n2: `127.0.0.1:${ports[1]}`, n3: `127.0.0.1:${ports[2]}` };
  const dir = tempDir('ready');
  // Only n1 runs: no leader can be elected.
  const n1 = await openNode({ id: 'n1', dataDir: dir.path, listen: peers.n1, peers, tickMs: 50, logger: quietLogger });
  t.teardown(async () => {
    await n1.close();
    dir.remove();
  });
  t.is(n1.leader, null);
  const err = await t.throwsAsync(n1.ready({ timeoutMs: 1500 }), { instanceOf: NotReadyError });
  t.is(err!.code, 'NOT_READY');
  t.is(err!.missing, 'leader');
  t.regex(err!.message, /no leader known within 1500 ms/);
  t.regex(err!.message, /an election needs the votes of 2 of 3/);

  const ac = new AbortController();
  const aborted = t.throwsAsync(n1.ready({ timeoutMs: 60_000, signal: ac.signal }), { instanceOf: AbortedError });
  ac.abort();
  const e2 = await aborted;
  t.is(e2!.code, 'ABORTED');
});

test('openNode refuses a waitReady that is not a boolean; without waitReady it resolves before any leader is known', async (t) => {
  const ports = await freePorts(3);
  const peers = { n1: `127.0.0.1:${ports[0]}`, n2: `127.0.0.1:${ports[1]}`, n3: `127.0.0.1:${ports[2]}` };
  const dir = tempDir('ready-open');
  t.teardown(() => dir.remove());
  const opts = { id: 'n1', dataDir: dir.path, listen: peers.n1, peers, tickMs: 20, logger: quietLogger };
  // A bad waitReady is refused by name.
  await t.throwsAsync(openNode({ ...opts, waitReady: 'yes' as never }), { code: 'INVALID_ARGUMENT', message: /waitReady must be a boolean/ });
  const n1 = await openNode(opts); // not waiting: resolves without a leader
  t.is(n1.leader, null);
  await n1.close();
});
