// `npm run sim -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS]`
// Runs random failure schedules through the pure core and reports speed and violations.
import { parseArgs } from 'node:util';
import { runSeed } from './schedule.js';

function usage(message: string): never {
  console.error(`sim: ${message}`);
  console.error('usage: npm run sim -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS]');
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      start: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      'chaos-ms': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage((err as Error).message);
}
const int = (name: string, v: string | undefined, dflt: number | undefined, min: number): number | undefined => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
};
const nodes = int('nodes', values.nodes, undefined, 1);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) usage(`--nodes must be 3 or 5, got ${nodes}`);
const chaosMs = int('chaos-ms', values['chaos-ms'], undefined, 0);
const single = int('seed', values.seed, undefined, 0);
const count = single !== undefined ? 1 : int('seeds', values.seeds, 1000, 1)!;
const start = single ?? int('start', values.start, 1, 0)!;

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
