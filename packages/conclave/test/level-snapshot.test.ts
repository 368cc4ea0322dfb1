// A ConclaveLevel iterator on a follower reads ONE state for its whole life (issue 18):
// every write acknowledged before it was created, none made through the member after, and
// seek() stays in that state. A write made through the leader reaches the follower's
// state a heartbeat later, so the follower's state when the iterator is created is behind
// the read point: the iterator must then read the state AT the read point, not whatever
// the member has applied by the time the read point is confirmed (which here holds the
// writes made through the follower after the iterator).
import test from 'ava';
import { join } from 'node:path';
import { tempDir, waitFor, within } from './helpers.js';
import { GroupMemberLevel } from './level/group-level.js';

const ROUNDS = 20;

test('a follower iterator sees the writes before it and none after, seek included', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('level-snapshot');
  const db = new GroupMemberLevel<string, string>(join(dir.path, 'db'));
  try {
    await within(db.open(), 60_000, 'the group to open');
    for (let i = 0; i < ROUNDS; i++) {
      const p = `r${i}/`;
      // Through the leader (should leadership move under load, whichever member leads now).
      const leader = await waitFor(() => [...db.otherNodes, db.node!].find((n) => n.isLeader), 20_000, 'a leader');
      await leader.put(`\u0000${p}b`, Buffer.from('before')); // ConclaveLevel's key layout (keys.ts)
      const seeking = db.iterator({ gte: p, lt: `${p}~` });
      const plain = db.iterator({ gte: p, lt: `${p}~` });
      const reverse = db.keys({ gte: p, lt: `${p}~`, reverse: true });
      await db.put(`${p}a`, 'after');
      await db.put(`${p}c`, 'after');
      seeking.seek(`${p}a`);
      t.deepEqual(await within(seeking.all(), 20_000, 'the seeking iterator'), [[`${p}b`, 'before']], `round ${i}: seek`);
      t.deepEqual(await within(plain.all(), 20_000, 'the plain iterator'), [[`${p}b`, 'before']], `round ${i}: next`);
      t.deepEqual(await within(reverse.all(), 20_000, 'the reverse iterator'), [`${p}b`], `round ${i}: reverse`);
    }
  } finally {
    await db.close();
    dir.remove();
  }
});
