// A damaged data directory is refused, not used: LevelDB (without paranoid checks) drops a
// damaged write-ahead-log record silently, and a disk that lost synced writes looks like an
// ordinary crash. A node that started on either could vote twice in a term or lose an entry
// it helped commit. The hard state side file and LevelDB's own LOG catch both.
import test from 'ava';
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialGroup, type Entry } from '@conclave/core';
import { encodeCommand, NodeStorage } from '@conclave/storage';
import { removeDir, tempDir } from './helpers.js';

const FINAL = { term: 7, vote: 'n3', commit: 40 };

/** A directory whose last write-ahead-log record is the hard state FINAL (term 7, vote n3). */
async function prepare(): Promise<{ dir: string; wal: string; lastRecordBytes: number }> {
  const dir = tempDir('damaged-dir');
  const s = await NodeStorage.open({ path: dir, groupId: 'g' });
  await s.initializeGroup(initialGroup('g', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002', n3: '127.0.0.1:7003' }));
  const entries: Entry[] = [];
  for (let i = 1; i <= 40; i++) entries.push({ index: i, term: 5, type: 'normal', data: encodeCommand({ op: 'put', key: `k${i}`, value: `v${i}` }) });
  await s.writeReady({ hardState: { term: 5, vote: 'n1', commit: 40 }, entries });
  await s.applyEntries(entries);
  const wal = readdirSync(dir).find((f) => f.endsWith('.log'))!;
  const before = statSync(join(dir, wal)).size;
  await s.setHardState(FINAL);
  const lastRecordBytes = statSync(join(dir, wal)).size - before;
  await s.close();
  return { dir, wal: join(dir, wal), lastRecordBytes };
}

async function refusal(t: import('ava').ExecutionContext, dir: string): Promise<Error & { code?: string }> {
  let opened: NodeStorage | null = null;
  try {
    opened = await NodeStorage.open({ path: dir, groupId: 'g' });
  } catch (err) {
    return err as Error & { code?: string };
  }
  const hs = opened.hardState;
  await opened.close();
  t.fail(`opened the damaged directory with hard state ${JSON.stringify(hs)} (written: ${JSON.stringify(FINAL)})`);
  throw new Error('not refused');
}

function checkMessage(t: import('ava').ExecutionContext, err: Error & { code?: string }, dir: string, found: RegExp): void {
  t.is(err.code, 'STORAGE_DAMAGED', err.message);
  t.true(err.message.includes(dir), `names the directory: ${err.message}`);
  t.regex(err.message, found);
  t.regex(err.message, /remove the member.*back empty/i, 'gives the way out');
  t.regex(err.message, /docs\/reliability\.md/);
}

test('an intact directory opens with the last hard state', async (t) => {
  const { dir } = await prepare();
  try {
    const s = await NodeStorage.open({ path: dir, groupId: 'g' });
    t.deepEqual(s.hardState, FINAL);
    await s.close();
  } finally {
    removeDir(dir);
  }
});

test("a write-ahead-log record that LevelDB drops as damaged: refused, naming what LevelDB's LOG reported", async (t) => {
  const { dir, wal, lastRecordBytes } = await prepare();
  try {
    const bytes = readFileSync(wal);
    // Flip a byte inside the last record's payload: its checksum no longer matches.
    const at = bytes.length - Math.floor(lastRecordBytes / 2);
    bytes[at] = bytes[at]! ^ 0x40;
    writeFileSync(wal, bytes);
    const err = await refusal(t, dir);
    checkMessage(t, err, dir, /LevelDB's LOG reports.*(dropping|corruption|checksum)/i);
  } finally {
    removeDir(dir);
  }
});

test('a disk that lost a synced hard state (the log cut short, as an ordinary crash looks): refused by the side file', async (t) => {
  const { dir, wal, lastRecordBytes } = await prepare();
  try {
    truncateSync(wal, statSync(wal).size - lastRecordBytes + 3);
    const err = await refusal(t, dir);
    checkMessage(t, err, dir, /term 5.*older than.*term 7/);
  } finally {
    removeDir(dir);
  }
});

test('a damaged or missing hard state side file is refused', async (t) => {
  const { dir } = await prepare();
  try {
    const side = join(dir, 'CONCLAVE-HARDSTATE');
    const intact = readFileSync(side);
    const flipped = Buffer.from(intact);
    const at = intact.indexOf('"vote"') + 9;
    flipped[at] = flipped[at]! ^ 0x01; // a vote of 'n2' instead of 'n3'
    writeFileSync(side, flipped);
    checkMessage(t, await refusal(t, dir), dir, /side file .*checksum/);
    removeDir(side);
    checkMessage(t, await refusal(t, dir), dir, /side file .*missing/);
    writeFileSync(side, intact);
    const s = await NodeStorage.open({ path: dir, groupId: 'g' });
    t.deepEqual(s.hardState, FINAL);
    await s.close();
  } finally {
    removeDir(dir);
  }
});

test('the side file follows every change of term and vote, under every sync policy, through crashes', async (t) => {
  const dir = tempDir('side-file');
  try {
    for (const syncPolicy of ['sync', 'writeNoSync', 'noSync'] as const) {
      let s = await NodeStorage.open({ path: dir, syncPolicy });
      const start = s.hardState.term;
      for (let i = 1; i <= 5; i++) {
        await s.setHardState({ term: start + i, vote: i % 2 === 0 ? 'n2' : '', commit: 0 });
        // A crash right after the write resolved: what LevelDB has must not be older than the side file.
        await s.crash();
        s = await NodeStorage.open({ path: dir, syncPolicy });
        t.deepEqual(s.hardState, { term: start + i, vote: i % 2 === 0 ? 'n2' : '', commit: 0 }, `${syncPolicy} change ${i}`);
      }
      await s.close();
    }
  } finally {
    removeDir(dir);
  }
});
