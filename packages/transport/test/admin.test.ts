// The admin RPC channel on /admin: request/response, deadlines, error codes, and the
// failures the CLI tells apart (401 auth, 2 refused, 7 timeout).
import { createServer, type Server, type Socket } from 'node:net';
import test from 'ava';
import { NotLeaderError } from '@conclave/core';
import {
  AdminAuthError,
  AdminConnectionError,
  AdminConnectionRefusedError,
  AdminRemoteError,
  AdminRpcClient,
  AdminTimeoutError,
  CloseCode,
  Transport,
} from '../src/index.js';
import { ADMIN_SECRET, RawClient, SECRET, sleep, waitFor } from './helpers.js';
import { ADMIN_PATH } from '../src/constants.js';
import { WebSocketServer } from 'ws';
import { AdminServerConnection } from '../src/admin.js';
import { idleCrossingServer } from './idle-crossing.js';
import { newCounters } from '../src/stats.js';
import { Lingering } from '../src/sockets.js';

async function node(options: { adminSecret?: string } = { adminSecret: ADMIN_SECRET }): Promise<Transport> {
  const t = new Transport({ id: 'n1', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET, ...options });
  t.registerAdminHandler('echo', (params) => ({ echoed: params }));
  t.registerAdminHandler('slow', async (_params, { signal }) => {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    return 'too late';
  });
  t.registerAdminHandler('notLeader', () => {
    throw new NotLeaderError('n2');
  });
  t.registerAdminHandler('plainError', async () => {
    throw new Error('boom');
  });
  await t.start();
  return t;
}

test('request/response with the right credential', async (t) => {
  const n = await node();
  try {
    const c = await AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET });
    t.deepEqual(await c.request('echo', { a: 1, b: ['x', true], bytes: Buffer.from([1, 2]) }), { echoed: { a: 1, b: ['x', true], bytes: Buffer.from([1, 2]) } });
    // Concurrent requests are matched by id.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.request<{ echoed: number }>('echo', i)));
    t.deepEqual(results.map((r) => r.echoed), [...Array(20).keys()]);
    t.is(n.stats().adminRequests, 21);
    await c.close();
    t.true(c.closed);
  } finally {
    await n.close();
  }
});

test('a handler error travels back with its code and fields', async (t) => {
  const n = await node();
  try {
    const c = await AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET });
    const e1 = await t.throwsAsync(c.request('notLeader'), { instanceOf: AdminRemoteError });
    t.is(e1!.code, 'NOT_LEADER');
    t.is((e1 as AdminRemoteError).data.leaderHint, 'n2');
    const e2 = await t.throwsAsync(c.request('plainError'), { instanceOf: AdminRemoteError, message: 'boom' });
    t.is(e2!.code, 'INTERNAL');
    const e3 = await t.throwsAsync(c.request('noSuchMethod'), { instanceOf: AdminRemoteError });
    t.is(e3!.code, 'UNKNOWN_METHOD');
    t.is(n.stats().adminErrors, 3);
    // The connection is still usable.
    t.deepEqual(await c.request('echo', 1), { echoed: 1 });
    await c.close();
  } finally {
    await n.close();
  }
});

test('a request past its deadline rejects with AdminTimeoutError and the handler is aborted', async (t) => {
  const n = await node();
  try {
    const c = await AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET });
    const started = Date.now();
    const e = await t.throwsAsync(c.request('slow', null, { timeoutMs: 150 }), { instanceOf: AdminTimeoutError });
    t.is(e!.code, 'TIMEOUT');
    // Not before its deadline; the upper bound only tells a timeout from a hang (load delays timers).
    const elapsedMs = Date.now() - started;
    t.true(elapsedMs >= 140 && elapsedMs < 30_000, `rejected after ${elapsedMs} ms`);
    await waitFor(() => n.stats().adminErrors === 1, 'the server to give up on the handler too');
    t.deepEqual(await c.request('echo', 2), { echoed: 2 });
    await c.close();
  } finally {
    await n.close();
  }
});

test('a wrong admin credential is refused with 4401 and reported as an authentication failure', async (t) => {
  const n = await node();
  try {
    const e = await t.throwsAsync(AdminRpcClient.connect(n.listenAddress, { credential: 'wrong-admin-credential-0000' }), { instanceOf: AdminAuthError });
    t.is(e!.code, 'ADMIN_AUTH_FAILED');
    // The cluster secret is not the admin credential.
    await t.throwsAsync(AdminRpcClient.connect(n.listenAddress, { credential: SECRET }), { instanceOf: AdminAuthError });
    await t.throwsAsync(AdminRpcClient.connect(n.listenAddress, {}), { instanceOf: AdminAuthError });
    t.is(n.stats().adminAuthFailures, 3);
    // The close code on the wire.
    const raw = await RawClient.open(n.listenAddress, ADMIN_PATH);
    await raw.nextFrame();
    const { encodeControl } = await import('../src/codec.js');
    raw.send(encodeControl({ k: 'adminAuth', nonce: Buffer.alloc(32, 1), proof: Buffer.alloc(32) }));
    t.is((await raw.waitClosed()).code, CloseCode.AdminUnauthorized);
    t.is(n.stats().adminAuthFailures, 4);
  } finally {
    await n.close();
  }
});

test('a client expecting a credential refuses a node that cannot prove it', async (t) => {
  const n = await node({}); // loopback, no admin secret: open admin
  try {
    const open = await AdminRpcClient.connect(n.listenAddress);
    t.deepEqual(await open.request('echo', 3), { echoed: 3 });
    await open.close();
    await t.throwsAsync(AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET }), { instanceOf: AdminAuthError, message: /did not prove/ });
  } finally {
    await n.close();
  }
});

