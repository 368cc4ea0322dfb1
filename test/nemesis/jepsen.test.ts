// The checker on histories it did not come from: the 72 Jepsen histories of etcd in
// ../shared/jepsen-etcd-histories, each with its established verdict. Values repeat there
// (small integers written again and again), failed CASes do not say what they found, and
// timed-out writes are open to the end. Every file listed must get its verdict, within the
// checker's step budget and a time bound per file; a disagreement is a checker bug.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { operationsOf } from './history.js';
import { JepsenParseError, parseJepsenLog } from './jepsen.js';
import { checkHistory } from './linearizability.js';

const DIR = fileURLToPath(new URL('../../../shared/jepsen-etcd-histories/', import.meta.url));
/** Per file: far above the slowest file's few seconds alone, for a loaded 2-core machine. */
const FILE_TIMEOUT_MS = 90_000;

const verdicts = readFileSync(`${DIR}verdicts.txt`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => {
    const [file, verdict] = l.trim().split(/\s+/);
    if (!file || (verdict !== 'linearizable' && verdict !== 'not-linearizable')) throw new Error(`verdicts.txt: cannot read '${l}'`);
    return { file, linearizable: verdict === 'linearizable' };
  });

test('every history has a verdict, and every verdict a history: 72 in all', (t) => {
  const logs = readdirSync(DIR).filter((f) => f.endsWith('.log')).sort();
  t.deepEqual(verdicts.map((v) => v.file).sort(), logs);
  t.is(logs.length, 72);
  t.true(verdicts.some((v) => v.linearizable) && verdicts.some((v) => !v.linearizable));
});

for (const { file, linearizable } of verdicts) {
  test(`${file}: ${linearizable ? 'linearizable' : 'not linearizable'}, as Jepsen's verdict says`, (t) => {
    t.timeout(FILE_TIMEOUT_MS);
    const ops = operationsOf(parseJepsenLog(readFileSync(`${DIR}${file}`, 'utf8')));
    t.true(ops.length > 50, `${ops.length} operations`);
    const started = Date.now();
    // The verdict does not depend on shrinking; a small budget keeps the suite short.
    const res = checkHistory(ops, { shrinkSteps: 300_000 });
    t.log(`${ops.length} operations, ${res.keys[0]!.configurations} configurations, ${Date.now() - started} ms`);
    t.is(res.linearizable, linearizable, res.keys[0]!.message);
    if (!linearizable) t.true((res.keys[0]!.failure?.ops.length ?? 0) > 0, 'the failing history is printed');
  });
}

const log = (...lines: string[]) => lines.map((l) => `INFO  jepsen.util - ${l}`).join('\n');

test('the parser maps Jepsen outcomes: :fail of a cas ran and did not match, :fail of a read did not happen, :info is unknown', (t) => {
  const events = parseJepsenLog(
    [
      'INFO  jepsen.core - some other logger line',
      log('0\t:invoke\t:cas\t[1 4]', '1\t:invoke\t:read\tnil', '2\t:invoke\t:write\t3', '0\t:fail\t:cas\t[1 4]', '1\t:fail\t:read\t:timed-out', '2\t:info\t:write\t:timed-out'),
      log('3   :invoke :write  2', '3   :ok     :write  2', '4\t:invoke\t:read\tnil', '4\t:ok\t:read\t2', '5\t:invoke\t:cas\t[nil 1]'),
      '',
    ].join('\n'),
  );
  const ops = operationsOf(events);
  const byProcess = new Map(ops.map((o) => [o.process, o]));
  t.deepEqual([byProcess.get(0)!.outcome, byProcess.get(0)!.op], ['ok', { f: 'cas', expected: '1', next: '4', succeeded: false }]);
  t.is(byProcess.get(1)!.outcome, 'fail');
  t.deepEqual([byProcess.get(2)!.outcome, byProcess.get(2)!.error], ['info', 'timed-out']);
  t.deepEqual(byProcess.get(3)!.op, { f: 'write', value: '2' }, 'single spaces between fields');
  t.deepEqual(byProcess.get(4)!.op, { f: 'read', value: '2' });
  t.deepEqual([byProcess.get(5)!.outcome, byProcess.get(5)!.op], ['info', { f: 'cas', expected: null, next: '1' }], 'never completed: unknown');
});

test('the parser names the line of what it cannot read', (t) => {
  const cases: [string, RegExp][] = [
    [log('0\t:invoke\t:write\tx'), /line 1: expected nil or an integer, got 'x'/],
    [log('0\t:invoke\t:cas\t[1]'), /line 1: expected a cas argument/],
    [log('0\t:ok\t:write\t1'), /line 1: a completion of process 0, which has no open operation/],
    [log('0\t:invoke\t:write\t1', '0\t:invoke\t:read\tnil'), /line 2: process 0 invoked while its operation of line 1 is open/],
    [log('0\t:invoke\t:write\t1', '0\t:ok\t:read\t1'), /line 2: a :read completes the :write of line 1/],
    [log('0\t:invoke\t:append\t1'), /line 1: not a register event/],
  ];
  for (const [text, message] of cases) {
    const err = t.throws(() => parseJepsenLog(text), { instanceOf: JepsenParseError, message });
    t.is(err?.code, 'JEPSEN_PARSE');
  }
});
