// Snapshot streams: integrity, flow control, and failures reported to both sides.
import { createHash } from 'node:crypto';
import test from 'ava';
import type { SnapshotMeta } from '@conclave/core';
import { SnapshotStreamError } from '../src/index.js';
import { closeAll, heartbeat, sleep, startCluster, waitConnected, waitFor, within, type Options } from './helpers.js';

const meta: SnapshotMeta = { index: 100, term: 4, group: { groupId: 'g1', members: [{ id: 'a', address: '127.0.0.1:1', type: 'electable', removed: false, priority: 1 }] } };

async function* source(totalBytes: number, chunkBytes: number, onYield?: (n: number) => void, failAtBytes = Infinity): AsyncGenerator<Uint8Array> {
  let sent = 0;
  let seq = 0;
  while (sent < totalBytes) {
    if (sent >= failAtBytes) throw new Error('disk read failed');
    const n = Math.min(chunkBytes, totalBytes - sent);
    const chunk = Buffer.alloc(n, seq++ & 0xff);
    sent += n;
    onYield?.(n);
    yield chunk;
  }
}

function expectedHash(totalBytes: number, chunkBytes: number): string {
  const h = createHash('sha256');
  let seq = 0;
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) h.update(Buffer.alloc(Math.min(chunkBytes, totalBytes - sent), seq++ & 0xff));
  return h.digest('hex');
}

async function pair(options: Options = {}) {
  const ts = await startCluster(['a', 'b'], options);
  await waitConnected(ts);
  return { ts, a: ts.get('a')!, b: ts.get('b')! };
}

test('a 24 MiB snapshot arrives intact, in order, with its metadata', async (t) => {
  const { ts, a, b } = await pair({ snapshotChunkBytes: 1024 * 1024 });
  try {
    let received: { from: string; meta: SnapshotMeta; hash: string; bytes: number } | null = null;
    b.onSnapshot(async (from, m, chunks) => {
      const h = createHash('sha256');
      let bytes = 0;
      for await (const c of chunks) {
        h.update(c);
        bytes += c.length;
      }
      received = { from, meta: m, hash: h.digest('hex'), bytes };
    });
    // 3 MiB chunks are cut into 1 MiB frames on the way.
    await within(a.sendSnapshot('b', meta, source(24 * 1024 * 1024, 3 * 1024 * 1024)), 20000, 'snapshot');
    t.truthy(received);
    t.is(received!.from, 'a');
    t.deepEqual(received!.meta, meta);
    t.is(received!.bytes, 24 * 1024 * 1024);
    t.is(received!.hash, expectedHash(24 * 1024 * 1024, 3 * 1024 * 1024));
    t.is(a.stats().snapshotsSent, 1);
    t.is(b.stats().snapshotsReceived, 1);
  } finally {
    await closeAll(ts.values());
  }
});

