// The rollback report (issue 12 item 4) and the rules that decide a rollback (issue 12 item 2).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decideRollback, saveRollbackReport, type RollbackReport } from '../src/rollback.js';
import { tempDir } from './helpers.js';

function report(over: Partial<RollbackReport> = {}): RollbackReport {
  return {
    nodeId: 'n4',
    groupId: 'g',
    at: '2026-11-28T23:59:59.123Z',
    leader: 'n2',
    leaderTerm: 7,
    fromIndex: 35,
    toIndex: 47,
    lostWriteCount: 13,
    lostWrites: [{ index: 35, term: 4, command: { op: 'put', key: 'big5', value: Buffer.from('v5') } }],
    unlistedEntries: 0,
    exact: true,
    overrideSpan: null,
    leaderOverrideSpan: { from: 35, to: 0 },
    ...over,
  };
}

test('two rollbacks in the same millisecond get two report files; each lists what was lost', async (t) => {
  const dir = tempDir('rollback-report');
  try {
    const a = await saveRollbackReport(dir.path, report());
    const b = await saveRollbackReport(dir.path, report({ lostWriteCount: 1 }));
    t.not(a, b);
    const files = readdirSync(join(dir.path, 'rollbacks')).sort();
    t.is(files.length, 2);
    for (const f of files) t.regex(f, /^2026-11-28T23-59-59-123Z-n4-[0-9a-f]{12}\.json$/);
    const saved = JSON.parse(readFileSync(a, 'utf8'));
    t.is(saved.lostWriteCount, 13);
    t.deepEqual(saved.lostWrites[0].command.value, { base64: Buffer.from('v5').toString('base64') });
    t.true(saved.exact);
  } finally {
    dir.remove();
  }
});

test('a node id that is not a plain file name cannot escape the rollbacks directory', async (t) => {
  const dir = tempDir('rollback-report-id');
  try {
    const file = await saveRollbackReport(dir.path, report({ nodeId: '../../x' }));
    t.is(readdirSync(join(dir.path, 'rollbacks')).length, 1);
    t.true(file.startsWith(join(dir.path, 'rollbacks')));
  } finally {
    dir.remove();
  }
});

test('rollback rules: only an override explains a divergence; the limit applies unless accepted', (t) => {
  // The leader ran with an override from index 35: its divergence explains ours.
  t.deepEqual(decideRollback(report({ lostWriteCount: 3 }), { rollbackLimit: 10, accepted: false }), { action: 'rollBack' });
  const over = decideRollback(report(), { rollbackLimit: 10, accepted: false });
  t.is(over.action, 'prohibit');
  t.is(over.action === 'prohibit' && over.error.code, 'ROLLBACK_PROHIBITED');
  t.regex(over.action === 'prohibit' ? over.error.message : '', /roll back 13 committed writes, more than rollbackLimit 10 \(entries \[35, 47\]\).*conclave node accept-rollback --node n4 --yes/);
  // Our own override span covers the entries.
  t.is(decideRollback(report({ lostWriteCount: 2, leaderOverrideSpan: null, overrideSpan: { from: 40, to: 52 } }), { rollbackLimit: 10, accepted: false }).action, 'rollBack');
  // A span that ended before the divergence explains nothing.
  const damaged = decideRollback(report({ lostWriteCount: 2, leaderOverrideSpan: { from: 3, to: 20 }, overrideSpan: { from: 1, to: 34 } }), { rollbackLimit: 10, accepted: false });
  t.is(damaged.action, 'refuse');
  t.is(damaged.action === 'refuse' && damaged.error.code, 'DIVERGED_WITHOUT_OVERRIDE');
  t.regex(damaged.action === 'refuse' ? damaged.error.message : '', /entries \[35, 47\].*neither it nor the leader ran with an electable group size override.*keeps its data/);
  // The operator's acceptance covers both.
  t.is(decideRollback(report({ leaderOverrideSpan: null }), { rollbackLimit: 10, accepted: true }).action, 'rollBack');
  // An upper bound says so.
  const inexact = decideRollback(report({ exact: false }), { rollbackLimit: 10, accepted: false });
  t.regex(inexact.action === 'prohibit' ? inexact.error.message : '', /at index 35 or later .*up to 13 committed writes/);
});
