// Start time of `conclave --help` as a user gets it: every workspace built, packed and
// npm-installed into a fresh application (scripts/pack.ts), then its node_modules/.bin/conclave
// run again and again, wall time from spawn to exit. Beside it, in alternating rounds so that
// the machine's drift lands on all alike: bare `node -e 0` (the floor: Node's own start) and
// the repository's bin, which runs the TypeScript source through tsx.
//
//   flock -x /tmp/conclave-bench.lock npm run bench -- cli-start [--quick]
//
// Target (issue 20): the installed `conclave --help` starts in under 150 ms (p50).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackages, installApp, packWorkspaces, plainNodeEnv, REPO_ROOT } from '../scripts/pack.js';

const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--quick') {
    console.error(`unknown option '${a}'; usage: npm run bench -- cli-start [--quick]`);
    process.exit(2);
  }
}
const quick = args.includes('--quick');
const ROUNDS = quick ? 3 : 10;
const RUNS_PER_ROUND = quick ? 5 : 10;
const RUN_TIMEOUT_MS = 30_000;
const TARGET_P50_MS = 150;

interface Subject {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly samplesMs: number[];
  /** CPU time (user + system) of all runs together, from the kernel's count for waited-for children. */
  cpuMs: number;
}

// Linux counts CPU time in clock ticks of 10 ms; summed over many runs the mean is fine. CPU
// time moves much less than wall time when other processes compete for the 2 cores.
const TICK_MS = 10;
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After the command: state is field 3; cutime and cstime are fields 16 and 17.
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) * TICK_MS;
}

function timeOnce(s: Subject, cwd: string): number {
  const cpuBefore = childrenCpuMs();
  const start = process.hrtime.bigint();
  const r = spawnSync(s.command, [...s.args], { cwd, env: s.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  s.cpuMs += childrenCpuMs() - cpuBefore;
  if (r.status !== 0) throw new Error(`${s.label} exited ${String(r.status ?? r.signal)}: ${r.stderr.toString()}`);
  return ms;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const root = mkdtempSync(join(tmpdir(), 'conclave-cli-start-'));
try {
  console.log('building, packing and installing the packages into a fresh application...');
  await buildPackages();
  const tarballs = join(root, 'tarballs');
  mkdirSync(tarballs);
  const app = join(root, 'app');
  await installApp(app, await packWorkspaces(tarballs));

  const plain = plainNodeEnv(process.env);
  const subjects: Subject[] = [
    { label: 'node -e 0 (floor)', command: process.execPath, args: ['-e', '0'], env: plain, samplesMs: [], cpuMs: 0 },
    { label: 'installed conclave --help', command: join(app, 'node_modules/.bin/conclave'), args: ['--help'], env: plain, samplesMs: [], cpuMs: 0 },
    { label: 'repository bin --help (tsx, source)', command: process.execPath, args: [join(REPO_ROOT, 'packages/admin/bin/conclave.mjs'), '--help'], env: plain, samplesMs: [], cpuMs: 0 },
  ];
  for (const s of subjects) {
    timeOnce(s, app); // warm the file cache
    s.cpuMs = 0;
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of subjects) for (let i = 0; i < RUNS_PER_ROUND; i++) s.samplesMs.push(timeOnce(s, app));
  }

  const floorP50 = quantile([...subjects[0]!.samplesMs].sort((a, b) => a - b), 0.5);
  console.log(`\n${ROUNDS * RUNS_PER_ROUND} runs each: wall time from spawn to exit, and CPU time (user + system), in ms:\n`);
  console.log(`${'what'.padEnd(40)}${'min'.padStart(8)}${'p50'.padStart(8)}${'p90'.padStart(8)}${'max'.padStart(8)}${'p50÷floor'.padStart(11)}${'cpu/run'.padStart(9)}${'cpu÷floor'.padStart(11)}`);
  const floorCpu = subjects[0]!.cpuMs;
  for (const s of subjects) {
    const sorted = [...s.samplesMs].sort((a, b) => a - b);
    const cells = [sorted[0]!, quantile(sorted, 0.5), quantile(sorted, 0.9), sorted[sorted.length - 1]!].map((v) => v.toFixed(1).padStart(8));
    console.log(`${s.label.padEnd(40)}${cells.join('')}${(quantile(sorted, 0.5) / floorP50).toFixed(2).padStart(11)}${(s.cpuMs / s.samplesMs.length).toFixed(1).padStart(9)}${(s.cpuMs / floorCpu).toFixed(2).padStart(11)}`);
  }
  const installedP50 = quantile([...subjects[1]!.samplesMs].sort((a, b) => a - b), 0.5);
  const met = installedP50 < TARGET_P50_MS;
  console.log(`\ntarget: installed conclave --help p50 < ${TARGET_P50_MS} ms: ${met ? 'MET' : 'MISSED'} (${installedP50.toFixed(1)} ms)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
