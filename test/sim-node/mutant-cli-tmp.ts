import { applyMutant, type Mutant } from './mutants.js';
import { runSeed } from './schedule.js';
const which = process.argv[2] as Mutant;
const n = Number(process.argv[3] ?? 10);
const undo = applyMutant(which);
const t0 = performance.now();
let caught = -1; let why = '';
for (let seed = 1; seed <= n; seed++) {
  const r = await runSeed({ seed, ...(which === 'wall-clock-lease' ? { wallClockAsMonotonic: true } : {}) });
  if (!r.ok) { caught = seed; why = r.violations.slice(0, 2).join(' | ').slice(0, 300); break; }
}
undo();
console.log(`${which}: ${caught > 0 ? `caught at seed ${caught}` : `NOT caught in ${n} seeds`} (${((performance.now() - t0) / 1000).toFixed(1)} s) ${why}`);
