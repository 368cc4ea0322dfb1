// In-process delivery, batching, wire fidelity, reconnection, membership changes, close().
import test from 'ava';
import { emptyMessage, type Message, type SnapshotMeta } from '@conclave/core';
import { InvalidArgumentError } from '@conclave/core';
import { ListenError, Transport } from '../src/index.js';
import { backoffDelayMs } from '../src/backoff.js';
import { appMessage, closeAll, collect, heartbeat, SECRET, sleep, startCluster, waitConnected, waitFor } from './helpers.js';

test('three transports deliver to each other, in order per sender', async (t) => {
  const ts = await startCluster(['a', 'b', 'c'], { secret: SECRET });
  try {
    await waitConnected(ts);
    const inbox = new Map([...ts].map(([id, tr]) => [id, collect(tr)]));
    for (const [from, tr] of ts) {
      for (const to of ts.keys()) {
        if (to === from) continue;
        for (let i = 0; i < 200; i++) t.true(tr.send(appMessage(from, to, i)));
      }
    }
    await waitFor(() => [...inbox.values()].every((got) => got.length === 400), 'every node to get 400 messages');
    for (const [id, got] of inbox) {
      for (const from of ts.keys()) {
        if (from === id) continue;
        t.deepEqual(got.filter((m) => m.from === from).map((m) => m.index), [...Array(200).keys()], `${from} -> ${id} in order`);
      }
    }
  } finally {
    await closeAll(ts.values());
  }
});

test('messages sent in one turn leave in one frame', async (t) => {
  const ts = await startCluster(['a', 'b']);
  try {
    await waitConnected(ts);
    const a = ts.get('a')!;
    const got = collect(ts.get('b')!);
    const before = a.stats().framesSent;
    for (let i = 0; i < 50; i++) a.send(heartbeat('a', 'b', i));
    await waitFor(() => got.length === 50, '50 heartbeats');
    t.is(a.stats().framesSent - before, 1);
    t.is(a.stats().messagesSent, 50);
  } finally {
    await closeAll(ts.values());
  }
});

test('every field survives the wire: entries with raw bytes, conf changes, snapshot metadata', async (t) => {
  const ts = await startCluster(['a', 'b']);
  try {
    await waitConnected(ts);
    const got = collect(ts.get('b')!);
    const snapshot: SnapshotMeta = {
      index: 10,
      term: 3,
      group: { groupId: 'g1', members: [{ id: 'a', address: '127.0.0.1:1', type: 'electable', removed: false, priority: 2 }] },
    };
    const plain = new Uint8Array([0, 1, 2, 255]);
    const msgs: Message[] = [
      {
        ...emptyMessage('app', 'a', 'b', 7),
        logTerm: 6,
        index: 41,
        commit: 40,
        entries: [
          { index: 42, term: 7, type: 'normal', data: plain },
          { index: 43, term: 7, type: 'noop', data: new Uint8Array(0) },
          { index: 44, term: 7, type: 'conf', data: new Uint8Array(0), change: { op: 'addSecondary', id: 'c', address: '127.0.0.1:3', priority: 0 } },
          { index: 45, term: 7, type: 'conf', data: new Uint8Array(0), change: { op: 'remove', id: 'c' } },
        ],
      },
      { ...emptyMessage('appResp', 'a', 'b', 7), reject: true, rejectHint: 12, logTerm: 5, index: 13 },
      { ...emptyMessage('heartbeat', 'a', 'b', 7), context: 'read-ctx-1', commit: Number.MAX_SAFE_INTEGER },
      { ...emptyMessage('snap', 'a', 'b', 7), snapshot },
      { ...emptyMessage('vote', 'a', 'b', 8), context: 'transfer' },
    ];
    for (const m of msgs) a(ts).send(m);
    await waitFor(() => got.length === msgs.length, 'all messages');
    for (let i = 0; i < msgs.length; i++) {
      const sent = msgs[i]!;
      const recv = got[i]!;
      t.deepEqual(
        { ...recv, entries: recv.entries.map((e) => ({ ...e, data: [...e.data] })) },
        { ...sent, entries: sent.entries.map((e) => ({ ...e, data: [...e.data] })) },
      );
      for (const e of recv.entries) t.true(e.data instanceof Uint8Array);
    }
  } finally {
    await closeAll(ts.values());
  }
});

