// Malformed membership changes are refused before they are proposed. Found by the admin
// endpoint fuzz (test/hostile/admin-fuzz.test.ts): `group.change` with an addSecondary
// without an address went into the leader's log, the transport refused to send it, and the
// leader stopped; the entry on disk then failed every restart.
import test from 'ava';
import { AdminRemoteError, AdminRpcClient } from '@conclave/transport';
import { InvalidArgumentError, openNode } from '../src/index.js';
import { startGroup } from './helpers.js';

const BAD: [unknown, RegExp][] = [
  [{ op: 'addSecondary', id: 'x1' }, /addSecondary x1 has no address/],
  [{ op: 'addElectable', id: 'x1', address: 'garbage' }, /x1: address 'garbage' is not HOST:PORT/],
  [{ op: 'addElectable', id: 'x1', address: '127.0.0.1:99999' }, /port 99999 is not from 0 to 65535/],
  [{ op: 'addElectable', id: 'x1', address: '127.0.0.1:7999', priority: -1 }, /priority must be an integer >= 0/],
  [{ op: 'addElectable', id: 'x1', address: '127.0.0.1:7999', extra: 1 }, /unknown field 'extra'/],
  [{ op: 'addSecondary', id: 'bad id!', address: '127.0.0.1:7999' }, /member id 'bad id!'/],
  [{ op: 'remove' }, /remove has no member id/],
  [{ op: 'explode', id: 'n1' }, /unknown membership change op "explode"/],
  [null, /must be an object/],
];

test('malformed membership changes are refused on the leader, on followers and over admin; the group carries on and restarts', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    const admin = await AdminRpcClient.connect(follower.address, { connectTimeoutMs: 2000 });
    for (const [change, message] of BAD) {
      for (const node of [leader, follower]) {
        await t.throwsAsync(node.changeMembership(change as never), { instanceOf: InvalidArgumentError, message }, JSON.stringify(change));
      }
      const err = await t.throwsAsync(admin.request('group.change', { change }), { instanceOf: AdminRemoteError });
      t.is(err!.code, 'INVALID_ARGUMENT');
    }
    await admin.close();
    await leader.put('still', 'works');
    const group = await follower.changeMembership({ op: 'addSecondary', id: 'x2', address: '127.0.0.1:7999' });
    t.true(group.members.some((m) => m.id === 'x2'));
    // Every member's log reads back: close and reopen one.
    const id = follower.id;
    await follower.close();
    const reopened = await openNode(g.options(id));
    g.nodes.set(id, reopened);
    t.is(await reopened.get('still'), 'works');
  } finally {
    await g.close();
  }
});
