// Oversized writes (issue 11, item 1). Originally: batch() of 20 values of 1000 KiB on the
// leader of a 3-node group failed with INSUFFICIENT_ACKS, and so did every later put: the
// transport dropped the 20 MB append at every retry. Now the write is refused up front.
import test from 'ava';
import { MAX_COMMAND_BYTES } from '@conclave/storage';
import { RequestTooLargeError } from '../src/index.js';
import { startGroup, waitFor } from './helpers.js';
import { checkSizeLimits, largestAppendBytes, SIZE_LIMITS } from '../src/size-limits.js';

const KIB = 1024;
const durability = { ackTimeoutMs: 3000 };

test('an oversized batch is refused with REQUEST_TOO_LARGE before anything is written or forwarded; later writes work', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader(10_000);
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    await leader.put('before', 1, { durability });
    const big = Array.from({ length: 20 }, (_, i) => ({ op: 'put' as const, key: `big${i}`, value: Buffer.alloc(1000 * KIB, i) }));
    const lastBefore = leader.status().lastIndex;
    for (const node of [leader, follower]) {
      const err = await t.throwsAsync(node.batch(big, { durability }), { instanceOf: RequestTooLargeError });
      t.is(err?.code, 'REQUEST_TOO_LARGE');
      t.is(err?.limitBytes, MAX_COMMAND_BYTES);
      t.true(err!.sizeBytes > MAX_COMMAND_BYTES);
      t.regex(err?.message ?? '', new RegExp(`at most ${MAX_COMMAND_BYTES} bytes`));
    }
    t.is(leader.status().lastIndex, lastBefore, 'nothing was proposed');
    // Later writes, small and as large as allowed, commit on every member.
    await leader.put('after', 2, { durability });
    await follower.put('after-follower', 3, { durability });
    const allowed = Array.from({ length: 3 }, (_, i) => ({ op: 'put' as const, key: `ok${i}`, value: Buffer.alloc(1000 * KIB, i) }));
    const { token } = await leader.batch(allowed, { durability });
    for (const n of g.nodes.values()) {
      await waitFor(() => n.status().appliedIndex >= token.index, 10_000, `${n.id} to apply the 3 MB batch`);
      t.is((await n.get('ok2', { consistency: 'none' }) as Buffer).length, 1000 * KIB);
      t.is(await n.get('after', { consistency: 'none' }), 2);
    }
  } finally {
    await g.close();
  }
});

test('the command limit and the core\'s append size fit the transport frame, checked at start', (t) => {
  t.notThrows(() => checkSizeLimits(SIZE_LIMITS));
  t.true(largestAppendBytes(SIZE_LIMITS) <= SIZE_LIMITS.maxPayloadBytes);
  t.throws(() => checkSizeLimits({ ...SIZE_LIMITS, maxPayloadBytes: MAX_COMMAND_BYTES }), { message: /more than the transport's frame limit/ });
});
