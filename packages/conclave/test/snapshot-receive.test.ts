// A follower receiving snapshots (issue 11, items 6 and 7): the install must survive a
// snapshot message stepped while a Ready is on its way to disk, and two leaders' streams
// that interleave; neither may stop the node.
import test, { type ExecutionContext } from 'ava';
import { encodeCommand } from '@conclave/storage';
import { chunksOf, deferred, DriverHarness, leaderSnapshot } from './driver-harness.js';

/** n2 (leader in `term`) appends one put at index 4 on top of the bootstrap entries 1-3. */
function appendAt4(h: DriverHarness, term: number) {
  return h.message('app', 'n2', {
    term,
    index: 3,
    logTerm: 1,
    commit: 3,
    entries: [{ index: 4, term, type: 'normal', data: encodeCommand({ op: 'put', key: 'a', value: 1 }) }],
  });
}

test('a snapshot stepped while a Ready is on its way to disk is installed, and the follower carries on (item 6)', async (t) => {
  const h = await DriverHarness.open('n3');
  t.teardown(() => h.close());
  const errors: Error[] = [];
  h.node.on('error', (e) => errors.push(e));
  const snap = await leaderSnapshot(h.peers, 20, 2);
  await h.internals.receiveSnapshot('n2', snap.meta.index, snap.meta, chunksOf(snap.chunks));

  // The next disk write waits until the snapshot's message has been stepped.
  const gate = deferred();
  const writing = deferred();
  const original = h.storage.writeReady.bind(h.storage);
  let gated = false;
  h.storage.writeReady = async (rd) => {
    if (!gated) {
      gated = true;
      writing.resolve();
      await gate.promise;
    }
    return original(rd);
  };
  h.deliver(appendAt4(h, 2));
  await writing.promise;
  h.deliver(h.message('snap', 'n2', { term: 2, snapshot: snap.meta }));
  gate.resolve();
  await h.idle();

  t.deepEqual(errors, [], 'the node did not stop');
  const st = h.node.status();
  t.is(st.appliedIndex, 20);
  t.is(st.commitIndex, 20);
  t.is(await h.node.get('k7', { consistency: 'none' }), 7);
  // and it goes on replicating after the snapshot
  h.deliver(h.message('app', 'n2', { term: 2, index: 20, logTerm: 2, commit: 21, entries: [{ index: 21, term: 2, type: 'normal', data: encodeCommand({ op: 'put', key: 'after', value: 'yes' }) }] }));
  await h.idle();
  t.is(await h.node.get('after', { consistency: 'none' }), 'yes');
});

/**
 * n3 following n2 (term 2) with index 4 appended, and two leaders' snapshots for index 20:
 * n1's (deposed, term 2, keys a*) and n2's (term 3, keys b*), each in several chunks.
 */
async function followerWithTwoStreams(t: ExecutionContext) {
  const h = await DriverHarness.open('n3');
  t.teardown(() => h.close());
  const errors: Error[] = [];
  h.node.on('error', (e) => errors.push(e));
  h.deliver(appendAt4(h, 2));
  await h.idle();
  const a = await leaderSnapshot(h.peers, 20, 2, 'a');
  const b = await leaderSnapshot(h.peers, 20, 3, 'b');
  if (a.chunks.length < 2 || b.chunks.length < 2) throw new Error('test setup: each snapshot should come in several chunks');
  return { h, errors, a, b };
}

test('two leaders\' snapshot streams that interleave never mix: the later one is staged whole, the earlier is refused (item 7)', async (t) => {
  const { h, errors, a, b } = await followerWithTwoStreams(t);
  // n1's stream begins; n2's begins; then all of n1's chunks come, then n2's.
  const aStarted = deferred();
  const bBegun = deferred();
  const aDone = deferred();
  const streamA = h.internals
    .receiveSnapshot('n1', a.meta.index, a.meta, chunksOf(a.chunks, async (i) => {
      if (i === 0) {
        aStarted.resolve();
        await bBegun.promise;
      }
    }))
    .then(() => 'staged', (e: Error) => `refused: ${e.message}`)
    .finally(() => aDone.resolve());
  await aStarted.promise;
  const streamB = h.internals
    .receiveSnapshot('n2', b.meta.index, b.meta, chunksOf(b.chunks, async (i) => {
      if (i === 0) {
        bBegun.resolve();
        await aDone.promise;
      }
    }))
    .then(() => 'staged', (e: Error) => `refused: ${e.message}`);
  t.regex(await streamA, /^refused: /, 'the superseded stream is refused');
  t.is(await streamB, 'staged');
  // n1's snapshot message is not staged: the core never sees it, and nothing stops.
  h.deliver(h.message('snap', 'n1', { term: 2, snapshot: a.meta }));
  await h.idle();
  t.deepEqual(errors, []);
  t.is(h.node.status().appliedIndex, 3, 'nothing installed from the refused stream');
  // n2's is.
  h.deliver(h.message('snap', 'n2', { term: 3, snapshot: b.meta }));
  await h.idle();
  t.deepEqual(errors, [], 'the node did not stop');
  t.is(h.node.status().appliedIndex, 20);
  for (let i = 1; i <= 20; i++) {
    t.is(await h.node.get(`b${i}`, { consistency: 'none' }), i, `b${i} from n2's snapshot`);
    t.is(await h.node.get(`a${i}`, { consistency: 'none' }), undefined, `nothing of n1's snapshot (a${i})`);
  }
});

test('a snapshot message that names another stream\'s snapshot than the one staged is ignored, not fatal (item 7)', async (t) => {
  const { h, errors, a, b } = await followerWithTwoStreams(t);
  // n2's stream (term 3) is staged; n1's message for its own snapshot at the same index arrives.
  await h.internals.receiveSnapshot('n2', b.meta.index, b.meta, chunksOf(b.chunks));
  h.deliver(h.message('snap', 'n1', { term: 2, snapshot: a.meta }));
  await h.idle();
  t.deepEqual(errors, [], 'the node did not stop');
  t.is(h.node.status().appliedIndex, 3);
  h.deliver(h.message('snap', 'n2', { term: 3, snapshot: b.meta }));
  await h.idle();
  t.deepEqual(errors, []);
  t.is(await h.node.get('b9', { consistency: 'none' }), 9);
});
