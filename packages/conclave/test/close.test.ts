// close() (issue 22, item 5): the last member of a group that lost its quorum closes at once
// with writes pending, and each pending write is told the truth: WRITE_OUTCOME_UNKNOWN when it
// was proposed (or sent to a leader), NODE_CLOSED when it never left this member.
import test from 'ava';
import type { ConclaveNode } from '../src/index.js';
import { codeOf, startGroup, waitFor } from './helpers.js';

/** Generous: far below the writes' own 60 s deadlines, far above what a prompt close takes on a loaded machine. */
const PROMPT_MS = 15_000;

async function timedClose(node: ConclaveNode, opts?: { drainMs?: number }): Promise<number> {
  const started = Date.now();
  await (opts ? node.close(opts) : node.close());
  return Date.now() - started;
}

test('the last member (a leader cut off from its quorum) closes at once: proposed writes are WRITE_OUTCOME_UNKNOWN', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    await leader.put('before', 1);
    const others = [...g.nodes.values()].filter((n) => n !== leader);
    // Cut the followers off first (they stay "active" to the leader for an election timeout),
    // so that the writes are proposed and then wait for acks that never come.
    leader.faults.partition([[leader.id], others.map((n) => n.id)]);
    const lastBefore = leader.status().lastIndex;
    const writes = Array.from({ length: 5 }, (_, i) => codeOf(leader.put(`w${i}`, i, { durability: { ackTimeoutMs: 60_000 }, timeoutMs: 60_000 })));
    await waitFor(() => leader.status().lastIndex >= lastBefore + 5, 5000, 'the writes to be proposed');
    await Promise.all(others.map((n) => n.close()));
    const started = Date.now();
    const closeMs = await timedClose(leader);
    const codes = await Promise.all(writes);
    t.deepEqual(codes, Array(5).fill('WRITE_OUTCOME_UNKNOWN'));
    t.true(closeMs < PROMPT_MS, `close took ${closeMs} ms`);
    t.true(Date.now() - started < PROMPT_MS, 'the writes settled with the close, not at their deadline');
  } finally {
    await g.close();
  }
});

test('the last member (a follower whose leader is gone) closes at once: writes never sent are NODE_CLOSED', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    await follower.put('before', 1);
    await Promise.all([...g.nodes.values()].filter((n) => n !== follower).map((n) => n.close()));
    // The leader is dead: nothing can take these writes, and nothing is sent.
    const writes = Array.from({ length: 5 }, (_, i) => codeOf(follower.put(`w${i}`, i, { durability: { ackTimeoutMs: 60_000 }, timeoutMs: 60_000 })));
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const closeMs = await timedClose(follower);
    const codes = await Promise.all(writes);
    t.deepEqual(codes, Array(5).fill('NODE_CLOSED'));
    t.true(closeMs < PROMPT_MS, `close took ${closeMs} ms`);
    t.true(Date.now() - started < PROMPT_MS, 'the writes settled with the close, not at their deadline');
  } finally {
    await g.close();
  }
});

test('close({ drainMs }) lets writes in flight finish first, and refuses new ones meanwhile', async (t) => {
  const g = await startGroup(3);
  try {
    const leader = await g.waitForLeader();
    const follower = [...g.nodes.values()].find((n) => n !== leader)!;
    const writes = Array.from({ length: 20 }, (_, i) => codeOf(follower.put(`d${i}`, i)));
    const closing = follower.close({ drainMs: 30_000 });
    t.is(await codeOf(follower.put('late', 1)), 'NODE_CLOSED', 'a new call while draining is refused: it did not happen');
    await closing;
    t.deepEqual(await Promise.all(writes), Array(20).fill('ok'));
    t.is(await leader.get('late'), undefined);
    t.is(await leader.get('d19'), 19);
  } finally {
    await g.close();
  }
});
