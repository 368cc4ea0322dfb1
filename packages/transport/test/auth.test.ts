// Handshake authentication: every refusal has its close code and its counter, and a refused
// handshake never delivers anything.
import test from 'ava';
import { InvalidArgumentError } from '@conclave/core';
import { CloseCode, PROTOCOL_VERSION, Transport } from '../src/index.js';
import { encodeControl } from '../src/codec.js';
import { newNonce } from '../src/handshake.js';
import { closeAll, collect, heartbeat, RawClient, rawHandshake, SECRET, startCluster, waitFor } from './helpers.js';

/** One server node 's' that knows peer 'p' (whose address does not matter: it never dials us successfully). */
async function server(secret: string | null = SECRET): Promise<Transport> {
  const s = new Transport({ id: 's', groupId: 'g1', listen: '127.0.0.1:0', peers: { p: '127.0.0.1:9' }, ...(secret ? { secret } : {}), reconnectBaseMs: 1000 });
  await s.start();
  return s;
}

test('a correct handshake by hand is welcomed and its messages are delivered', async (t) => {
  const s = await server();
  const got = collect(s);
  try {
    const c = await RawClient.open(s.listenAddress);
    const r = await rawHandshake(c, { from: 'p', to: 's', group: 'g1', secret: SECRET });
    t.true(r.welcome);
    await waitFor(() => s.stats().peers.p!.inboundConnected, 'inbound registered');
    c.terminate();
    t.is(got.length, 0);
  } finally {
    await s.close();
  }
});

const refusals: { name: string; params: Parameters<typeof rawHandshake>[1]; code: number; counter: string; reason: RegExp }[] = [
  { name: 'wrong group', params: { from: 'p', to: 's', group: 'other', secret: SECRET }, code: CloseCode.WrongGroup, counter: 'wrongGroup', reason: /wrong group 'other'/ },
  { name: 'unknown node id', params: { from: 'stranger', to: 's', group: 'g1', secret: SECRET }, code: CloseCode.UnknownNode, counter: 'unknownNode', reason: /unknown node id 'stranger'/ },
  { name: 'dialled the wrong node', params: { from: 'p', to: 'x', group: 'g1', secret: SECRET }, code: CloseCode.UnknownNode, counter: 'unknownNode', reason: /dialled 'x'/ },
  { name: 'bad HMAC', params: { from: 'p', to: 's', group: 'g1', secret: 'not-the-cluster-secret-at-all!!' }, code: CloseCode.AuthFailed, counter: 'badHmac', reason: /bad HMAC/ },
  { name: 'missing HMAC', params: { from: 'p', to: 's', group: 'g1', secret: null }, code: CloseCode.AuthFailed, counter: 'badHmac', reason: /bad HMAC/ },
  { name: 'wrong protocol version', params: { from: 'p', to: 's', group: 'g1', secret: SECRET, version: PROTOCOL_VERSION + 1 }, code: CloseCode.VersionMismatch, counter: 'versionMismatch', reason: /protocol version 2 not supported/ },
];

for (const r of refusals) {
  test(`handshake refused: ${r.name} -> close ${r.code}, counter ${r.counter}`, async (t) => {
    const s = await server();
    try {
      const c = await RawClient.open(s.listenAddress);
      const res = await rawHandshake(c, r.params);
      t.false(res.welcome);
      const closed = await c.waitClosed();
      t.is(closed.code, r.code);
      t.regex(closed.reason, r.reason);
      const st = s.stats();
      t.is((st.handshakeRejects as unknown as Record<string, number>)[r.counter], 1);
      t.false(st.peers.p!.inboundConnected);
    } finally {
      await s.close();
    }
  });
}

test('a replayed handshake is refused: same hello -> 4412; recorded auth with a new nonce -> 4403', async (t) => {
  const s = await server();
  try {
    const c1 = await RawClient.open(s.listenAddress);
    const first = await rawHandshake(c1, { from: 'p', to: 's', group: 'g1', secret: SECRET });
    t.true(first.welcome);
    c1.terminate();

    // An eavesdropper replays the exact hello it saw.
    const c2 = await RawClient.open(s.listenAddress);
    c2.send(first.hello);
    const closed2 = await c2.waitClosed();
    t.is(closed2.code, CloseCode.ReplayedHandshake);
    t.regex(closed2.reason, /replayed/);
    t.is(s.stats().handshakeRejects.replayed, 1);

    // It tries again with a fresh nonce but the recorded auth proof: the server's new nonce makes it wrong.
    const c3 = await RawClient.open(s.listenAddress);
    c3.send(encodeControl({ k: 'hello', v: PROTOCOL_VERSION, group: 'g1', from: 'p', to: 's', nonce: newNonce() }));
    await c3.nextFrame();
    c3.send(first.auth!);
    const closed3 = await c3.waitClosed();
    t.is(closed3.code, CloseCode.AuthFailed);
    t.is(s.stats().handshakeRejects.badHmac, 1);
  } finally {
    await s.close();
  }
});

