// A message the transport refuses is never dropped in silence (issue 11, item 1): it is
// counted, send() says so, and 'unreachable' tells the driver, which tells the core.
import test from 'ava';
import { appMessage, closeAll, startCluster, waitConnected, waitFor } from './helpers.js';

test('a message over maxPayloadBytes is refused, counted, and reported as unreachable (tooLarge)', async (t) => {
  const ts = await startCluster(['a', 'b'], { maxPayloadBytes: 64 * 1024 });
  try {
    await waitConnected(ts);
    const a = ts.get('a')!;
    const reasons: string[] = [];
    a.on('unreachable', (peer, reason) => reasons.push(`${peer}:${reason}`));
    t.false(a.send(appMessage('a', 'b', 1, 80 * 1024)));
    t.is(a.stats().droppedTooLarge, 1);
    await waitFor(() => reasons.length > 0, 'the unreachable event', 5000);
    t.deepEqual(reasons, ['b:tooLarge']);
    // The link itself is fine: a message that fits still goes.
    t.true(a.send(appMessage('a', 'b', 2, 1024)));
  } finally {
    await closeAll(ts.values());
  }
});
