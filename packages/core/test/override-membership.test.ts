// The override outlives a change of E (issue 11, item 13): override 3 kept while the group
// grows to 7 electable members gives a commit quorum of 2. Adding or promoting an electable
// member while the leader runs with an override is refused unless forced.
import test from 'ava';
import { ConfChangeError, RaftNode, seededRandom } from '../src/index.js';
import { Net } from './net.js';

test('with an override set, adding or promoting an electable member is refused naming the override, unless forced', (t) => {
  const net = new Net({ ids: ['n1', 'n2', 'n3'] });
  t.true(net.elect('n1'));
  const n1 = net.node('n1');
  n1.setElectableGroupSizeOverride(3);
  const last = n1.status().lastIndex;
  const err = t.throws(() => n1.proposeConfChange({ op: 'addElectable', id: 'n4', address: '127.0.0.1:9004' }), { instanceOf: ConfChangeError });
  t.is(err?.code, 'CONF_CHANGE_REFUSED');
  t.regex(err?.message ?? '', /override 3.*E would become 4.*Clear the override first.*--force/);
  t.is(n1.status().lastIndex, last, 'nothing proposed');
  // A secondary does not change E: allowed. Its promotion does: refused.
  n1.proposeConfChange({ op: 'addSecondary', id: 's1', address: '127.0.0.1:9005' });
  net.add('s1', RaftNode.join({ id: 's1', random: seededRandom(5) }, 'g'));
  net.settle();
  t.throws(() => n1.proposeConfChange({ op: 'promote', id: 's1' }), { instanceOf: ConfChangeError, message: /override 3/ });
  // Forced, or once the override is cleared, it goes through.
  n1.proposeConfChange({ op: 'promote', id: 's1' }, { force: true });
  net.settle();
  t.is(n1.status().electableGroupSize, 4);
  n1.setElectableGroupSizeOverride(0);
  n1.proposeConfChange({ op: 'addElectable', id: 'n4', address: '127.0.0.1:9004' });
  net.settle();
  t.is(n1.status().electableGroupSize, 5);
});
