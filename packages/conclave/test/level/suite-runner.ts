// Runs abstract-level's own test suite (with tape, as classic-level and memory-level do)
// against ConclaveLevel, and prints one closing line the ava test reads:
//   abstract-level: N passed, N failed (A assertions, F failed)
// Modes: `single` (the whole suite, sublevel pass included, on groups of one) and `group`
// (the modules that read and write through the member, on a follower of a fresh 3-member group).
// Usage: node --conditions=conclave-source --import=tsx suite-runner.ts single|group
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConclaveLevel, type ConclaveLevelOptions } from '../../src/index.js';
import { GroupMemberLevel } from './group-level.js';

const require = createRequire(import.meta.url);
const tape = require('tape') as typeof import('tape');
const suite = require('abstract-level/test') as ((o: object) => void) & { common(o: object): object };

const mode = process.argv[2];
if (mode !== 'single' && mode !== 'group') throw new Error('usage: suite-runner.ts single|group');

const root = mkdtempSync(join(tmpdir(), `conclave-level-${mode}-`));
let dbs = 0;
const location = (): string => join(root, `db${++dbs}`);
const factory =
  mode === 'single'
    ? (opts?: ConclaveLevelOptions<unknown, unknown>) => new ConclaveLevel(location(), opts)
    : (opts?: ConclaveLevelOptions<unknown, unknown>) => new GroupMemberLevel(location(), opts);

// Tests, counted per test: a test passes when every one of its assertions does.
const failedTests = new Map<number, string>();
const names = new Map<number, string>();
let asserts = 0;
let failedAsserts = 0;
const started = performance.now();
tape.createStream({ objectMode: true }).on('data', (row: { type: string; id?: number; test?: number; name?: string; ok?: boolean; actual?: unknown; expected?: unknown; error?: { stack?: string } }) => {
  if (row.type === 'test') names.set(row.id!, row.name!);
  else if (row.type === 'assert') {
    asserts++;
    if (!row.ok) {
      failedAsserts++;
      const name = names.get(row.test!) ?? String(row.test);
      failedTests.set(row.test!, name);
      console.log(`not ok: ${name} :: ${row.name} (actual ${inspect(row.actual)}, expected ${inspect(row.expected)})${row.error?.stack ? `\n  ${row.error.stack.split('\n').slice(0, 4).join('\n  ')}` : ''}`);
    }
  }
});
tape.onFinish(() => {
  const total = names.size;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`databases opened: ${dbs}; ${seconds} s`);
  console.log(`abstract-level: ${total - failedTests.size} passed, ${failedTests.size} failed (${asserts} assertions, ${failedAsserts} failed)`);
  rmSync(root, { recursive: true, force: true });
  // The suite leaves some databases open (e.g. the one that reads the manifest), and an open
  // node's timer and listener keep a process alive: leave now, with tape's verdict.
  process.exit(failedTests.size > 0 ? 1 : 0);
});

function inspect(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

// The modules of the group run: those whose reads and writes go through the member
// (forwarded writes, read points, snapshots); open, encoding and hook modules test
// abstract-level's own layer, the same on any node, and run in the single mode.
const GROUP_MODULES = [
  ...['put-test', 'get-test', 'del-test', 'put-get-del-test', 'get-many-test', 'has-test', 'has-many-test', 'batch-test', 'chained-batch-test'],
  ...['iterator-test', 'iterator-range-test', 'async-iterator-test', 'iterator-seek-test', 'iterator-snapshot-test', 'iterator-explicit-snapshot-test'],
  ...['clear-test', 'clear-range-test', 'sublevel-test'],
];

if (mode === 'single') {
  suite({ test: tape, factory });
} else {
  const common = suite.common({ test: tape, factory });
  // A third argument picks modules (comma-separated), for a quicker look at one of them.
  const modules = process.argv[3]?.split(',') ?? GROUP_MODULES;
  for (const m of modules) {
    (require(`abstract-level/test/${m}`) as { all(test: unknown, common: unknown): void }).all(tape, common);
  }
}
