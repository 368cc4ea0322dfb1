// The driver takes time, randomness, storage and network only through its seams
// (src/seams.ts), so that the simulation can give it simulated ones.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeStorage, type NodeStorageOptions } from '@conclave/storage';
import { FaultInjector } from '@conclave/transport';
import { openNodeWith, socketNetwork, systemClock, type Clock, type Network, type PeerTransport, type Timer } from '../src/internal.js';
import { ManualClock } from './rooms.js';
import { freePorts, quietLogger, tempDir } from './helpers.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Where the process's own clock, timers, randomness or files may be used: the production seams. */
const ALLOWED: Record<string, RegExp[]> = {
  'seams.ts': [/./],
  // The production ReportFiles: the simulation replaces it whole.
  'rollback.ts': [/randomBytes/, /node:fs/],
};
const FORBIDDEN = [/\bDate\.now\(/, /new Date\(\)/, /\bperformance\b/, /(?<![.\w])setTimeout\(/, /(?<![.\w])setInterval\(/, /(?<![.\w])setImmediate\(/, /(?<![.\w])clearTimeout\(/, /(?<![.\w])clearInterval\(/, /\brandomBytes\b/, /Math\.random/, /node:fs/, /new Transport\(/, /AdminRpcClient\.connect/, /NodeStorage\.open/];

test('the driver reaches the clock, timers, randomness, disk and network only through its seams', (t) => {
  const offences: string[] = [];
  for (const file of readdirSync(SRC).filter((f) => f.endsWith('.ts'))) {
    const lines = readFileSync(join(SRC, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(line)) return;
      for (const re of FORBIDDEN) {
        if (re.test(line) && !(ALLOWED[file] ?? []).some((ok) => ok.test(line))) offences.push(`${file}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  t.deepEqual(offences, []);
});

test('openNodeWith runs a node on the seams it is given: its clock, its storage, its network', async (t) => {
  const [port] = await freePorts(1);
  const dir = tempDir('seams');
  const calls = { nowMs: 0, intervals: 0, immediates: 0, storageOpens: 0, transports: 0, randomBytes: 0 };
  const clock: Clock = {
    ...systemClock,
    nowMs: () => {
      calls.nowMs++;
      return systemClock.nowMs();
    },
    setInterval: (fn, ms): Timer => {
      calls.intervals++;
      return systemClock.setInterval(fn, ms);
    },
    setImmediate: (fn) => {
      calls.immediates++;
      systemClock.setImmediate(fn);
    },
  };
  let storageOptions: NodeStorageOptions | null = null;
  const network: Network = {
    createTransport: (o) => {
      calls.transports++;
      return socketNetwork.createTransport(o);
    },
    connectAdmin: socketNetwork.connectAdmin,
  };
  const node = await openNodeWith(
    { id: 'n1', dataDir: dir.path, listen: `127.0.0.1:${port}`, peers: { n1: `127.0.0.1:${port}` }, tickMs: 20, logger: quietLogger },
    {
      clock,
      network,
      random: {
        bytes: (n) => {
          calls.randomBytes++;
          return Buffer.alloc(n, 7);
        },
      },
      openStorage: (o) => {
        calls.storageOpens++;
        storageOptions = o;
        return NodeStorage.open({ ...o, backend: 'memory' });
      },
    },
  );
  try {
    const deadline = Date.now() + 10_000;
    while (!node.isLeader && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.true(node.isLeader, 'a one-member group elects itself');
    await node.put('k', 'v');
    t.is(await node.get('k'), 'v');
    t.is(calls.storageOpens, 1);
    t.is(calls.transports, 1);
    t.true(calls.intervals >= 1, 'the tick timer runs on the given clock');
    t.true(calls.immediates >= 1, 'the Ready loop is scheduled on the given clock');
    t.true(calls.nowMs >= 1, 'the core is fed the given clock');
    t.true(calls.randomBytes >= 2, 'the election seed and the read contexts come from the given randomness');
    t.is(storageOptions!.timers, clock, "storage's flush timer runs on the same clock");
  } finally {
    await node.close();
    dir.remove();
  }
});

test('a whole node runs on a manual clock, a memory disk and a stand-in network: nothing moves until the clock does', async (t) => {
  const clock = new ManualClock();
  const sent: unknown[] = [];
  const transport: PeerTransport = {
    listenAddress: '127.0.0.1:1',
    faults: new FaultInjector(1),
    start: async () => {},
    close: async () => {},
    onMessage: () => {},
    onSnapshot: () => {},
    on: () => undefined,
    send: (m) => {
      sent.push(m);
      return false;
    },
    sendSnapshot: async () => {
      throw new Error('no peers');
    },
    setPeers: () => {},
    registerAdminHandler: () => {},
    stats: () => ({ peers: {} }),
  };
  const node = await openNodeWith(
    { id: 'n1', dataDir: 'sim/n1', listen: '127.0.0.1:1', peers: { n1: '127.0.0.1:1' }, tickMs: 10, electionTicks: 10, logger: quietLogger },
    {
      clock,
      random: { bytes: (n) => Buffer.alloc(n, 3) },
      openStorage: (o) => NodeStorage.open({ ...o, backend: 'memory' }),
      network: { createTransport: () => transport, connectAdmin: async () => Promise.reject(new Error('no network')) },
    },
  );
  try {
    await clock.advance(0, realTurns);
    t.false(node.isLeader, 'no election without time');
    for (let i = 0; i < 100 && !node.isLeader; i++) await clock.advance(10, realTurns);
    t.true(node.isLeader, 'elected after some election timeouts of manual time');
    const put = node.put('k', 'v');
    for (let i = 0; i < 100 && !(await isSettled(put)); i++) await clock.advance(1, realTurns);
    t.is((await put).token.groupId, 'conclave');
    const get = node.get('k');
    for (let i = 0; i < 100 && !(await isSettled(get)); i++) await clock.advance(1, realTurns);
    t.is(await get, 'v');
    t.is(sent.length, 0, 'a one-member group sends nothing');
  } finally {
    const closing = node.close();
    for (let i = 0; i < 100 && !(await isSettled(closing)); i++) await clock.advance(1, realTurns);
    await closing;
  }
});

/** The memory disk answers on the event loop: give it real turns between timers. */
async function realTurns(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await realTurns();
  return settled;
}
