// The forwarding pool's refusals before sending say the request did not happen (issue 11, item 15).
import test from 'ava';
import { AdminRpcClient } from '@conclave/transport';
import { idleCrossingServer } from '../../transport/test/idle-crossing.js';
import { FORWARD_POOL_LIMITS, ForwardPool } from '../src/forward-pool.js';

test('a forward refused before it was sent (queue full, no room in time, pool closed) is PROPOSAL_DROPPED, not WRITE_OUTCOME_UNKNOWN', async (t) => {
  // A connection that never opens: the first request holds the only slot.
  const never = () => new Promise<AdminRpcClient>(() => {});
  const full = new ForwardPool('127.0.0.1:1', never, { ...FORWARD_POOL_LIMITS, connections: 1, inflightPerConnection: 1, queued: 0 });
  void full.request('kv.write', {}, 60_000).catch(() => {});
  const e1 = await t.throwsAsync(full.request('kv.write', {}, 60_000));
  t.is((e1 as { code?: string }).code, 'PROPOSAL_DROPPED');
  t.regex(e1!.message, /nothing was sent/);

  const slow = new ForwardPool('127.0.0.1:1', never, { ...FORWARD_POOL_LIMITS, connections: 1, inflightPerConnection: 1, queued: 10 });
  void slow.request('kv.write', {}, 60_000).catch(() => {});
  const e2 = await t.throwsAsync(slow.request('kv.write', {}, 50));
  t.is((e2 as { code?: string }).code, 'PROPOSAL_DROPPED');

  slow.close();
  const e3 = await t.throwsAsync(slow.request('kv.write', {}, 1000));
  t.is((e3 as { code?: string }).code, 'PROPOSAL_DROPPED');
  full.close();
});

test('a forward that crossed the leader\'s idle close is not WRITE_OUTCOME_UNKNOWN: the leader served nothing, so the caller sends it again', async (t) => {
  const server = await idleCrossingServer();
  const pool = new ForwardPool(server.address, () => AdminRpcClient.connect(server.address, { connectTimeoutMs: 10_000 }), { ...FORWARD_POOL_LIMITS, connections: 1, inflightPerConnection: 1, queued: 0 });
  try {
    const e = await t.throwsAsync(pool.request('kv.write', { data: new Uint8Array(1) }, 10_000));
    t.is((e as { code?: string }).code, 'CONNECTION_FAILED', e!.message);
    t.true((e as { unserved?: boolean }).unserved);
    t.is(server.served(), 0);
  } finally {
    pool.close();
    await server.close();
  }
});
