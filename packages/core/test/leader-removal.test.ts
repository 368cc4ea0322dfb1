// A leader that removes itself (issue 11, item 14).
import test from 'ava';
import { Net } from './net.js';

test('a leader that removes itself tells the others the removal committed before it steps down', (t) => {
  const net = new Net({ ids: ['n1', 'n2', 'n3'] });
  t.true(net.elect('n1'));
  const { index } = net.node('n1').proposeConfChange({ op: 'remove', id: 'n1' });
  net.settle(); // no ticks: only what n1 sends on its own
  t.is(net.node('n1').currentRole, 'follower');
  for (const id of ['n2', 'n3']) {
    t.true(net.node(id).commitIndex >= index, `${id} learned that the removal committed`);
    t.true(net.node(id).groupMetadata.members.find((m) => m.id === 'n1')!.removed, `${id} applied the removal`);
  }
});
