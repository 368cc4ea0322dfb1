// Transports in separate processes: delivery, a peer killed with SIGKILL and restarted,
// and backpressure against a peer stopped with SIGSTOP.
import test from 'ava';
import type { Message } from '@conclave/core';
import { Transport } from '../src/index.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { appMessage, ChildPeer, SECRET, PATIENT_HEARTBEAT_TIMEOUT_MS, sleep, WAIT_MS, waitFor } from './helpers.js';

// A real gc() without changing ava's node arguments, so memory is measured, not garbage.
setFlagsFromString('--expose-gc');
const gcNow = runInNewContext('gc') as () => void;
/** Full GC twice with a pause: ArrayBuffer backing stores are freed by a background sweeper. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  gcNow();
  await sleep(50);
  gcNow();
  return process.memoryUsage();
}

async function parent(options: Partial<ConstructorParameters<typeof Transport>[0]> = {}): Promise<Transport> {
  // Liveness timeouts that a stall of this loaded machine cannot trip, unless the test is about them.
  const patient = options.heartbeatIntervalMs === undefined ? { heartbeatTimeoutMs: PATIENT_HEARTBEAT_TIMEOUT_MS } : {};
  const a = new Transport({ id: 'a', groupId: 'g1', listen: '127.0.0.1:0', peers: {}, secret: SECRET, reconnectBaseMs: 20, reconnectMaxMs: 250, ...patient, ...options });
  await a.start();
  return a;
}

function spawnEcho(id: string, a: Transport, listen = '127.0.0.1:0', patientChild = true): Promise<ChildPeer> {
  return ChildPeer.spawn({ id, groupId: 'g1', listen, peers: { a: a.listenAddress }, secret: SECRET, mode: 'echo', reconnectBaseMs: 20, reconnectMaxMs: 250, ...(patientChild ? { heartbeatTimeoutMs: PATIENT_HEARTBEAT_TIMEOUT_MS } : {}) });
}

test('delivery to two peer processes and back', async (t) => {
  const a = await parent();
  const children: ChildPeer[] = [];
  try {
    children.push(await spawnEcho('b', a), await spawnEcho('c', a));
    a.setPeers({ b: children[0]!.address, c: children[1]!.address });
    const answers: Message[] = [];
    a.onMessage((m) => answers.push(m));
    // Both directions: the children were refused until setPeers told a about them, and retry.
    await waitFor(() => ['b', 'c'].every((p) => a.stats().peers[p]!.connected && a.stats().peers[p]!.inboundConnected), 'links with both children', WAIT_MS);
    for (let i = 0; i < 1000; i++) {
      a.send(appMessage('a', 'b', i, 100));
      a.send(appMessage('a', 'c', i, 100));
    }
    await waitFor(() => answers.length === 2000, '2000 appResp', WAIT_MS);
    for (const peer of ['b', 'c']) {
      const idx = answers.filter((m) => m.from === peer).map((m) => m.index);
      t.deepEqual(idx, Array.from({ length: 1000 }, (_, i) => i + 1), `answers from ${peer} in order`);
    }
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await a.close();
  }
});

test('a peer process killed with SIGKILL and restarted on its port is reconnected to', async (t) => {
  const a = await parent();
  let child = await spawnEcho('b', a);
  try {
    const events: string[] = [];
    a.on('peerConnected', (p) => events.push(`connected:${p}`));
    a.on('peerDisconnected', (p) => events.push(`disconnected:${p}`));
    a.on('unreachable', (p, why) => events.push(`unreachable:${p}:${why}`));
    const address = child.address;
    a.setPeers({ b: address });
    const answers: Message[] = [];
    a.onMessage((m) => answers.push(m));
    await waitFor(() => a.stats().peers.b!.connected && a.stats().peers.b!.inboundConnected, 'links with b', WAIT_MS);
    a.send(appMessage('a', 'b', 1));
    await waitFor(() => answers.length === 1, 'first answer');

    await child.kill('SIGKILL');
    await waitFor(() => !a.stats().peers.b!.connected, 'a to see b die');
    await waitFor(() => events.includes('unreachable:b:disconnected'), 'unreachable event');
    // While b is down, sends are dropped and counted (not buffered).
    await sleep(100);
    for (let i = 0; i < 10; i++) a.send(appMessage('a', 'b', 100 + i));
    await waitFor(() => a.stats().droppedPeerDown >= 10, 'the ten to be dropped (at once, or when the attempt under way fails)');

    child = await spawnEcho('b', a, address);
    await waitFor(() => a.stats().peers.b!.connected && a.stats().peers.b!.inboundConnected, 'links with the new b', WAIT_MS);
    t.true(a.stats().reconnects >= 1);
    t.deepEqual(events.filter((e) => e.startsWith('connected')), ['connected:b', 'connected:b']);
    answers.length = 0;
    a.send(appMessage('a', 'b', 7));
    await waitFor(() => answers.length === 1, 'answer from the restarted b');
    t.is(answers[0]!.index, 8);
  } finally {
    await child.kill();
    await a.close();
  }
});

test.serial('backpressure: a stopped reader (SIGSTOP) never makes the queue exceed its bound', async (t) => {
  const maxQueueBytes = 1024 * 1024;
  const a = await parent({ maxQueueBytes, maxQueueMessages: 100_000, maxInFlightBytes: 256 * 1024, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10_000 });
  const child = await spawnEcho('b', a);
  try {
    a.setPeers({ b: child.address });
    const reasons: string[] = [];
    a.on('unreachable', (_p, why) => reasons.push(why));
    const answers: Message[] = [];
    a.onMessage((m) => answers.push(m));
    await waitFor(() => a.stats().peers.b!.connected && a.stats().peers.b!.inboundConnected, 'links with b', WAIT_MS);

    child.proc.kill('SIGSTOP');
    const data = Buffer.alloc(4096, 7); // one buffer for every message: the test itself allocates little
    const memBefore = await settledMemory();
    let maxQueued = 0;
    let sent = 0;
    // Offer ~160 MB of 4 KiB messages, far beyond what the kernel buffers (a few MB) absorb.
    for (let burst = 0; burst < 400; burst++) {
      for (let i = 0; i < 100; i++) {
        const index = sent++;
        a.send({ ...appMessage('a', 'b', index, 0), entries: [{ index: index + 1, term: 1, type: 'normal', data }] });
      }
      const p = a.stats().peers.b!;
      maxQueued = Math.max(maxQueued, p.queuedBytes);
      t.true(p.inFlightBytes <= 256 * 1024 + 300 * 1024, `in flight ${p.inFlightBytes}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const memAfter = await settledMemory();
    const st = a.stats();
    t.log(`offered ${sent} messages (${((sent * 4200) / 1e6).toFixed(0)} MB); max queued ${maxQueued} B; dropped ${st.droppedQueueFull}; ` +
      `arrayBuffers grew ${((memAfter.arrayBuffers - memBefore.arrayBuffers) / 1e6).toFixed(1)} MB, heap ${((memAfter.heapUsed - memBefore.heapUsed) / 1e6).toFixed(1)} MB`);
    t.true(maxQueued <= maxQueueBytes, 'queue bytes never exceed the bound');
    t.true(st.droppedQueueFull > sent / 2, 'most of the offered load was dropped and counted');
    await waitFor(() => reasons.includes('queueFull'), 'unreachable(queueFull)');
    // Queue (1 MiB) + in flight (<= 512 KiB) + ws and socket internals; the offered load was 160 MB.
    // (serial: no other test of this file runs meanwhile, so process-wide figures are ours)
    t.true(memAfter.arrayBuffers - memBefore.arrayBuffers < 8 * 1024 * 1024, `buffers did not grow with the offered load (${memAfter.arrayBuffers - memBefore.arrayBuffers} B)`);
    t.true(memAfter.heapUsed - memBefore.heapUsed < 32 * 1024 * 1024, 'heap did not grow with the offered load');

    // Resumed, the peer drains what was kept and answers again.
    child.proc.kill('SIGCONT');
    await waitFor(() => a.stats().peers.b!.queuedBytes === 0, 'queue to drain', WAIT_MS);
    const before = answers.length;
    a.send(appMessage('a', 'b', 1_000_000));
    await waitFor(() => answers.slice(before).some((m) => m.index === 1_000_001), 'a fresh answer after SIGCONT', WAIT_MS);
  } finally {
    child.proc.kill('SIGCONT');
    await child.kill();
    await a.close();
  }
});

test('heartbeat: a peer that stops answering pings (SIGSTOP) is declared dead, then found again (SIGCONT)', async (t) => {
  const a = await parent({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300, handshakeTimeoutMs: 500 });
  const child = await spawnEcho('b', a, '127.0.0.1:0', false);
  try {
    a.setPeers({ b: child.address });
    const events: string[] = [];
    a.on('unreachable', (p, why) => events.push(`unreachable:${p}:${why}`));
    a.on('peerDisconnected', (p) => events.push(`disconnected:${p}`));
    a.on('peerConnected', (p) => events.push(`connected:${p}`));
    await waitFor(() => a.stats().peers.b!.connected && a.stats().peers.b!.inboundConnected, 'links with b', WAIT_MS);
    const stoppedAt = Date.now();
    child.proc.kill('SIGSTOP');
    await waitFor(() => events.includes('unreachable:b:heartbeatTimeout'), 'the heartbeat to time out', WAIT_MS);
    const detectedMs = Date.now() - stoppedAt;
    // Never before the timeout; how soon after depends on the machine's load (bench/ measures speed).
    t.true(detectedMs >= 300, `detected after ${detectedMs} ms`);
    t.true(events.includes('disconnected:b'));
    // Both directions: a's link (no pong) and b's link into a (no ping).
    await waitFor(() => a.stats().heartbeatTimeouts >= 2 && !a.stats().peers.b!.inboundConnected, 'the inbound side to be dropped too');
    // Reconnect attempts reach the stopped process's kernel but never complete the upgrade.
    await waitFor(() => a.stats().connectFailures >= 1, 'an attempt to time out', WAIT_MS);
    child.proc.kill('SIGCONT');
    await waitFor(() => a.stats().peers.b!.connected, 'a to reconnect after SIGCONT', WAIT_MS);
    t.is(events.filter((e) => e === 'connected:b').length, 2);
  } finally {
    child.proc.kill('SIGCONT');
    await child.kill();
    await a.close();
  }
});