test('connection refused, connect timeout and a dropped connection are told apart', async (t) => {
  // A port nobody listens on.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const freePort = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const refused = await t.throwsAsync(AdminRpcClient.connect(`127.0.0.1:${freePort}`, { credential: ADMIN_SECRET }), { instanceOf: AdminConnectionRefusedError });
  t.is(refused!.code, 'CONNECTION_REFUSED');

  // A server that accepts TCP and never answers the upgrade.
  const sockets: Socket[] = [];
  const silent: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as { port: number }).port;
    const timedOut = await t.throwsAsync(AdminRpcClient.connect(`127.0.0.1:${port}`, { credential: ADMIN_SECRET, connectTimeoutMs: 200 }), { instanceOf: AdminTimeoutError });
    t.is(timedOut!.code, 'TIMEOUT');
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }

  // The node goes away while a request is pending.
  const n = await node();
  const c = await AdminRpcClient.connect(n.listenAddress, { credential: ADMIN_SECRET });
  const pending = c.request('slow', null, { timeoutMs: 5000 });
  await sleep(20);
  await n.close();
  const dropped = await t.throwsAsync(pending, { instanceOf: AdminConnectionError });
  t.is(dropped!.code, 'CONNECTION_FAILED');
});

test('beyond loopback without an admin secret, /admin refuses everyone with 4401', async (t) => {
  // Tests stay on loopback, so the disabled endpoint is served by hand from the same code
  // the Transport uses when it listens elsewhere without an adminSecret.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const counters = newCounters();
  const lingering = new Lingering();
  wss.on('connection', (ws) => new AdminServerConnection(ws, { counters, lingering, adminSecret: null, adminEnabled: false, handler: () => undefined, authenticated: () => {}, closed: () => {} }));
  try {
    const port = (wss.address() as { port: number }).port;
    const e = await t.throwsAsync(AdminRpcClient.connect(`127.0.0.1:${port}`), { instanceOf: AdminAuthError });
    t.regex(e!.message, /admin disabled/);
    t.is(counters.adminAuthFailures, 1);
    t.throws(() => new Transport({ id: 'n1', groupId: 'g1', listen: '0.0.0.0:0', peers: {} }), { message: /secret is required/ });
  } finally {
    lingering.terminateAll();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});

test('registering a method twice is refused', async (t) => {
  const n = await node();
  try {
    t.throws(() => n.registerAdminHandler('echo', () => 1), { message: /already has a handler/ });
    n.unregisterAdminHandler('echo');
    t.notThrows(() => n.registerAdminHandler('echo', () => 1));
  } finally {
    await n.close();
  }
});

test('a signal shared by many connects (an AdminClient\'s) keeps no listener once each connect settles', async (t) => {
  const { EventEmitter } = await import('node:events');
  const n = await node({});
  const refused = new Transport({ id: 'n9', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET });
  await refused.start();
  const closedAddress = refused.listenAddress;
  await refused.close();
  const controller = new AbortController();
  try {
    for (let i = 0; i < 15; i++) {
      const c = await AdminRpcClient.connect(n.listenAddress, { signal: controller.signal, connectTimeoutMs: 10_000 });
      await c.close();
      await t.throwsAsync(AdminRpcClient.connect(closedAddress, { signal: controller.signal, connectTimeoutMs: 10_000 }));
    }
    t.is(EventEmitter.getEventListeners(controller.signal, 'abort').length, 0);
  } finally {
    await n.close();
  }
});

test('a request that crosses the endpoint\'s idle close is never served, and the client says so (unserved)', async (t) => {
  const server = await idleCrossingServer();
  try {
    const c = await AdminRpcClient.connect(server.address, { connectTimeoutMs: 10_000 });
    const e = await t.throwsAsync(c.request('kv.put', { key: 'k', value: 1 }, { timeoutMs: 10_000 }), { instanceOf: AdminConnectionError });
    t.is(e!.code, 'CONNECTION_FAILED');
    t.true(e!.unserved, e!.message);
    t.is(server.served(), 0);
  } finally {
    await server.close();
  }
});

test('adminIdleTimeoutMs closes an idle admin connection; a connection that closed otherwise is not `unserved`', async (t) => {
  const n = new Transport({ id: 'n1', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET, heartbeatIntervalMs: 50, adminIdleTimeoutMs: 200 });
  n.registerAdminHandler('slow', async (_params, { signal }) => {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    return 'too late';
  });
  await n.start();
  try {
    const idle = await AdminRpcClient.connect(n.listenAddress, { connectTimeoutMs: 10_000 });
    await waitFor(() => idle.closed, 'the idle close');
    const e = await t.throwsAsync(idle.request('slow', null), { instanceOf: AdminConnectionError });
    t.true(e!.unserved);
    t.regex(e!.message, /closed \(1000 idle\)/);
    // A request pending keeps the connection open past the idle timeout; the endpoint's close
    // (it stops) then fails it without the promise.
    const busy = await AdminRpcClient.connect(n.listenAddress, { connectTimeoutMs: 10_000 });
    const pending = busy.request('slow', null, { timeoutMs: 60_000 });
    await sleep(500);
    t.false(busy.closed, 'a connection with a request pending is not idle');
    await n.close();
    const dropped = await t.throwsAsync(pending, { instanceOf: AdminConnectionError });
    t.false(dropped!.unserved);
  } finally {
    await n.close();
  }
  t.throws(() => new Transport({ id: 'n1', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, adminIdleTimeoutMs: 0 }), { message: /adminIdleTimeoutMs/ });
});
