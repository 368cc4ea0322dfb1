// `npm run nemesis -- --minutes 30`: the soak. Stops by itself after the duration, heals,
// checks, prints the figures, exits 0 (linearizable, nothing lost) or 1.
// `--check FILE` re-checks a saved history (ours, or a Jepsen register log); `--seed N`
// fixes the schedule's seed; `--json` ends the output with a one-line summary for scripts.
import { parseArgs } from 'node:util';
import { checkHistoryFile, formatFileCheck } from './check-file.js';
import { formatReport, runNemesis } from './run.js';
import { CLOCK_MODES, type ClockMode } from './clock.js';
import { ALL_FAULT_KINDS, type FaultKind } from './faults.js';
import { summarizeFileCheck, summarizeRun } from './summary.js';
import { TtyProgress } from '../../scripts/tty-progress.js';

const USAGE = `usage: npm run nemesis -- [--minutes N | --seconds N] [--seed N] [--clients N] [--keys N] [--keep-history] [--out DIR]
                             [--read-consistency linearizable|lease|none]   (weaker reads: to see the checker catch them)
                             [--network hook|netns]   (netns: each node in its own network namespace, links cut by the kernel; root only)
                             [--clock within|beyond]   (nodes under libfaketime: clock steps and drift within the lease's bound, or a leader's clock far beyond it)
                             [--disk]   (nodes under libfiu: fdatasync, open or write fail with EIO or ENOSPC on one node for a while)
                             [--faults KIND,...]   (only these fault kinds; see the list below)
                             [--lock-holders N]   (lock workload: N holder processes take one lock and write a fenced register; default 3, 0 turns it off)
                             [--json]   (last line: a JSON summary)
       npm run nemesis -- --check FILE [--json]   (FILE: a history the nemesis saved, or a Jepsen register log)`;

function positiveInt(name: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > max) {
    console.error(`nemesis: --${name} must be an integer from 1 to ${max}, got '${v}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      clients: { type: 'string' },
      keys: { type: 'string' },
      out: { type: 'string' },
      'keep-history': { type: 'boolean' },
      'read-consistency': { type: 'string' },
      check: { type: 'string' },
      json: { type: 'boolean' },
      network: { type: 'string' },
      clock: { type: 'string' },
      disk: { type: 'boolean' },
      faults: { type: 'string' },
      'lock-holders': { type: 'string' },
      help: { type: 'boolean' },
    },
  }).values;
} catch (err) {
  console.error(`nemesis: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

if (args.check) {
  let checked;
  try {
    checked = checkHistoryFile(args.check);
  } catch (err) {
    console.error(`nemesis: --check: ${(err as Error).message}`);
    process.exit(2);
  }
  console.log(formatFileCheck(checked));
  if (args.json) console.log(JSON.stringify(summarizeFileCheck(checked)));
  process.exit(checked.result.linearizable === true ? 0 : 1);
}

const seconds = args.seconds !== undefined ? positiveInt('seconds', args.seconds, 60, 24 * 3600) : positiveInt('minutes', args.minutes, 1, 24 * 60) * 60;
const readConsistency = args['read-consistency'] ?? 'linearizable';
if (readConsistency !== 'linearizable' && readConsistency !== 'lease' && readConsistency !== 'none') {
  console.error(`nemesis: --read-consistency must be linearizable, lease or none, got '${readConsistency}'\n${USAGE}`);
  process.exit(2);
}
const network = args.network ?? 'hook';
if (network !== 'hook' && network !== 'netns') {
  console.error(`nemesis: --network must be hook or netns, got '${network}'\n${USAGE}`);
  process.exit(2);
}
const clock = args.clock;
if (clock !== undefined && !(CLOCK_MODES as readonly string[]).includes(clock)) {
  console.error(`nemesis: --clock must be ${CLOCK_MODES.join(' or ')}, got '${clock}'\n${USAGE}`);
  process.exit(2);
}
let faults: FaultKind[] | undefined;
if (args.faults !== undefined) {
  faults = args.faults.split(',').map((k) => k.trim()) as FaultKind[];
  const unknown = faults.filter((k) => !(ALL_FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0 || faults.length === 0) {
    console.error(`nemesis: --faults: unknown kind '${unknown.join(',')}' (known: ${ALL_FAULT_KINDS.join(', ')})\n${USAGE}`);
    process.exit(2);
  }
  if (faults.includes('disk-error') && !args.disk) {
    console.error(`nemesis: --faults disk-error needs --disk\n${USAGE}`);
    process.exit(2);
  }
  const needsClock = faults.filter((k) => k.startsWith('clock-'));
  if (needsClock.length > 0 && clock === undefined) {
    console.error(`nemesis: --faults ${needsClock.join(',')} needs --clock\n${USAGE}`);
    process.exit(2);
  }
}
const lockHoldersArg = args['lock-holders'];
if (lockHoldersArg !== undefined && !(/^\d+$/.test(lockHoldersArg) && Number(lockHoldersArg) <= 20)) {
  console.error(`nemesis: --lock-holders must be an integer from 0 to 20, got '${lockHoldersArg}'\n${USAGE}`);
  process.exit(2);
}
const lockHolders = lockHoldersArg === undefined ? 3 : Number(lockHoldersArg);
// An interrupt still removes the namespaces and stops the nodes (exit hooks run on exit()).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const seed = args.seed !== undefined ? positiveInt('seed', args.seed, 1, 2 ** 31) : Math.floor(Math.random() * 2 ** 31) + 1;
// On a terminal: the last fault (or step), elapsed and remaining time of the soak (then the final checks).
const progress = new TtyProgress(process.stderr, (elapsedMs) => Math.max(0, seconds * 1000 - elapsedMs));
const report = await runNemesis({
  durationMs: seconds * 1000,
  seed,
  clients: positiveInt('clients', args.clients, 10, 100),
  keys: positiveInt('keys', args.keys, 5, 100),
  keepHistory: args['keep-history'] === true,
  readConsistency,
  network,
  lockHolders,
  ...(clock ? { clock: clock as ClockMode } : {}),
  ...(faults ? { faults } : {}),
  ...(args.disk ? { disk: true } : {}),
  ...(args.out ? { outDir: args.out } : {}),
  log: (line) => {
    progress.set(line.split('\n')[0]!.slice(0, 80));
    progress.print(`[nemesis] ${line}`);
  },
});
progress.stop();
console.log(formatReport(report));
if (args.json) console.log(JSON.stringify(summarizeRun(report)));
process.exit(report.ok ? 0 : 1);
