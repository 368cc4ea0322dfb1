// `npm run nemesis -- --check FILE [--json]` on a Jepsen log and on a history of our own.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastJsonLine, nemesisCli } from './cli-process.js';
import type { HistoryEvent } from './history.js';

const JEPSEN = fileURLToPath(new URL('../../../shared/jepsen-etcd-histories/', import.meta.url));
const DEADLINE_MS = 60_000;

test('--check on a Jepsen log that is not linearizable: exit 1, the failing history by line, a JSON summary last', async (t) => {
  const run = await nemesisCli(['--check', `${JEPSEN}etcd_014.log`, '--json'], DEADLINE_MS);
  t.is(run.code, 1, run.stderr);
  t.regex(run.stdout, /jepsen: NOT linearizable/);
  t.regex(run.stdout, /line\s+\d+\s+p\d+ invoke/);
  t.like(lastJsonLine(run.stdout), { ok: false, format: 'jepsen-log', violations: 1, checkedKeys: 1 });
});

test('--check on a linearizable Jepsen log exits 0', async (t) => {
  const run = await nemesisCli(['--check', `${JEPSEN}etcd_100.log`, '--json'], DEADLINE_MS);
  t.is(run.code, 0, run.stderr);
  t.like(lastJsonLine(run.stdout), { ok: true, violations: 0, unknownKeys: 0 });
});

test('--check on our own JSON history; a file that is neither is refused with exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conclave-check-'));
  try {
    const events: HistoryEvent[] = [
      { type: 'invoke', process: 0, key: 'r0', op: { f: 'write', value: 'a' }, atMs: 0 },
      { type: 'ok', process: 0, key: 'r0', op: { f: 'write', value: 'a' }, atMs: 1 },
      { type: 'invoke', process: 1, key: 'r0', op: { f: 'read', value: null }, atMs: 2 },
      { type: 'ok', process: 1, key: 'r0', op: { f: 'read', value: null }, atMs: 3 },
    ];
    writeFileSync(join(dir, 'h.json'), JSON.stringify({ seed: 1, events }));
    const stale = await nemesisCli(['--check', join(dir, 'h.json'), '--json'], DEADLINE_MS);
    t.is(stale.code, 1, stale.stderr);
    t.like(lastJsonLine(stale.stdout), { ok: false, format: 'conclave-json', violations: 1, operations: 2 });
    writeFileSync(join(dir, 'bad.json'), '{"no": "events"}');
    const bad = await nemesisCli(['--check', join(dir, 'bad.json')], DEADLINE_MS);
    t.is(bad.code, 2);
    t.regex(bad.stderr, /without an "events" array/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed nemesis arguments: exit 2 naming what was wrong, before any node starts', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--network', 'bogus'], /--network must be hook or netns, got 'bogus'/],
    [['--clock', 'sideways'], /--clock must be within or beyond, got 'sideways'/],
    [['--faults', 'kill,meteor'], /--faults: unknown kind 'meteor'/],
    [['--faults', 'clock-step'], /--faults clock-step needs --clock/],
    [['--faults', 'disk-error'], /--faults disk-error needs --disk/],
    [['--lock-holders', 'many'], /--lock-holders must be an integer from 0 to 20, got 'many'/],
  ];
  const runs = await Promise.all(cases.map(([args]) => nemesisCli([...args, '--seconds', '1'], DEADLINE_MS)));
  runs.forEach((run, i) => {
    t.is(run.code, 2, `${cases[i]![0].join(' ')}: ${run.stdout}${run.stderr}`);
    t.regex(run.stderr, cases[i]![1]);
    t.notRegex(run.stdout, /seed \d+: \d+ nodes/, 'no run started');
  });
});
