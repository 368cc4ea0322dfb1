// The watch checker catches what it claims to: a gap, a repeat, disorder, a missing
// acknowledged write, a transaction split across batches, and revisions against real time.
import test from 'ava';
import type { HistoryOp } from './register.js';
import { checkScans, checkWatchStreams, type WatchStream, type WatchedEvent } from './watch-check.js';

const put = (key: string, value: string, revision: number, batch = revision): WatchedEvent => ({ type: 'put', key, value, revision, batch });
const stream = (name: string, events: WatchedEvent[], from = 1, to = 10): WatchStream => ({ name, from, to, events, resumes: 0, stopped: null });
const write = (key: string, value: string, revision: number, invokeMs: number, completeMs: number): HistoryOp => ({ process: revision, key, op: { f: 'write', value }, outcome: 'ok', invokeMs, completeMs, revision });
const all = () => true;

const ops = [write('a', 'x', 2, 0, 1), write('b', 'y', 3, 2, 3), write('a', 'z', 5, 4, 5), write('b', 'w', 5, 4, 5)];
const good = [put('a', 'x', 2), put('b', 'y', 3), put('a', 'z', 5), put('b', 'w', 5)];

test('consistent streams pass', (t) => {
  t.deepEqual(checkWatchStreams([stream('w0', good), stream('w1', good.slice(2), 4, 10)], ops, all), []);
});

test('a gap, a repeat, disorder, a missed write and a split transaction are each found', (t) => {
  const has = (events: WatchedEvent[], re: RegExp, extra: WatchStream[] = []) => {
    const v = checkWatchStreams([stream('w0', good), stream('bad', events), ...extra], ops, all);
    t.true(v.some((x) => re.test(x)), `${re}: ${v.join('; ')}`);
  };
  has([put('a', 'x', 2), put('a', 'z', 5), put('b', 'w', 5)], /has a gap: b at revision 3/);
  has([...good, put('b', 'y', 3)], /given twice|after 5/);
  has([put('b', 'y', 3), put('a', 'x', 2), put('a', 'z', 5), put('b', 'w', 5)], /revision 2 \(a\) after 3/);
  has([put('a', 'x', 2), put('b', 'y', 3), put('a', 'z', 5), put('b', 'w', 5, 6)], /revision 5 came in two batches/);
  has([put('a', 'x', 2), put('b', 'OTHER', 3), put('a', 'z', 5), put('b', 'w', 5)], /watchers disagree on b at revision 3/);
  const v = checkWatchStreams([stream('only', good.filter((e) => e.revision !== 3))], ops, all);
  t.true(v.some((x) => /acknowledged b=y at revision 3 seen 0 times/.test(x)), v.join('; '));
});

test('revisions must agree with real time and with reads', (t) => {
  const late = [write('a', 'x', 7, 0, 1), write('a', 'z', 5, 2, 3)];
  t.true(checkWatchStreams([], late, all).some((x) => /a write at revision 5 began after one at revision 7/.test(x)));
  const stale: HistoryOp[] = [write('a', 'x', 2, 0, 1), write('a', 'z', 5, 2, 3), { process: 9, key: 'a', op: { f: 'read', value: 'x' }, outcome: 'ok', invokeMs: 4, completeMs: 5 }];
  t.true(checkWatchStreams([], stale, all).some((x) => /a read returned the value of revision 2 after a write at revision 5/.test(x)));
});

test('a scan must show one state: half of a transaction is caught', (t) => {
  // Revision 3 puts a=x2 and b=y2 in one entry.
  const events = [put('a', 'x1', 1), put('b', 'y1', 2), put('a', 'x2', 3), put('b', 'y2', 3)];
  const s = [stream('w0', events, 1, 5)];
  const scan = (a: string | null, b: string | null) => new Map([['a', a], ['b', b]]);
  t.deepEqual(checkScans([scan('x1', 'y1'), scan('x2', 'y2'), scan('x1', null)], s, ['a', 'b']), []);
  const v = checkScans([scan('x2', 'y1')], s, ['a', 'b']);
  t.is(v.length, 1);
  t.regex(v[0]!, /is not one state/);
});
