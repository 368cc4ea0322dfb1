// `npm start`: runs the main job. Until openNode (issue 5) lands there is no node to run,
// so this says plainly what exists and runs what can be run: a short simulation of the core.
import { runSeed } from '../test/sim/schedule.js';

console.log(`conclave — an embeddable, Raft-replicated key-value store for Node.js

What exists today:
  packages/core       the consensus core (pure): elections with pre-vote and check-quorum,
                      pipelined replication, ReadIndex, leadership transfer, membership
                      changes, and JE HA's electable group size override
  packages/storage    LevelDB storage: log, hard state, group metadata, KV state machine, snapshots
  packages/transport  authenticated, bounded WebSocket peer links

Not yet: openNode() and a local group of node processes (the next issue). Until then,
here is the core running 20 simulated failure schedules (crashes, partitions, loss):
`);
let steps = 0;
const t0 = performance.now();
for (let seed = 1; seed <= 20; seed++) {
  const r = runSeed({ seed });
  steps += r.steps;
  console.log(`  seed ${String(seed).padStart(2)}: ${r.nodes} nodes, ${String(r.committed).padStart(3)} entries committed, ${r.stats.crashes} crashes, ${r.stats.elections} leaders — ${r.ok ? 'all invariants held' : 'VIOLATION: ' + r.violations[0]!.message}`);
}
console.log(`\n${steps} simulation steps in ${((performance.now() - t0) / 1000).toFixed(2)} s. Soak with: npm run sim -- --seeds 10000`);
