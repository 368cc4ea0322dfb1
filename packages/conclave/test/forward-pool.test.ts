// The forwarding pool's refusals before sending say the request did not happen (issue 11, item 15).
import test from 'ava';
import type { AdminRpcClient } from '@conclave/transport';
import { ForwardPool } from '../src/forward-pool.js';

test('a forward refused before it was sent (queue full, no room in time, pool closed) is PROPOSAL_DROPPED, not WRITE_OUTCOME_UNKNOWN', async (t) => {
  // A connection that never opens: the first request holds the only slot.
  const never = () => new Promise<AdminRpcClient>(() => {});
  const full = new ForwardPool('127.0.0.1:1', never, { connections: 1, inflightPerConnection: 1, queued: 0 });
  void full.request('kv.write', {}, 60_000).catch(() => {});
  const e1 = await t.throwsAsync(full.request('kv.write', {}, 60_000));
  t.is((e1 as { code?: string }).code, 'PROPOSAL_DROPPED');
  t.regex(e1!.message, /nothing was sent/);

  const slow = new ForwardPool('127.0.0.1:1', never, { connections: 1, inflightPerConnection: 1, queued: 10 });
  void slow.request('kv.write', {}, 60_000).catch(() => {});
  const e2 = await t.throwsAsync(slow.request('kv.write', {}, 50));
  t.is((e2 as { code?: string }).code, 'PROPOSAL_DROPPED');

  slow.close();
  const e3 = await t.throwsAsync(slow.request('kv.write', {}, 1000));
  t.is((e3 as { code?: string }).code, 'PROPOSAL_DROPPED');
  full.close();
});