function a(ts: Map<string, Transport>): Transport {
  return ts.get('a')!;
}

test('send() refuses malformed messages and counts what it drops', async (t) => {
  const ts = await startCluster(['a', 'b']);
  try {
    await waitConnected(ts);
    const tr = a(ts);
    t.throws(() => tr.send({ ...heartbeat('a', 'b', 1), term: -1 }), { instanceOf: InvalidArgumentError });
    t.throws(() => tr.send(heartbeat('b', 'a', 1)), { instanceOf: InvalidArgumentError, message: /from/ });
    t.throws(() => tr.send({ ...heartbeat('a', 'b', 1), type: 'gossip' as never }), { instanceOf: InvalidArgumentError });
    t.false(tr.send(heartbeat('a', 'nobody', 1)));
    t.false(tr.send(heartbeat('a', 'a', 1)));
    t.is(tr.stats().droppedUnknownPeer, 2);
  } finally {
    await closeAll(ts.values());
  }
});

test('a peer that restarts on the same port is reconnected to, with events', async (t) => {
  const ts = await startCluster(['a', 'b'], { secret: SECRET, reconnectBaseMs: 20, reconnectMaxMs: 200 });
  let b2: Transport | null = null;
  try {
    await waitConnected(ts);
    const tA = a(ts);
    const events: string[] = [];
    tA.on('peerConnected', (p) => events.push(`connected:${p}`));
    tA.on('peerDisconnected', (p) => events.push(`disconnected:${p}`));
    tA.on('unreachable', (p, why) => events.push(`unreachable:${p}:${why}`));
    const bAddress = ts.get('b')!.listenAddress;
    await ts.get('b')!.close();
    await waitFor(() => !tA.stats().peers.b!.connected, 'a to notice b is gone');
    await waitFor(() => events.length >= 2, 'events');
    t.deepEqual(events.slice(0, 2), ['disconnected:b', 'unreachable:b:disconnected']);
    t.false(tA.send(heartbeat('a', 'b', 1)) && tA.stats().peers.b!.connected);

    b2 = new Transport({ id: 'b', groupId: 'g1', listen: bAddress, peers: { a: tA.listenAddress }, secret: SECRET });
    const got = collect(b2);
    await b2.start();
    await waitFor(() => tA.stats().peers.b!.connected, 'a to reconnect', 5000);
    t.true(events.includes('connected:b'));
    t.true(tA.stats().reconnects >= 1);
    tA.send(heartbeat('a', 'b', 99));
    await waitFor(() => got.length === 1, 'delivery after reconnect');
    t.is(got[0]!.commit, 99);
  } finally {
    await closeAll([...ts.values(), ...(b2 ? [b2] : [])]);
  }
});

test('reconnect delays: doubling from the base, capped, with equal jitter', (t) => {
  const lowest = () => 0;
  const highest = () => 0.999999;
  const ceilings = [10, 20, 40, 80, 80, 80];
  ceilings.forEach((ceiling, i) => {
    t.is(backoffDelayMs(i + 1, 10, 80, lowest), ceiling / 2, `attempt ${i + 1}: at least half the ceiling`);
    t.true(backoffDelayMs(i + 1, 10, 80, highest) <= ceiling, `attempt ${i + 1}: at most the ceiling`);
  });
  t.is(backoffDelayMs(1000, 10, 80, lowest), 40, 'no overflow after many failures');
});

