// 1,000 idle unauthenticated sockets against every member of a group: the peers stay
// connected, a restarted member gets back in (through its reserved pool), and writes that
// need every member go on. Before admission control the flood took all 256 slots and the
// restarted member could not reach the leader.
import test from 'ava';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { openNode } from '../src/index.js';
import { startGroup, waitFor } from './helpers.js';

const SOCKETS = 1000;

/** Opens one WebSocket upgrade to /peer and keeps it idle; resolves with the status (101 accepted, 503 refused). */
function idleSocket(address: string, sockets: Socket[]): Promise<number> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const req = request({
      host,
      port: Number(port),
      path: '/peer',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (res, socket) => {
      socket.on('error', () => {});
      sockets.push(socket as Socket);
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(-1));
    req.setTimeout(10_000, () => req.destroy());
    req.end();
  });
}

interface TransportView {
  stats(): { peers: Record<string, { connected: boolean; inboundConnected: boolean }>; admission: Record<string, number>; handshakeRejects: { tooManyConnections: number } };
}
const transportOf = (node: unknown): TransportView => (node as { ctx: { transport: TransportView } }).ctx.transport;

test('1,000 idle unauthenticated sockets: peers stay connected, a restarted member gets back in, writes go on', async (t) => {
  t.timeout(90_000);
  const group = await startGroup(3);
  const sockets: Socket[] = [];
  try {
    const leader = await group.waitForLeader(10_000);
    await leader.put('before', 1, { durability: { replicaAck: 'all' } });
    const statuses = new Map<number, number>();
    const addresses = Object.values(group.peers);
    for (let i = 0; i < SOCKETS; i += 100) {
      const wave = await Promise.all(Array.from({ length: 100 }, (_, k) => idleSocket(addresses[(i + k) % addresses.length]!, sockets)));
      for (const s of wave) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    t.log(`flood: ${JSON.stringify(Object.fromEntries(statuses))} (status -> sockets)`);
    // All from one address (loopback): each member holds at most maxUnauthenticatedPerAddress of them.
    t.true((statuses.get(101) ?? 0) <= 16 * addresses.length, `${statuses.get(101) ?? 0} unauthenticated sockets accepted`);
    t.is((statuses.get(101) ?? 0) + (statuses.get(503) ?? 0), SOCKETS, 'each was accepted or refused with 503');

    // Restart a follower while the flood holds: its links must get back in.
    const followerId = [...group.nodes].find(([, n]) => n !== leader)![0];
    await group.nodes.get(followerId)!.close();
    group.nodes.set(followerId, await openNode(group.options(followerId)));
    for (let i = 0; i < 20; i++) await leader.put(`during${i}`, i, { durability: { replicaAck: 'all', ackTimeoutMs: 10_000 } });
    t.is(await leader.get('during19'), 19);
    await waitFor(() => Object.entries(transportOf(leader).stats().peers).every(([, p]) => p.connected && p.inboundConnected), 10_000, 'the leader connected both ways to every peer');
    const admission = transportOf(leader).stats().admission;
    t.log(`leader admission counters: ${JSON.stringify(admission)}`);
    t.true(admission.refusedPerAddress! + admission.refusedUnauthenticated! + admission.refusedNoSlot! > 0, 'refusals are counted');
  } finally {
    for (const s of sockets) s.destroy();
    await group.close();
  }
});
