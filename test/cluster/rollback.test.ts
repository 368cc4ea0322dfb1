// JE HA's hard recovery on real processes. The override used on both "sides" of a lost
// majority (here: n1 and n2 with O = 2 while n3-n5 are down, then n3-n5 alone while n1 and
// n2 are down) commits different writes at the same indexes. When n1 and n2 come back,
// each rolls back to the leader's state if that loses at most rollbackLimit writes (listing
// them in <dataDir>/rollbacks/), and otherwise refuses with RollbackProhibitedError until
// an operator accepts.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessGroup, waitFor } from './harness.js';

const LOST = 12;

function rollbackFiles(g: ProcessGroup, id: string): string[] {
  const dir = join(g.dataDir(id), 'rollbacks');
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}

async function leaderAmong(g: ProcessGroup, ids: string[], timeoutMs: number): Promise<string> {
  return waitFor(
    async () => {
      for (const id of ids) if ((await g.status(id))?.state === 'leader') return id;
      return null;
    },
    timeoutMs,
    `a leader among ${ids.join(', ')}`,
  );
}

test.serial('split brain through the override: a small rollback is automatic and recorded; a large one is refused until accepted', async (t) => {
  const g = await ProcessGroup.start({ nodes: 5 });
  try {
    await g.client('n1').put('common', 'c');
    // The majority is "lost": n1 and n2 carry on with the override.
    for (const id of ['n3', 'n4', 'n5']) await g.kill(id);
    for (const id of ['n1', 'n2']) {
      await g.kill(id);
      g.spawn(id, ['--override', '2']);
    }
    await leaderAmong(g, ['n1', 'n2'], 60_000);
    let lastIndex = 0;
    for (let i = 0; i < LOST; i++) lastIndex = (await g.client('n1').put(`lost-${i}`, i)).token.index;
    // Both must have committed every one of them before they go down.
    await waitFor(async () => {
      const [a, b] = [await g.status('n1'), await g.status('n2')];
      return a && b && a.commitIndex >= lastIndex && b.commitIndex >= lastIndex;
    }, 60_000, 'n1 and n2 to commit the writes made under the override');
    // Then the other side: n1 and n2 go down, n3-n5 come back and form their own majority.
    for (const id of ['n1', 'n2']) await g.kill(id);
    for (const id of ['n3', 'n4', 'n5']) g.spawn(id);
    let leader = await leaderAmong(g, ['n3', 'n4', 'n5'], 60_000);
    // Two leader changes push this side's term past the one n1 and n2 reached.
    for (let k = 0; k < 2; k++) {
      const term = (await g.status(leader))!.term;
      await g.kill(leader);
      g.spawn(leader);
      leader = await waitFor(async () => {
        for (const id of ['n3', 'n4', 'n5']) {
          const s = await g.status(id);
          if (s?.state === 'leader' && s.term > term) return id;
        }
        return null;
      }, 60_000, `a leader of a term after ${term}`);
    }
    for (let i = 0; i < 30; i++) await g.client(leader).put(`kept-${i}`, i);
    // n2 may roll back up to 20 writes on its own; n1 has the default limit of 10.
    g.spawn('n2', ['--override', '0', '--rollback-limit', '20']);
    g.spawn('n1', ['--override', '0']);

    // n2: automatic rollback, recorded for the operator, then it follows the leader.
    await waitFor(async () => (await g.client('n2').get('kept-29', 'none').catch(() => null))?.found, 60_000, 'n2 to follow the leader');
    t.false((await g.client('n2').get('lost-0', 'none')).found, 'the diverged writes are gone from n2');
    const files = rollbackFiles(g, 'n2');
    t.is(files.length, 1);
    const report = JSON.parse(readFileSync(files[0]!, 'utf8'));
    t.is(report.nodeId, 'n2');
    t.is(report.lostWriteCount, LOST);
    t.deepEqual(
      report.lostWrites.map((w: { command: { key: string; value: number } }) => [w.command.key, w.command.value]),
      Array.from({ length: LOST }, (_, i) => [`lost-${i}`, i]),
      'every lost key and value is listed',
    );
    t.regex(g.output.get('n2') ?? '', /"event":"rollback".*"lostWriteCount":12/, 'a structured rollback line');

    // n1: 12 > 10, so it refuses and keeps its data.
    const st = await waitFor(async () => {
      const s = await g.status('n1');
      return s?.rollback.state === 'prohibited' ? s : null;
    }, 60_000, 'n1 to refuse the rollback');
    t.like(st.rollback, { state: 'prohibited', lostWriteCount: LOST, rollbackLimit: 10 });
    t.regex(g.output.get('n1') ?? '', /"event":"rollback_prohibited","code":"ROLLBACK_PROHIBITED".*rejoining would roll back 12 committed writes, more than rollbackLimit 10.*--accept-rollback/);
    t.true((await g.client('n1').get('lost-0', 'none')).found, 'nothing was rolled back');
    t.deepEqual(rollbackFiles(g, 'n1'), []);

    // The operator accepts.
    await g.kill('n1');
    g.spawn('n1', ['--accept-rollback']);
    await waitFor(async () => (await g.client('n1').get('kept-29', 'none').catch(() => null))?.found, 60_000, 'n1 to follow the leader');
    t.false((await g.client('n1').get('lost-0', 'none')).found);
    t.is(rollbackFiles(g, 'n1').length, 1);
    // The group as a whole: every write the final leader acknowledged is there, linearizably.
    for (const id of ['n1', 'n2', 'n3', 'n4', 'n5']) {
      const r = await g.client(id).get('kept-17');
      t.true(r.found && r.value === 17, id);
    }
  } catch (err) {
    t.log(g.logs());
    throw err;
  } finally {
    await g.close();
  }
});
