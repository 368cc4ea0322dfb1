// `npm run sim -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS]`
// Runs random failure schedules through the pure core and reports speed and violations.
import { parseSeedArgs } from './seed-args.js';
import { runSeed } from './schedule.js';

const { nodes, chaosMs, single, count, start } = parseSeedArgs('sim', 'npm run sim -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS]', 1000);

const t0 = performance.now();
let steps = 0;
let failures = 0;
for (let i = 0; i < count; i++) {
  const res = runSeed({ seed: start + i, ...(nodes ? { nodes } : {}), ...(chaosMs !== undefined ? { chaosMs } : {}) });
  steps += res.steps;
  if (!res.ok) {
    failures++;
    console.log(`seed ${res.seed} (${res.nodes} nodes) FAILED:`);
    for (const v of res.violations.slice(0, 5)) console.log(`  [${v.kind}] at ${v.atMs.toFixed(1)} ms: ${v.message}`);
    console.log(`  replay: ${res.replay}`);
  } else if (single !== undefined) {
    console.log(`seed ${res.seed} (${res.nodes} nodes) ok: ${res.steps} steps, ${res.committed} entries applied, ${res.virtualMs.toFixed(0)} virtual ms`);
  }
  if (count > 1 && (i + 1) % 500 === 0) console.log(`... ${i + 1}/${count} seeds, ${failures} failed`);
}
const secs = (performance.now() - t0) / 1000;
console.log(
  `${count} seeds, ${steps} steps in ${secs.toFixed(1)} s: ${(count / secs).toFixed(1)} seeds/s, ${Math.round(steps / secs)} steps/s; ${failures} failed`,
);
process.exit(failures ? 1 : 0);
