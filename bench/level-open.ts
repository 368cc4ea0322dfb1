// Open-to-first-write time of ConclaveLevel's group of one (issue 18): abstract-level's
// suite opens about 1,300 databases, and an application that swaps classic-level for
// ConclaveLevel opens one at start. Each sample: `new ConclaveLevel(location)`, open(),
// then one put() (acknowledged, so durable under the node's syncPolicy, fsync by default),
// wall time from the constructor to the put's answer; then close(). Beside it, in
// alternating samples: a fresh directory, a reopened one, and classic-level's open + one
// put with { sync: true } on a fresh directory (the floor: LevelDB's open and one fsync).
//
//   flock -x /tmp/conclave-bench.lock npm run bench -- level-open [--quick] [--samples N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { ConclaveLevel } from '../packages/conclave/src/index.js';

function usage(why: string): never {
  console.error(`${why}; usage: npm run bench -- level-open [--quick] [--samples N]`);
  process.exit(2);
}
const args = process.argv.slice(2);
let samples = 40;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--quick') samples = 10;
  else if (args[i] === '--samples') {
    samples = Number(args[++i]);
    if (!Number.isSafeInteger(samples) || samples < 1) usage(`--samples needs a positive integer (got ${String(args[i])})`);
  } else usage(`unknown option '${args[i]}'`);
}

const root = mkdtempSync(join(tmpdir(), 'conclave-bench-level-open-'));
let dirs = 0;
const fresh = (): string => join(root, `db${++dirs}`);
const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

interface Row {
  readonly label: string;
  readonly openMs: number[];
  readonly totalMs: number[];
}
const rows: Row[] = ['ConclaveLevel, fresh directory', 'ConclaveLevel, reopened', 'classic-level (floor), fresh'].map((label) => ({ label, openMs: [], totalMs: [] }));

async function conclave(row: Row, location: string): Promise<void> {
  const start = process.hrtime.bigint();
  const db = new ConclaveLevel(location);
  await db.open();
  row.openMs.push(ms(start));
  await db.put('k', 'v');
  row.totalMs.push(ms(start));
  await db.close();
}

async function classic(row: Row, location: string): Promise<void> {
  const start = process.hrtime.bigint();
  const db = new Level(location);
  await db.open();
  row.openMs.push(ms(start));
  await db.put('k', 'v', { sync: true });
  row.totalMs.push(ms(start));
  await db.close();
}

try {
  // One unmeasured round: module loading and the first LevelDB open.
  await conclave({ label: '', openMs: [], totalMs: [] }, fresh());
  for (let i = 0; i < samples; i++) {
    const location = fresh();
    await conclave(rows[0]!, location);
    await conclave(rows[1]!, location);
    await classic(rows[2]!, fresh());
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;
console.log(`level-open: ${samples} samples each, ms (median / p90)`);
for (const r of rows) {
  console.log(`  ${r.label.padEnd(32)} open ${median(r.openMs).toFixed(1).padStart(6)} / ${p90(r.openMs).toFixed(1).padStart(6)}   open + first put ${median(r.totalMs).toFixed(1).padStart(6)} / ${p90(r.totalMs).toFixed(1).padStart(6)}`);
}
console.log(`  fresh open + first put / classic-level's: ${(median(rows[0]!.totalMs) / median(rows[2]!.totalMs)).toFixed(1)}x`);
// The nodes' timers and sockets are closed; leave at once anyway, with the figures printed.
process.exit(0);
