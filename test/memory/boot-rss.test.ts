// Memory bounded by bytes: a node that wrote far more 512 KiB values than its log bound
// restarts with a peak RSS near that of an empty node, not one that grows with the log.
// Before the byte bounds the whole log (up to 18,432 entries) was kept, read at boot in
// steps of 1,000 entries, and held in memory.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../packages/conclave/test/helpers.js';

const FIXTURE = new URL('./rss-node.ts', import.meta.url).pathname;
const MiB = 1024 * 1024;
const BOUND_BYTES = 8 * MiB;
const VALUES = 240; // 120 MiB of values: fifteen times the bound

function run(args: string[], timeoutMs: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { timeout: timeoutMs, env: { ...process.env, CONCLAVE_TEST_BOUND_BYTES: String(BOUND_BYTES) } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${args[0]} failed: ${err.message}\n${stderr}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      resolve(JSON.parse(line) as Record<string, number>);
    });
  });
}

test('a restart after writing 15x the log bound in 512 KiB values peaks near the RSS of an empty node', async (t) => {
  t.timeout(240_000);
  const root = mkdtempSync(join(tmpdir(), 'conclave-rss-'));
  try {
    const [p1, p2] = await freePorts(2);
    // The baseline: the same process booting an empty node.
    const empty = await run(['boot', join(root, 'empty'), String(p1)], 60_000);
    const dir = join(root, 'full');
    await run(['write', dir, String(p2), String(VALUES)], 180_000);
    const full = await run(['boot', dir, String(p2)], 60_000);
    t.is(full.big0Bytes, 512 * 1024, 'the data is there');
    const growth = full.maxRssBytes! - empty.maxRssBytes!;
    t.log(`peak RSS: empty ${(empty.maxRssBytes! / MiB).toFixed(0)} MiB, after ${VALUES} x 512 KiB ${(full.maxRssBytes! / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)} MiB; log bound ${BOUND_BYTES / MiB} + ${BOUND_BYTES / MiB} MiB)`);
    // The log kept is at most ~2 bounds; LevelDB replays its write-ahead log (up to its
    // 32 MiB write buffer) at open; the rest is the heap's garbage not yet collected, which
    // varies with the machine's load: +60 to +80 MiB were seen on one build (80 in a full
    // parallel test run). The whole log would be 120 MiB, read in one step, on top of the replay.
    t.true(growth < 2 * BOUND_BYTES + 80 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
