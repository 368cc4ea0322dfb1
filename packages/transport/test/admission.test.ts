// Before a connection authenticates, a frame may be at most a handshake's size, and the
// server holds a bounded number of unauthenticated connections, per address and in total,
// counting each refusal. A link still gets in through its peer's reserved pool.
import test from 'ava';
import { request } from 'node:http';
import { MAX_HANDSHAKE_FRAME_BYTES } from '../src/constants.js';
import { Transport } from '../src/index.js';
import { RawClient, rawHandshake, SECRET, waitFor } from './helpers.js';

async function server(extra: Record<string, number> = {}): Promise<Transport> {
  const s = new Transport({ id: 's', groupId: 'g1', listen: '127.0.0.1:0', peers: { p: '127.0.0.1:9' }, secret: SECRET, reconnectBaseMs: 1000, ...extra });
  await s.start();
  return s;
}

/** The HTTP status of a WebSocket upgrade request to `path` (101 when accepted); the socket is kept open. */
function upgradeStatus(address: string, path: string, keep: (() => void)[]): Promise<number> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({
      host,
      port: Number(port),
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (res, socket) => {
      keep.push(() => socket.destroy());
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('upgrade timed out')));
    req.end();
  });
}

test('before authentication a frame larger than a handshake is refused by the WebSocket layer (1009), after it full-size frames pass', async (t) => {
  const s = await server();
  try {
    const c = await RawClient.open(s.listenAddress);
    c.send(Buffer.alloc(MAX_HANDSHAKE_FRAME_BYTES * 16, 1));
    await c.until(() => c.closed !== null, 'the oversized pre-auth frame to close the connection');
    t.is(c.closed!.code, 1009);
    t.true(s.stats().oversizedFrames >= 1);

    const ok = await RawClient.open(s.listenAddress);
    const r = await rawHandshake(ok, { from: 'p', to: 's', group: 'g1', secret: SECRET });
    t.true(r.welcome);
    // A 64 KiB frame of an unknown kind: past the pre-auth limit, so it reaches the decoder (4400), not ws's 1009.
    const big = Buffer.alloc(64 * 1024, 0);
    big[0] = 0x7f;
    ok.send(big);
    await ok.until(() => ok.closed !== null, 'the bad frame to close the connection');
    t.is(ok.closed!.code, 4400);
  } finally {
    await s.close();
  }
});

test('unauthenticated connections are capped per address and in total, each refusal counted; a peer still gets in', async (t) => {
  const s = await server({ maxUnauthenticated: 8, maxUnauthenticatedPerAddress: 5 });
  const keep: (() => void)[] = [];
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push(await upgradeStatus(s.listenAddress, '/peer', keep));
    t.deepEqual(statuses.slice(0, 5), [101, 101, 101, 101, 101]);
    t.true(statuses.slice(5).every((x) => x === 503), statuses.join(','));
    t.is(s.stats().admission.refusedPerAddress, 7);
    // A link that names a known peer goes to that peer's reserved pool, past the caps.
    const peerStatus = await upgradeStatus(s.listenAddress, '/peer?from=p', keep);
    t.is(peerStatus, 101);
    const strangers = await upgradeStatus(s.listenAddress, '/peer?from=stranger', keep);
    t.is(strangers, 503, 'an unknown id claims no reserved pool');
    // Claimants beyond the reserved pool evict the oldest pending claimant, never refused.
    for (let i = 0; i < 3; i++) t.is(await upgradeStatus(s.listenAddress, '/peer?from=p', keep), 101);
    await waitFor(() => s.stats().admission.evictedClaimants >= 2, 'older claimants evicted');
  } finally {
    for (const k of keep) k();
    await s.close();
  }
});