test('a handshake that never completes is closed with 4408', async (t) => {
  const s = new Transport({ id: 's', groupId: 'g1', listen: '127.0.0.1:0', peers: { p: '127.0.0.1:9' }, secret: SECRET, handshakeTimeoutMs: 300, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200, reconnectBaseMs: 1000 });
  await s.start();
  try {
    const c = await RawClient.open(s.listenAddress);
    const closed = await c.waitClosed(3000);
    t.is(closed.code, CloseCode.HandshakeTimeout);
    t.true(s.stats().handshakeRejects.timeout >= 1);
  } finally {
    await s.close();
  }
});

test('two transports with different secrets refuse each other and count it on both sides', async (t) => {
  // Each link checks the server's proof first, so each side refuses the other as a client.
  const ts = await startCluster(['a', 'b'], { reconnectBaseMs: 20, reconnectMaxMs: 100 }, { a: { secret: SECRET }, b: { secret: 'a-different-cluster-secret-xyz' } });
  try {
    const got = collect(ts.get('b')!);
    await waitFor(() => ts.get('a')!.stats().handshakeRejects.badHmac >= 1 && ts.get('b')!.stats().handshakeRejects.badHmac >= 1, 'both sides to refuse');
    const a = ts.get('a')!.stats();
    t.false(a.peers.b!.connected);
    t.false(a.peers.b!.inboundConnected);
    ts.get('a')!.send(heartbeat('a', 'b', 1));
    t.is(got.length, 0);
  } finally {
    await closeAll(ts.values());
  }
});

test('two transports in different groups refuse each other (4409) and raise unreachable', async (t) => {
  const ts = await startCluster(['a', 'b'], { secret: SECRET, reconnectBaseMs: 20, reconnectMaxMs: 100 }, { b: { groupId: 'g2' } });
  try {
    const reasons: string[] = [];
    ts.get('a')!.on('unreachable', (_peer, reason) => reasons.push(reason));
    await waitFor(() => ts.get('a')!.stats().rejectedByPeer.wrongGroup >= 1, 'a to be refused for its group');
    t.true(ts.get('b')!.stats().handshakeRejects.wrongGroup >= 1);
    await waitFor(() => reasons.length > 0, 'unreachable');
    t.deepEqual(reasons, ['rejected'], 'raised once for the episode, not once per attempt');
  } finally {
    await closeAll(ts.values());
  }
});

test('without a secret on loopback, version, group and ids are still checked', async (t) => {
  const s = await server(null);
  try {
    const ok = await RawClient.open(s.listenAddress);
    t.true((await rawHandshake(ok, { from: 'p', to: 's', group: 'g1', secret: null })).welcome);
    ok.terminate();
    const bad = await RawClient.open(s.listenAddress);
    await rawHandshake(bad, { from: 'p', to: 's', group: 'nope', secret: null });
    t.is((await bad.waitClosed()).code, CloseCode.WrongGroup);
  } finally {
    await s.close();
  }
});

test('the secret is mandatory beyond loopback, and must be long enough', (t) => {
  const e = t.throws(() => new Transport({ id: 'a', groupId: 'g', listen: '0.0.0.0:7001', peers: {} }), { instanceOf: InvalidArgumentError });
  t.regex(e!.message, /0\.0\.0\.0:7001/);
  t.is((e as InvalidArgumentError).code, 'INVALID_ARGUMENT');
  t.throws(() => new Transport({ id: 'a', groupId: 'g', listen: '10.1.2.3:7001', peers: {} }), { message: /10\.1\.2\.3:7001/ });
  t.notThrows(() => new Transport({ id: 'a', groupId: 'g', listen: '0.0.0.0:7001', peers: {}, secret: SECRET }));
  t.throws(() => new Transport({ id: 'a', groupId: 'g', listen: '127.0.0.1:7001', peers: {}, secret: 'short' }), { message: /at least 16 bytes/ });
  t.throws(() => new Transport({ id: 'a b', groupId: 'g', listen: '127.0.0.1:7001', peers: {} }), { instanceOf: InvalidArgumentError });
  t.throws(() => new Transport({ id: 'a', groupId: 'g', listen: '127.0.0.1:7001', peers: { b: 'nohost' } }), { message: /address of peer b/ });
});
