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

test('a follower iterator whose read point is slow to come still misses the writes made after it', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('level-snapshot-slow');
  const db = new GroupMemberLevel<string, string>(join(dir.path, 'db'));
  try {
    await within(db.open(), 60_000, 'the group to open');
    const me = db.node!;
    await waitFor(() => !me.isLeader && me.status().leader !== null, 20_000, 'a leader other than this member');
    const leader = me.status().leader!.id;
    // The read point travels on the peer link to the leader; the writes below are forwarded on
    // the admin connection. Slow the first: the writes reach the leader before the read point.
    me.faults.setLink(leader, { delayMs: 100 });
    for (let i = 0; i < 3; i++) {
      const p = `s${i}/`;
      const it = db.iterator({ gte: p, lt: `${p}~` });
      await db.put(`${p}a`, 'after');
      t.deepEqual(await within(it.all(), 20_000, 'the iterator'), [], `round ${i}`);
    }
  } finally {
    db.node?.faults.reset();
    await db.close();
    dir.remove();
  }
});
