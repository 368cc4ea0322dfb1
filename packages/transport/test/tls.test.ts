// wss:// between nodes and to /admin, verified against the test CA (fixtures/tls).
import { join } from 'node:path';
import test from 'ava';
import { AdminConnectionError, AdminRpcClient, Transport } from '../src/index.js';
import { ADMIN_SECRET, closeAll, collect, fixtures, heartbeat, SECRET, sleep, startCluster, waitConnected, waitFor } from './helpers.js';

const tlsDir = join(fixtures, 'tls');
const tls = { keyFile: join(tlsDir, 'node-key.pem'), certFile: join(tlsDir, 'node.pem'), caFile: join(tlsDir, 'ca.pem') };

test('delivery over wss:// between three nodes', async (t) => {
  const ts = await startCluster(['a', 'b', 'c'], { secret: SECRET, tls });
  try {
    await waitConnected(ts);
    const inbox = collect(ts.get('c')!);
    for (let i = 0; i < 100; i++) {
      ts.get('a')!.send(heartbeat('a', 'c', i));
      ts.get('b')!.send(heartbeat('b', 'c', i));
    }
    await waitFor(() => inbox.length === 200, '200 messages over TLS');
    t.deepEqual(inbox.filter((m) => m.from === 'a').map((m) => m.commit), [...Array(100).keys()]);
  } finally {
    await closeAll(ts.values());
  }
});

test('admin over wss://', async (t) => {
  const n = new Transport({ id: 'n1', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET, adminSecret: ADMIN_SECRET, tls });
  n.registerAdminHandler('ping', () => 'pong');
  await n.start();
  try {
    const c = await AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET, tls: { caFile: tls.caFile } });
    t.is(await c.request('ping'), 'pong');
    await c.close();
    // A client that does not trust the CA refuses the node.
    const e = await t.throwsAsync(AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET, tls: { caFile: join(tlsDir, 'other-ca.pem') } }), { instanceOf: AdminConnectionError });
    t.regex(e!.message, /certificate/i);
  } finally {
    await n.close();
  }
});

test('a node whose certificate is not signed by our CA is never connected', async (t) => {
  const ts = await startCluster(['a', 'b'], { secret: SECRET, reconnectBaseMs: 20, reconnectMaxMs: 100 }, {
    a: { tls: { ...tls, caFile: join(tlsDir, 'other-ca.pem') } },
    b: { tls },
  });
  try {
    await waitFor(() => ts.get('a')!.stats().connectFailures >= 2, 'a to fail verifying b');
    await sleep(100);
    t.false(ts.get('a')!.stats().peers.b!.connected);
  } finally {
    await closeAll(ts.values());
  }
});

test('unreadable TLS files are reported with their path', (t) => {
  t.throws(() => new Transport({ id: 'a', groupId: 'g', listen: '127.0.0.1:0', peers: {}, tls: { ...tls, keyFile: '/nonexistent/key.pem' } }), {
    message: /tls\.keyFile '\/nonexistent\/key\.pem'/,
  });
});
