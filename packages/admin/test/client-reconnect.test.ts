// A long-lived AdminClient (an admin script, a dashboard) outlives its connection: the member
// closes an admin connection idle for a minute, and a request can cross that close.
import test from 'ava';
import { AdminClient } from '../src/client.js';
import { idleCrossingServer } from '../../transport/test/idle-crossing.js';

test('a call that crosses the member\'s idle close is sent again on a new connection, served once', async (t) => {
  // Each connection serves one request and closes as idle when the next one arrives.
  const server = await idleCrossingServer(1);
  const client = new AdminClient({ endpoints: [server.address], timeoutMs: 10_000 });
  try {
    t.deepEqual(await client.get('k'), { found: true, value: 1 });
    t.deepEqual(await client.get('k'), { found: true, value: 2 });
    t.deepEqual(await client.get('k'), { found: true, value: 3 });
    t.is(server.served(), 3);
    t.is(server.connections(), 3);
  } finally {
    await client.close();
    await server.close();
  }
});

test('a request that crossed the idle close is sent once more on a new connection, and only once', async (t) => {
  const server = await idleCrossingServer();
  const client = new AdminClient({ endpoints: [server.address], timeoutMs: 10_000 });
  try {
    // This endpoint closes every connection as its first request arrives: the one retry
    // meets the same close, and the call fails with what the endpoint did (nothing).
    const e = await t.throwsAsync(client.get('k'));
    t.is((e as { code?: string }).code, 'CONNECTION_FAILED');
    t.true((e as { unserved?: boolean }).unserved);
    t.is(server.served(), 0);
    t.is(server.connections(), 2, 'one retry, not a loop');
  } finally {
    await client.close();
    await server.close();
  }
});