test('messages keep flowing while a snapshot streams on the same link: none waits behind more than the window', async (t) => {
  // Measured in snapshot bytes, not milliseconds, so that it holds on a loaded machine: a
  // message sent while the receiver had taken X bytes of the stream arrives before it has
  // taken X + window (+ the chunks being cut and read) - never behind the rest of the stream.
  // The lateness in milliseconds is logged only; speed belongs in bench/.
  const chunkBytes = 256 * 1024;
  const windowBytes = 1024 * 1024;
  const totalBytes = 24 * 1024 * 1024;
  const { ts, a, b } = await pair({ snapshotChunkBytes: chunkBytes, snapshotWindowBytes: windowBytes });
  try {
    let consumedBytes = 0;
    b.onSnapshot(async (_from, _m, chunks) => {
      for await (const c of chunks) consumedBytes += c.length;
    });
    const lateBytes: number[] = [];
    const lateMs: number[] = [];
    const sentAt = new Map<number, { bytes: number; ms: number }>();
    b.onMessage((m) => {
      const s = sentAt.get(m.commit)!;
      lateBytes.push(consumedBytes - s.bytes);
      lateMs.push(performance.now() - s.ms);
    });
    let streaming = true;
    const sending = a.sendSnapshot('b', meta, source(totalBytes, chunkBytes)).finally(() => (streaming = false));
    for (let i = 0; streaming && i < 500; i++) {
      sentAt.set(i, { bytes: consumedBytes, ms: performance.now() });
      a.send(heartbeat('a', 'b', i));
      await sleep(2);
    }
    await within(sending, 60_000, 'snapshot');
    await waitFor(() => lateBytes.length === sentAt.size, 'every heartbeat');
    t.log(`${lateBytes.length} heartbeats during the stream; the latest arrived ${Math.max(...lateBytes)} snapshot bytes and ${Math.max(...lateMs).toFixed(1)} ms after it was sent`);
    t.true(lateBytes.length >= 3, 'the stream lasted long enough to test anything');
    t.true(Math.max(...lateBytes) <= windowBytes + 2 * chunkBytes, `a heartbeat waited behind ${Math.max(...lateBytes)} bytes of snapshot`);
  } finally {
    await closeAll(ts.values());
  }
});

test('flow control: a slow consumer holds the sender to the window', async (t) => {
  const windowBytes = 256 * 1024;
  const chunkBytes = 64 * 1024;
  const { ts, a, b } = await pair({ snapshotWindowBytes: windowBytes, snapshotChunkBytes: chunkBytes });
  try {
    let yielded = 0;
    let consumed = 0;
    let maxAhead = 0;
    b.onSnapshot(async (_from, _m, chunks) => {
      for await (const c of chunks) {
        consumed += c.length;
        await sleep(5);
      }
    });
    await within(
      a.sendSnapshot('b', meta, source(4 * 1024 * 1024, chunkBytes, (n) => {
        yielded += n;
        maxAhead = Math.max(maxAhead, yielded - consumed);
      })),
      20000,
      'slow snapshot',
    );
    t.log(`source ran at most ${maxAhead} bytes ahead of the consumer (window ${windowBytes})`);
    // The window, plus the chunk the generator has just produced, plus one in the consumer's hands.
    t.true(maxAhead <= windowBytes + 2 * chunkBytes, `ahead by ${maxAhead}`);
    t.is(consumed, 4 * 1024 * 1024);
  } finally {
    await closeAll(ts.values());
  }
});

test('the receiver failing is reported to the sender', async (t) => {
  const { ts, a, b } = await pair({ snapshotChunkBytes: 64 * 1024 });
  try {
    b.onSnapshot(async (_from, _m, chunks) => {
      let n = 0;
      for await (const c of chunks) {
        n += c.length;
        if (n > 256 * 1024) throw new Error('disk full');
      }
    });
    const e = await t.throwsAsync(within(a.sendSnapshot('b', meta, source(2 * 1024 * 1024, 64 * 1024)), 10000, 'snapshot'), { instanceOf: SnapshotStreamError });
    t.regex(e!.message, /disk full/);
    t.is(e!.code, 'SNAPSHOT_STREAM_FAILED');
    t.is(b.stats().snapshotsFailed, 1);
    t.is(a.stats().snapshotsFailed, 1);
    // The link is still fine for the next stream.
    b.onSnapshot(async (_from, _m, chunks) => {
      for await (const _ of chunks);
    });
    await within(a.sendSnapshot('b', meta, source(100_000, 10_000)), 10000, 'second snapshot');
  } finally {
    await closeAll(ts.values());
  }
});

