// `npm run sim:node -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS]`
// Runs whole-node simulation seeds; --seed replays one and prints its trace.
import { intOption, parseSeedArgs } from '../sim/seed-args.js';
import { runSeed } from './schedule.js';

const args = parseSeedArgs('sim:node', 'npm run sim:node -- [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS] [--trace-lines N]', 100, ['trace-lines']);
const { nodes, chaosMs, single, count, start } = args;
const traceLines = intOption(args, 'trace-lines', 0);

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
