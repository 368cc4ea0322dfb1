// The whole-node simulation in npm test: full ConclaveNodes on simulated clocks, disks and
// network, under seeded faults; every history checked. `npm run sim:node -- --seeds N`
// runs more; CONCLAVE_SIM_NODE_SEEDS sets how many run here.
import test from 'ava';
import { runSeed, type SeedResult } from './schedule.js';

const SEEDS = Number(process.env.CONCLAVE_SIM_NODE_SEEDS ?? 24);

test.serial('one seed replays bit for bit: the same trace, history and digest', async (t) => {
  const a = await runSeed({ seed: 4242, chaosMs: 4000, keepTrace: true });
  const b = await runSeed({ seed: 4242, chaosMs: 4000, keepTrace: true });
  const c = await runSeed({ seed: 4243, chaosMs: 4000 });
  t.true(a.steps > 1000, `a busy run (${a.steps} events)`);
  t.deepEqual(a.trace, b.trace);
  t.deepEqual(a.history, b.history);
  t.is(a.digest, b.digest);
  t.not(a.digest, c.digest);
});

test.serial(`${SEEDS} seeds of whole nodes under faults: linearizable, nothing acknowledged lost, every promise settles, failures say why`, async (t) => {
  const failures: SeedResult[] = [];
  const total: Record<string, number> = {};
  let simulatedMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < SEEDS; i++) {
    const res = await runSeed({ seed: 1 + i });
    if (!res.ok) failures.push(res);
    simulatedMs += res.simulatedMs;
    for (const [k, v] of Object.entries(res.stats)) total[k] = (total[k] ?? 0) + v;
  }
  const secs = (performance.now() - t0) / 1000;
  const report = failures
    .slice(0, 5)
    .map((f) => `seed ${f.seed}:\n  ${f.violations.slice(0, 3).join('\n  ')}\n  replay: ${f.replay}`)
    .join('\n');
  t.is(failures.length, 0, report);
  t.log(`${SEEDS} seeds in ${secs.toFixed(1)} s (${(SEEDS / secs).toFixed(2)} seeds/s, ${(simulatedMs / 1000 / secs).toFixed(1)} simulated s per wall s)`);
  t.log(JSON.stringify(total));
  // The schedules must exercise what they claim to.
  t.true(total['client.ok']! > SEEDS * 200, 'clients complete operations');
  t.true(total.crashes! > SEEDS, 'nodes crash and restart');
  t.true(total.pauses! > 0, 'nodes pause');
  t.true(total.failStops! > 0, 'disk faults fail nodes, which say why');
  t.true(total.leaderChanges! > SEEDS * 2, 'leaders change');
  t.true(total.snapshotsDelivered! > 0, 'followers catch up through snapshots');
  t.true(total['client.large']! > 0, 'values near the limits are written');
  t.true(total['net.dropped']! > 0 && total['net.duplicated']! > 0 && total['net.reordered']! > 0, 'the network loses, doubles and reorders');
});
