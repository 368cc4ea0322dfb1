// The override outlives a change of E (issue 11, item 13): growing the electable group while
// an override is set is refused, on the leader and on the member asked, unless forced.
import test from 'ava';
import { ConfChangeError } from '../src/index.js';
import { freePorts, startGroup } from './helpers.js';

test('adding an electable member while an override is set is refused naming it, unless forced', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader(10_000);
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    const [p4, p5] = await freePorts(2);
    const a4 = `127.0.0.1:${p4}`;
    await leader.setElectableGroupSizeOverride(2);
    const onLeader = await t.throwsAsync(leader.addMember('n4', a4, 'electable'), { instanceOf: ConfChangeError });
    t.regex(onLeader!.message, new RegExp(`${leader.id} runs with electable group size override 2: with n4 electable, E would become 4 while quorums stay 2 \\(a true majority is 3\\)`));
    // Asked of a follower without an override: the leader refuses it.
    const viaFollower = await t.throwsAsync(follower.addMember('n4', a4, 'electable'));
    t.is((viaFollower as { code?: string }).code, 'CONF_CHANGE_REFUSED');
    t.regex(viaFollower!.message, /override 2/);
    t.is(leader.status().electableGroupSize, 3, 'nothing changed');
    // A secondary leaves E alone.
    await leader.addMember('s1', `127.0.0.1:${p5}`, 'secondary');
    // The member asked checks its own override too.
    await leader.setElectableGroupSizeOverride(0);
    await follower.setElectableGroupSizeOverride(3);
    await t.throwsAsync(follower.addMember('s1', `127.0.0.1:${p5}`, 'electable'), { instanceOf: ConfChangeError, message: new RegExp(`${follower.id} runs with electable group size override 3`) });
    await t.throwsAsync(follower.changeMembership({ op: 'addElectable', id: 'n4', address: a4 }), { instanceOf: ConfChangeError, message: /override 3/ });
    // Forced, it goes through.
    const r = await follower.addMember('s1', `127.0.0.1:${p5}`, 'electable', 10_000, { force: true });
    t.is(r.change, 'promote');
    t.is(leader.status().electableGroupSize, 4);
  } finally {
    await g.close();
  }
});
