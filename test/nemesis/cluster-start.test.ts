// NemesisCluster.start hands a test a group in which every member serves. A leader needs only
// a majority, so on a loaded machine a group can elect one while its last member is still
// compiling the CLI: a test that then called that member got CONNECTION_REFUSED (CI, twice,
// in the admin fuzz). A launcher that holds one member back for 3 s stands in for the load.
import test from 'ava';
import { NemesisCluster } from './cluster.js';

const HOLD_BACK_S = 3;

test('start returns only once every member answers, even one that started last', async (t) => {
  t.timeout(120_000);
  const cluster = await NemesisCluster.start({
    nodes: 3,
    tickMs: 50,
    electionTicks: 10,
    faultInjection: false,
    launcher: (id, spec) => (id === 'n3' ? { ...spec, cmd: 'sh', args: ['-c', `sleep ${HOLD_BACK_S}; exec "$0" "$@"`, spec.cmd, ...spec.args] } : spec),
  });
  try {
    // At once, no retry: each member must already be listening.
    for (const id of cluster.ids()) {
      const st = await cluster.call<{ id: string; leader: { id: string } | null }>(id, 'node.status', {}, 5000);
      t.is(st.id, id);
      t.not(st.leader, null, `${id} knows the leader`);
    }
  } finally {
    await cluster.close();
  }
});
