// The admin methods the nemesis uses: `test.faults` (refused unless the node was opened
// with enableFaultInjection) and `kv.cas`.
import test from 'ava';
import { AdminRemoteError, AdminRpcClient } from '@conclave/transport';
import { InvalidArgumentError } from '../src/index.js';
import { startGroup } from './helpers.js';

async function client(address: string): Promise<AdminRpcClient> {
  return AdminRpcClient.connect(address, { connectTimeoutMs: 2000 });
}

test('test.faults is refused with FAULT_INJECTION_DISABLED unless enabled', async (t) => {
  const g = await startGroup(1);
  try {
    const node = await g.waitForLeader();
    t.false(node.faultInjectionEnabled);
    const c = await client(node.address);
    const err = await t.throwsAsync(c.request('test.faults', { action: 'partition', sides: [['n1'], ['n2']] }), { instanceOf: AdminRemoteError });
    t.is(err!.code, 'FAULT_INJECTION_DISABLED');
    t.regex(err!.message, /--enable-fault-injection/);
    t.false(node.faults.isPartitioned('n1', 'n2'), 'nothing changed');
    await c.close();
  } finally {
    await g.close();
  }
});

test('test.faults partitions, sets link faults, heals and resets when enabled; bad params name the problem', async (t) => {
  const g = await startGroup(3, { enableFaultInjection: true });
  try {
    const leader = await g.waitForLeader();
    const c = await client(leader.address);
    const others = Object.keys(g.peers).filter((id) => id !== leader.id);
    t.deepEqual(await c.request('test.faults', { action: 'partition', sides: [[leader.id], others] }), { node: leader.id, action: 'partition' });
    t.true(leader.faults.isPartitioned(leader.id, others[0]!));
    await c.request('test.faults', { action: 'heal' });
    t.false(leader.faults.isPartitioned(leader.id, others[0]!));
    await c.request('test.faults', { action: 'setLink', to: '*', faults: { dropProbability: 0.5, delayMs: 3 } });
    t.deepEqual(leader.faults.getLink(others[0]!), { dropProbability: 0.5, delayMs: 3 });
    await c.request('test.faults', { action: 'reset' });
    t.deepEqual(leader.faults.getLink(others[0]!), {});
    const bad: [unknown, RegExp][] = [
      [null, /params must be an object/],
      [{ action: 'explode' }, /action must be partition, heal, setLink or reset/],
      [{ action: 'partition', sides: 'n1' }, /sides must be an array/],
      [{ action: 'partition', sides: [['n1', 7]] }, /sides\[0\]\[1\] must be a node id/],
      [{ action: 'partition', sides: [['n1'], ['n1']] }, /node n1 is on two sides/],
      [{ action: 'setLink', to: 'n2', faults: { dropProbability: 2 } }, /dropProbability must be a number in \[0, 1\]/],
      [{ action: 'setLink', to: 'n2', faults: { lossy: true } }, /unknown field 'lossy'/],
      [{ action: 'setLink', faults: {} }, /to must be a node id/],
    ];
    for (const [params, message] of bad) {
      const err = await t.throwsAsync(c.request('test.faults', params), { instanceOf: AdminRemoteError });
      t.is(err!.code, new InvalidArgumentError('x').code, JSON.stringify(params));
      t.regex(err!.message, message);
    }
    // The group still works.
    await leader.put('after', 'faults');
    t.is(await leader.get('after'), 'faults');
    await c.close();
  } finally {
    await g.close();
  }
});

test('kv.cas compares and sets through any member, reporting what it found', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    const c = await client(follower.address);
    const first = await c.request<{ succeeded: boolean; found: boolean; current: unknown }>('kv.cas', { key: 'k', value: 'a' });
    t.like(first, { succeeded: true, found: false, current: null });
    t.like(await c.request('kv.cas', { key: 'k', expected: 'x', value: 'b' }), { succeeded: false, found: true, current: 'a' });
    t.like(await c.request('kv.cas', { key: 'k', expected: 'a', value: 'b' }), { succeeded: true, found: true, current: 'a' });
    t.is(await leader.get('k'), 'b');
    const err = await t.throwsAsync(c.request('kv.cas', { key: 7 }), { instanceOf: AdminRemoteError });
    t.is(err!.code, 'INVALID_ARGUMENT');
    await c.close();
  } finally {
    await g.close();
  }
});
