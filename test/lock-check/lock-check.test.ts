// The lock checker on hand-made histories: it must fail on holders at once and on an
// unfenced register, so that a clean run of the workloads means something.
import test from 'ava';
import { checkExcusedOverlaps, checkFencedRegister, checkMutualExclusion, findOverlaps, type FencedWrite, type Holding } from './lock-check.js';

test('checkMutualExclusion finds overlapping holders and accepts a clean history', (t) => {
  t.deepEqual(checkMutualExclusion([{ worker: 'a', token: 5, startMs: 0, endMs: 10 }, { worker: 'b', token: 9, startMs: 10, endMs: 20 }], 30), []);
  t.is(checkMutualExclusion([{ worker: 'a', token: 5, startMs: 0, endMs: 15 }, { worker: 'b', token: 9, startMs: 10, endMs: 20 }], 30).length, 1);
  t.is(checkMutualExclusion([{ worker: 'a', token: 9, startMs: 0, endMs: 5 }, { worker: 'b', token: 5, startMs: 10, endMs: 20 }], 30).length, 1, 'a later holder with a lower token');
  t.is(checkMutualExclusion([{ worker: 'a', token: 5, startMs: 0, endMs: 5 }, { worker: 'b', token: 5, startMs: 10, endMs: 20 }], 30).length, 1, 'two holdings with one token');
  t.is(checkMutualExclusion([{ worker: 'a', token: 5, startMs: 0, endMs: null }, { worker: 'b', token: 9, startMs: 10, endMs: 20 }], 30).length, 1, 'a holding not ended lasts until now');
  // Not only neighbours: a holder that outlives two successors overlaps both.
  const three: Holding[] = [{ worker: 'a', token: 1, startMs: 0, endMs: 50 }, { worker: 'b', token: 2, startMs: 10, endMs: 20 }, { worker: 'c', token: 3, startMs: 30, endMs: 40 }];
  t.is(checkMutualExclusion(three, 60).length, 2);
});

test('an overlap is excused only once the earlier lease could have ended', (t) => {
  // a's lease surely ran until 8 (its last acknowledged keep-alive's send plus the bounded TTL).
  const a: Holding = { worker: 'a#1', token: 5, startMs: 0, endMs: 30, protectedUntilMs: 8 };
  const late = findOverlaps([a, { worker: 'b#1', token: 9, startMs: 10, endMs: 20 }], 40);
  t.deepEqual(late.violations, []);
  t.is(late.excused.length, 1, 'b got the lock after a lease could have ended: a paused holder still believed');
  const early = findOverlaps([a, { worker: 'b#1', token: 9, startMs: 7, endMs: 20 }], 40);
  t.is(early.violations.length, 1, 'b got the lock while the lease surely ran');
  t.regex(early.violations[0]!, /while its lease was surely alive/);
  t.deepEqual(early.excused, []);
});

test('the fenced register: tokens never go down, one token is one holding, and a stale holder is refused once its successor wrote', (t) => {
  const w = (worker: string, token: number, revision: number): FencedWrite => ({ worker, token, revision });
  t.deepEqual(checkFencedRegister([w('a#1', 5, 6), w('a#1', 5, 8), w('b#1', 9, 11), w('b#1', 9, 12)]), [], 'one holding writes its token more than once');
  t.is(checkFencedRegister([w('b#1', 9, 11), w('a#1', 5, 12)]).length, 1, 'a lower token after a higher one');
  t.is(checkFencedRegister([w('a#1', 5, 12), w('b#1', 9, 11)]).length, 1, 'ordered by revision, not by the order given');
  t.is(checkFencedRegister([w('a#1', 5, 6), w('b#1', 5, 8)]).length, 1, 'two writers with the same token');

  // a paused past its lease (protected until 8), b holds from 10 and writes at revision 11.
  const a: Holding = { worker: 'a#1', token: 5, startMs: 0, endMs: 30, protectedUntilMs: 8 };
  const b: Holding = { worker: 'b#1', token: 9, startMs: 10, endMs: 20 };
  const { excused } = findOverlaps([a, b], 40);
  const fenced = [w('a#1', 5, 6), w('b#1', 9, 11)]; // a's write after the pause was refused: not accepted
  t.deepEqual(checkFencedRegister(fenced), []);
  t.deepEqual(checkExcusedOverlaps(excused, fenced), []);
  // An unfenced register would have taken a's stale write after b's.
  const unfenced = [...fenced, w('a#1', 5, 13)];
  t.is(checkFencedRegister(unfenced).length, 1);
  t.is(checkExcusedOverlaps(excused, unfenced).length, 1);
  t.regex(checkExcusedOverlaps(excused, unfenced)[0]!, /a#1 \(token 5\).*revision 13, after b#1 \(token 9\) wrote at revision 11/);
});