test('reconnect attempts back off: a peer nobody listens for is not hammered, and is retried', async (t) => {
  // Nothing listens at the peer address: attempts fail at once, so their count shows the backoff.
  // Only bounds that load cannot break: a busy machine makes fewer attempts, never more.
  const tr = new Transport({ id: 'a', groupId: 'g', listen: '127.0.0.1:0', peers: { b: '127.0.0.1:9' }, reconnectBaseMs: 10, reconnectMaxMs: 80 });
  await tr.start();
  try {
    const started = performance.now();
    await waitFor(() => tr.stats().connectFailures >= 3, 'a few attempts', 30_000);
    const failures = tr.stats().connectFailures;
    const elapsedMs = performance.now() - started;
    // At least 5 ms between attempts (half the base): without backoff it would be hundreds a second.
    t.true(failures <= 1 + elapsedMs / 5, `${failures} attempts in ${elapsedMs.toFixed(0)} ms`);
  } finally {
    await tr.close();
  }
});

test('setPeers adds, removes and re-addresses links', async (t) => {
  const ts = await startCluster(['a', 'b', 'c']);
  try {
    await waitConnected(ts);
    const tA = a(ts);
    const peers = { a: tA.listenAddress, b: ts.get('b')!.listenAddress };
    tA.setPeers(peers);
    ts.get('b')!.setPeers(peers);
    t.deepEqual(Object.keys(tA.stats().peers), ['b']);
    t.false(tA.send(heartbeat('a', 'c', 1)));
    // c still dials a, but a no longer knows it: refused as unknown.
    await waitFor(() => ts.get('c')!.stats().rejectedByPeer.unknownNode >= 1, 'c to be refused by a');
    const got = collect(ts.get('b')!);
    tA.send(heartbeat('a', 'b', 5));
    await waitFor(() => got.length === 1, 'a -> b still works');
  } finally {
    await closeAll(ts.values());
  }
});

test('a handler that throws is counted and does not stop delivery', async (t) => {
  const ts = await startCluster(['a', 'b']);
  try {
    await waitConnected(ts);
    const b = ts.get('b')!;
    let n = 0;
    const errors: unknown[] = [];
    b.on('handlerError', (e) => errors.push(e));
    b.onMessage(() => {
      n++;
      if (n === 1) throw new Error('driver bug');
    });
    a(ts).send(heartbeat('a', 'b', 1));
    a(ts).send(heartbeat('a', 'b', 2));
    await waitFor(() => n === 2, 'both delivered');
    await waitFor(() => errors.length === 1, 'handlerError event');
    t.is(b.stats().handlerErrors, 1);
  } finally {
    await closeAll(ts.values());
  }
});

test.serial('close() leaves no sockets or timers behind, and later calls are harmless', async (t) => {
  const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  const ts = await startCluster(['a', 'b', 'c'], { secret: SECRET });
  await waitConnected(ts);
  a(ts).faults.setLink('*', { delayMs: 5000 });
  a(ts).send(heartbeat('a', 'b', 1)); // a pending fault delay timer
  await closeAll(ts.values());
  await closeAll(ts.values());
  t.false(a(ts).send(heartbeat('a', 'b', 1)));
  await sleep(20);
  const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  const count = (list: string[], kind: string): number => list.filter((r) => r === kind).length;
  for (const kind of ['TCPServerWrap', 'TCPSocketWrap', 'TCPWrap', 'Timeout']) {
    t.true(count(after, kind) <= count(baseline, kind), `${kind}: ${count(baseline, kind)} before, ${count(after, kind)} after (${after.join(',')})`);
  }
});

test('a port in use fails start() with ListenError; close() during start() shuts the listener', async (t) => {
  const first = new Transport({ id: 'a', groupId: 'g1', listen: '127.0.0.1:0', peers: {} });
  await first.start();
  try {
    const second = new Transport({ id: 'b', groupId: 'g1', listen: first.listenAddress, peers: {} });
    const e = await t.throwsAsync(second.start(), { instanceOf: ListenError });
    t.is(e!.code, 'LISTEN_FAILED');
    t.regex(e!.message, /EADDRINUSE/);
    await second.close();
    const third = new Transport({ id: 'c', groupId: 'g1', listen: '127.0.0.1:0', peers: {} });
    const starting = third.start();
    await third.close();
    await starting;
    t.false(third.send(heartbeat('c', 'a', 1)));
  } finally {
    await first.close();
  }
});
