// The progress line of npm run bench and npm run nemesis: drawn in place on a terminal
// (what runs, elapsed, remaining), nothing at all elsewhere.
import test from 'ava';
import { TtyProgress } from '../scripts/tty-progress.js';

function stream(isTTY: boolean): { isTTY: boolean; out: string[]; write(s: string): boolean } {
  const out: string[] = [];
  return { isTTY, out, write: (s: string) => out.push(s) > 0 };
}

test('off a terminal the progress line prints nothing; the tool\'s own lines still go out', (t) => {
  const err = stream(false);
  const out = stream(false);
  const p = new TtyProgress(err, () => 1000);
  p.set('cell 1/8: conclave3 100 B x 1');
  p.print('[  1.0 s] a result', out);
  p.stop();
  t.false(p.enabled);
  t.deepEqual(err.out, []);
  t.deepEqual(out.out, ['[  1.0 s] a result\n']);
});

test('on a terminal: what runs, elapsed and remaining, redrawn in place and cleared around printed lines', (t) => {
  let nowMs = 10_000;
  const err = stream(true);
  const out = stream(true);
  const p = new TtyProgress(err, (elapsedMs) => 60_000 - elapsedMs, () => nowMs);
  try {
    nowMs += 75_000 - 60_000 + 5_000; // 20 s in
    p.set('fault partition n1|n2,n3');
    t.is(p.line(), '> fault partition n1|n2,n3 | elapsed 20s | remaining ~40s');
    t.is(err.out.at(-1), `\r\x1b[K${p.line()}`);
    p.print('[nemesis] 12.0s kill n2 (3.0 s)', out);
    t.deepEqual(err.out.slice(-2), ['\r\x1b[K', `\r\x1b[K${p.line()}`], 'cleared before the line, redrawn after');
    t.deepEqual(out.out, ['[nemesis] 12.0s kill n2 (3.0 s)\n']);
    nowMs += 70_000;
    t.is(p.line(), '> fault partition n1|n2,n3 | elapsed 1m30s | remaining ~0s');
  } finally {
    p.stop();
  }
  t.is(err.out.at(-1), '\r\x1b[K', 'stop() leaves a clean line');
  const unknown = new TtyProgress(stream(true), () => null, () => 0);
  unknown.stop();
  t.is(unknown.line(), '> starting | elapsed 0s');
});
