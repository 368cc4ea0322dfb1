// The CLI's lease keep-alive loop (`conclave lock`, `conclave elect`): a holder acts only in
// a window it confirmed itself, so the first keep-alive goes out at once, not after TTL / 3.
import test from 'ava';
import { keepAliveLoop } from '../src/commands-lease.js';

test('the first keep-alive goes out at once and confirms the holding', async (t) => {
  let calls = 0;
  const lost: string[] = [];
  const loop = keepAliveLoop({ leaseKeepAlive: async (id) => (calls++, { id, ttlMs: 60_000 }) }, 7, 60_000, (why) => lost.push(why));
  try {
    t.true(await loop.confirmed);
    t.is(calls, 1, 'one keep-alive, long before TTL / 3 (20 s) passed');
    t.deepEqual(lost, []);
  } finally {
    loop.stop();
  }
});

test('a lease that ended before the first keep-alive is lost, never confirmed', async (t) => {
  const lost: string[] = [];
  const ended = Object.assign(new Error('lease 7 not found'), { code: 'LEASE_NOT_FOUND' });
  const loop = keepAliveLoop({ leaseKeepAlive: () => Promise.reject(ended) }, 7, 60_000, (why) => lost.push(why));
  try {
    t.false(await loop.confirmed);
    t.deepEqual(lost, ['lease 7 ended']);
  } finally {
    loop.stop();
  }
});
