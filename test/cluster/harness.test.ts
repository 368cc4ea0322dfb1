// The process harness itself: a group that never becomes ready is not left running.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { ProcessGroup, waitFor } from './harness.js';

/** The node processes this test process started and that are still running. */
function childNodes(): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8', timeout: 10_000 });
  } catch {
    return []; // ps exits 1 when it lists nothing
  }
  return out
    .split('\n')
    .filter((l) => l.includes(' node start '))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

test('a group whose start fails (no leader within the deadline) stops the processes it started', async (t) => {
  t.timeout(240_000);
  // Two members that do not campaign before start()'s 60 s deadline: an election timeout of
  // 1000 ticks of 1 s (the flags given last win). Two, because a lone voter elects itself at
  // once, without waiting for an election timeout.
  await t.throwsAsync(ProcessGroup.start({ nodes: 2, extraArgs: ['--tick-ms', '1000', '--election-ticks', '1000'] }), { message: /leader/ });
  const left = await waitFor(() => (childNodes().length === 0 ? 'none' : null), 15_000, 'the group\'s node processes to be gone').catch(() => null);
  t.is(left, 'none', `node processes still running: ${childNodes().join(', ')}`);
});
