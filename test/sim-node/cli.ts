// `npm run sim:node -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS]`
// Runs whole-node simulation seeds; --seed replays one and prints its trace.
import { parseArgs } from 'node:util';
import { runSeed } from './schedule.js';

function usage(message: string): never {
  console.error(`sim:node: ${message}`);
  console.error('usage: npm run sim:node -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS] [--trace-lines N]');
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
      'trace-lines': { type: 'string' },
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
const traceLines = int('trace-lines', values['trace-lines'], undefined, 0);
const count = single !== undefined ? 1 : int('seeds', values.seeds, 100, 1)!;
const start = single ?? int('start', values.start, 1, 0)!;

const t0 = performance.now();
let simulatedMs = 0;
let failures = 0;
for (let i = 0; i < count; i++) {
  const res = await runSeed({ seed: start + i, keepTrace: single !== undefined, ...(nodes ? { nodes } : {}), ...(chaosMs !== undefined ? { chaosMs } : {}) });
  simulatedMs += res.simulatedMs;
  if (single !== undefined) {
    const lines = traceLines === undefined ? res.trace : res.trace.slice(-traceLines);
    for (const line of lines) console.log(line);
    console.log(`stats: ${JSON.stringify(res.stats)}`);
    console.log(`digest: ${res.digest}`);
  }
  if (!res.ok) {
    failures++;
    console.log(`seed ${res.seed} (${res.nodes} nodes) FAILED:`);
    for (const v of res.violations.slice(0, 5)) console.log(`  ${v}`);
    console.log(`  replay: ${res.replay}`);
  } else if (single !== undefined) {
    console.log(`seed ${res.seed} (${res.nodes} nodes) ok: ${res.steps} events, ${(res.simulatedMs / 1000).toFixed(1)} simulated s`);
  }
  if (count > 1 && (i + 1) % 50 === 0) console.log(`... ${i + 1}/${count} seeds, ${failures} failed`);
}
const secs = (performance.now() - t0) / 1000;
console.log(`${count} seeds in ${secs.toFixed(1)} s: ${(count / secs).toFixed(2)} seeds/s, ${(simulatedMs / 1000 / secs).toFixed(1)} simulated s per wall s; ${failures} failed`);
process.exit(failures ? 1 : 0);