test('the sender failing is reported to the receiver', async (t) => {
  const { ts, a, b } = await pair({ snapshotChunkBytes: 64 * 1024 });
  try {
    let receiverError: unknown = null;
    b.onSnapshot(async (_from, _m, chunks) => {
      try {
        for await (const _ of chunks);
      } catch (err) {
        receiverError = err;
        throw err;
      }
    });
    await t.throwsAsync(a.sendSnapshot('b', meta, source(1024 * 1024, 64 * 1024, undefined, 300 * 1024)), { instanceOf: SnapshotStreamError, message: /disk read failed/ });
    await waitFor(() => receiverError !== null, 'the receiver to see the abort');
    t.true(receiverError instanceof SnapshotStreamError);
    t.regex((receiverError as Error).message, /aborted.*disk read failed/);
  } finally {
    await closeAll(ts.values());
  }
});

test('a connection lost mid-stream fails both sides', async (t) => {
  const { ts, a, b } = await pair({ snapshotChunkBytes: 64 * 1024 });
  try {
    let receiverError: unknown = null;
    let started = false;
    b.onSnapshot(async (_from, _m, chunks) => {
      try {
        for await (const _ of chunks) {
          started = true;
          await sleep(10);
        }
      } catch (err) {
        receiverError = err;
        throw err;
      }
    });
    const sending = a.sendSnapshot('b', meta, source(8 * 1024 * 1024, 64 * 1024));
    sending.catch(() => {});
    await waitFor(() => started, 'the stream to start');
    await a.close();
    const e = await t.throwsAsync(sending, { instanceOf: SnapshotStreamError });
    t.regex(e!.message, /closed|lost/);
    await waitFor(() => receiverError !== null, 'the receiver to see the loss');
    t.true(receiverError instanceof SnapshotStreamError);
  } finally {
    await closeAll(ts.values());
  }
});

test('a stalled receiver fails the stream after snapshotStallTimeoutMs', async (t) => {
  const { ts, a, b } = await pair({ snapshotChunkBytes: 64 * 1024, snapshotWindowBytes: 128 * 1024, snapshotStallTimeoutMs: 300 });
  try {
    let receiverError: unknown = null;
    // The receiver reads again only once the sender gave up (not after a fixed pause, which a
    // loaded machine could stretch past the stall timeout's check).
    let senderGaveUp!: () => void;
    const gaveUp = new Promise<void>((resolve) => (senderGaveUp = resolve));
    b.onSnapshot(async (_from, _m, chunks) => {
      const it = chunks[Symbol.asyncIterator]();
      await it.next(); // takes one chunk, then stops reading
      await within(gaveUp, 60_000, 'the sender to give up').catch(() => {});
      try {
        for (;;) if ((await it.next()).done) break;
      } catch (err) {
        receiverError = err;
      }
    });
    const sending = a.sendSnapshot('b', meta, source(4 * 1024 * 1024, 64 * 1024));
    sending.catch(() => senderGaveUp());
    const e = await t.throwsAsync(within(sending, 60_000, 'stall'), { instanceOf: SnapshotStreamError });
    t.regex(e!.message, /stalled/);
    await waitFor(() => receiverError !== null, 'the receiver to learn of the abort', 30_000);
  } finally {
    await closeAll(ts.values());
  }
});

test('no handler, unknown peer, and a disconnected peer are refused', async (t) => {
  const { ts, a, b } = await pair();
  try {
    await t.throwsAsync(a.sendSnapshot('b', meta, source(1000, 100)), { instanceOf: SnapshotStreamError, message: /no snapshot handler/ });
    await t.throwsAsync(a.sendSnapshot('zz', meta, source(1000, 100)), { instanceOf: SnapshotStreamError, message: /not a peer/ });
    await t.throwsAsync(a.sendSnapshot('b', { ...meta, index: -1 }, source(1000, 100)), { message: /snapshot index/ });
    await b.close();
    await waitFor(() => !a.stats().peers.b!.connected, 'b gone');
    await t.throwsAsync(a.sendSnapshot('b', meta, source(1000, 100)), { instanceOf: SnapshotStreamError, message: /not connected/ });
  } finally {
    await closeAll(ts.values());
  }
});
