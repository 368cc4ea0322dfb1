// A lock workload in the whole-node simulation (issue #17): a worker on every member takes
// the same lock over and over, holds it for a while, and writes its fencing token to a
// register; members crash (holders among them) and restart, leaders change, clocks drift
// within MAX_DRIFT. The checker: ordered by fencing token, no two holders at once (each
// holding ends, by release or by its member's death, before the next token's holding starts),
// tokens increase with the order holders got the lock, and the register only ever moved up.
import test from 'ava';
import { SimNodeCluster } from './cluster.js';
import { MAX_DRIFT } from './sim-clock.js';
import { checkMutualExclusion, type Holding } from '../lock-check/lock-check.js';

const TTL_MS = 2000;

for (const seed of [11, 12, 13]) {
  test.serial(`seed ${seed}: lock workload under crashes and drift: no two holders at once, tokens in order`, async (t) => {
    const c = new SimNodeCluster({ seed, nodes: 3 });
    const ids = Object.keys(c.peers);
    ids.forEach((id, i) => c.setRate(id, [1 + MAX_DRIFT, 1 - MAX_DRIFT, 1][(i + seed) % 3]!));
    for (const id of ids) c.start(id);
    t.true(await c.run(10_000, () => c.leader() !== null), 'a leader');
    const holdings: Holding[] = [];
    const holding = new Map<string, Holding>();
    let register = 0;
    const registerViolations: string[] = [];
    const workers = ids.map(async (id) => {
      // Bounded: each turn either takes the lock or waits for the member; the run's clock ends it.
      for (let turn = 0; turn < 200; turn++) {
        const h = c.hosts.get(id)!;
        const node = h.node;
        if (h.state !== 'up' || node === null) {
          await c.sched.sleep(200, null, `worker ${id} waits for its member`);
          continue;
        }
        const owner = h.owner;
        try {
          const lock = await node.lock('register', { ttlMs: TTL_MS, timeoutMs: 20_000 });
          if (h.owner !== owner) continue; // the member died meanwhile
          const mine: Holding = { worker: id, token: lock.fencingToken, startMs: c.sched.nowMs, endMs: null };
          holdings.push(mine);
          holding.set(id, mine);
          // The register keeps the highest token written: a lower one is a fencing violation.
          if (lock.fencingToken < register) registerViolations.push(`${id} wrote token ${lock.fencingToken} after ${register}`);
          register = Math.max(register, lock.fencingToken);
          await node.put('register', lock.fencingToken).catch(() => {});
          await c.sched.sleep(300, null, `worker ${id} holds the lock`);
          if (h.owner !== owner) continue;
          mine.endMs = c.sched.nowMs;
          holding.delete(id);
          await lock.release().catch(() => {});
        } catch {
          await c.sched.sleep(100, null, `worker ${id} retries`);
        }
      }
    });
    void workers;
    // The nemesis: crash a member now and then (often the holder), restart it later.
    for (let round = 0; round < 6; round++) {
      await c.run(3000);
      const victim = [...holding.keys()][0] ?? ids[round % ids.length]!;
      const held = holding.get(victim);
      c.crash(victim);
      if (held) {
        // A dead holder does nothing more: its holding ends here.
        held.endMs = c.sched.nowMs;
        holding.delete(victim);
      }
      await c.run(1500);
      c.restart(victim);
    }
    await c.run(5000);
    const violations = checkMutualExclusion(holdings, c.sched.nowMs);
    t.log(`${holdings.length} holdings, tokens ${holdings.map((h) => h.token).join(' ')}`);
    t.true(holdings.length >= 6, `the workload took the lock often enough (${holdings.length})`);
    t.deepEqual(violations, []);
    t.deepEqual(registerViolations, []);
    t.deepEqual(c.violations, []);
  });
}
