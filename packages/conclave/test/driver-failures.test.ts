// Driver defects of issue 11 on a real node driven by forged messages (driver-harness.ts):
// read contexts that repeat after a restart (item 10), an exception from the core swallowed
// by the transport (item 11), and the override applied before it is stored (item 12).
import test from 'ava';
import type { Message } from '@conclave/core';
import { StorageIoError } from '@conclave/storage';
import { DriverHarness } from './driver-harness.js';
import { waitFor } from './helpers.js';

/** Makes n2 the leader of term 2 in n3's eyes (an empty append on the bootstrap entries). */
async function followN2(h: DriverHarness): Promise<void> {
  h.deliver(h.message('app', 'n2', { term: 2, index: 3, logTerm: 1, commit: 3 }));
  await h.idle();
}

/** Starts a linearizable read on the follower and returns the context it sent to the leader. */
async function startRead(h: DriverHarness): Promise<{ read: Promise<string>; context: string }> {
  const before = h.sent.length;
  const read = h.node.get('k', { timeoutMs: 60_000 }).then(
    () => 'served',
    (e: { code?: string }) => e.code ?? 'error',
  );
  await waitFor(() => h.sent.slice(before).find((m) => m.type === 'readIndex'), 10_000, 'the readIndex request');
  const m = h.sent.slice(before).find((x) => x.type === 'readIndex') as Message;
  return { read, context: m.context };
}

test('read contexts never repeat across a restart: a late answer from before it cannot serve a new read (item 10)', async (t) => {
  let h = await DriverHarness.open('n3');
  t.teardown(() => h.close());
  await followN2(h);
  const first = await startRead(h);
  h = await h.reopen();
  await followN2(h);
  const second = await startRead(h);
  t.not(second.context, first.context);
  // The answer to the read from before the restart arrives late: it must not serve the new one.
  h.deliver(h.message('readIndexResp', 'n2', { term: 2, index: 3, context: first.context }));
  await h.idle();
  const state = await Promise.race([second.read, new Promise<string>((r) => setTimeout(() => r('pending'), 200))]);
  t.is(state, 'pending');
  h.deliver(h.message('readIndexResp', 'n2', { term: 2, index: 3, context: second.context }));
  t.is(await second.read, 'served');
});

test('an exception from the core while stepping a message stops the node, as one in the Ready loop does (item 11)', async (t) => {
  const h = await DriverHarness.open('n3');
  t.teardown(() => h.close());
  await followN2(h);
  const errors: Error[] = [];
  h.node.on('error', (e) => errors.push(e));
  const step = h.raft.step.bind(h.raft);
  h.raft.step = (m: Message) => {
    if (m.type === 'heartbeat') throw new Error('assertion failed: injected');
    step(m);
  };
  // Through the transport's own delivery path, which catches what a handler throws.
  (h.internals.transport as unknown as { deliver(m: Message): void }).deliver(h.message('heartbeat', 'n2', { term: 2, commit: 3 }));
  await waitFor(() => errors.length > 0, 10_000, 'the node to stop');
  t.regex(errors[0]!.message, /injected/);
  const err = await t.throwsAsync(h.node.put('k', 1));
  t.regex(err!.message, /injected/, 'the node refuses work after the failed step');
});

test('an exception from the core while proposing stops the node; the write may have happened (item 11)', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  const errors: Error[] = [];
  h.node.on('error', (e) => errors.push(e));
  h.raft.propose = () => {
    throw new Error('assertion failed: injected in propose');
  };
  const err = await t.throwsAsync(h.node.put('k', 1, { durability: { replicaAck: 'none' } }));
  t.is((err as { code?: string }).code, 'WRITE_OUTCOME_UNKNOWN', err!.message);
  t.regex(String((err as { cause?: Error }).cause?.message), /injected in propose/);
  await waitFor(() => errors.length > 0, 10_000, 'the node to stop');
  const later = await t.throwsAsync(h.node.get('k', { consistency: 'none' }));
  t.regex(later!.message, /injected in propose/, 'the node refuses work after the failed proposal');
});

test('an exception from the core while starting a read stops the node (item 11)', async (t) => {
  const h = await DriverHarness.open('n3');
  t.teardown(() => h.close());
  await followN2(h);
  const errors: Error[] = [];
  h.node.on('error', (e) => errors.push(e));
  h.raft.readIndex = () => {
    throw new Error('assertion failed: injected in readIndex');
  };
  const err = await t.throwsAsync(h.node.get('k', { timeoutMs: 10_000 }));
  t.regex(err!.message, /injected in readIndex/);
  await waitFor(() => errors.length > 0, 10_000, 'the node to stop');
});

test('a refusal from the core (a typed error) is only an answer: the node carries on', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  await h.electSelf();
  const errors: Error[] = [];
  h.node.on('error', (e) => errors.push(e));
  const err = await t.throwsAsync(h.node.transferLeadership('nobody', 1000));
  t.is((err as { code?: string }).code, 'INVALID_ARGUMENT');
  await h.node.put('still', 'works', { durability: { replicaAck: 'none' } });
  t.deepEqual(errors, []);
});

test('the override is stored before it takes effect: a failed store leaves it unchanged (item 12)', async (t) => {
  const h = await DriverHarness.open('n1');
  t.teardown(() => h.close());
  h.node.on('error', () => {});
  const setSettings = h.storage.setSettings.bind(h.storage);
  h.storage.setSettings = async () => {
    throw new StorageIoError(h.options.dataDir, 'write failed (injected)');
  };
  const err = await t.throwsAsync(h.node.setElectableGroupSizeOverride(1));
  t.is((err as { code?: string }).code, 'STORAGE_IO');
  t.is(h.node.status().electableGroupSizeOverride, 0, 'the core does not use an override that is not stored');
  t.is(h.node.status().commitQuorum, 2);
  // A bad value is refused before anything is stored.
  h.storage.setSettings = setSettings;
  await t.throwsAsync(h.node.setElectableGroupSizeOverride(7), { code: 'INVALID_ARGUMENT' } as never);
  t.is(h.storage.settings.electableGroupSizeOverride, 0);
  await h.node.setElectableGroupSizeOverride(1);
  t.is(h.storage.settings.electableGroupSizeOverride, 1);
  t.is(h.node.status().electableGroupSizeOverride, 1);
});
