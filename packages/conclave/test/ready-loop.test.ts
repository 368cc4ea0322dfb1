// ReadyLoop on its own (manual clock, stand-in core): one Ready per turn however many
// wake-ups came in it (group commit), and a core that throws stops the node.
import test from 'ava';
import { ReadGate } from '../src/read-gate.js';
import { ReadyLoop } from '../src/ready-loop.js';
import { RollbackKeeper } from '../src/rollback-keeper.js';
import { WriteTracker } from '../src/write-tracker.js';
import { roomContext } from './rooms.js';

function loopWith(raft: Record<string, unknown>) {
  const room = roomContext({ raft: raft as never });
  const failures: Error[] = [];
  room.ctx.failStop = (err) => failures.push(err);
  const writes = new WriteTracker({ role: () => 'follower', termAt: () => undefined, ackIndex: () => 0 }, 10, room.clock);
  const loop = new ReadyLoop(room.ctx, writes, new ReadGate(room.ctx), new RollbackKeeper(room.ctx));
  room.ctx.scheduleLoop = () => loop.schedule();
  return { ...room, loop, failures };
}

test('wake-ups within one turn make one run of the loop', async (t) => {
  let readies = 0;
  const l = loopWith({ hasReady: () => false, ready: () => readies++ });
  l.loop.schedule();
  l.loop.schedule();
  l.ctx.schedule();
  t.is(l.clock.pending, 1, 'one run scheduled for the turn');
  await l.clock.advance(1);
  t.is(readies, 0, 'nothing was ready');
  t.is(l.clock.pending, 0);
});

test('a tick that makes the core throw fails the node, and the loop schedules nothing more', async (t) => {
  const l = loopWith({
    hasReady: () => false,
    tick: () => {
      throw new Error('assertion failed: broken core');
    },
  });
  l.loop.startTicking();
  await l.clock.advance(l.ctx.opts.tickMs);
  t.is(l.failures.length, 1);
  t.regex(l.failures[0]!.message, /broken core/);
  l.loop.stopTicking();
  t.is(l.clock.pending, 0, 'the tick timer is gone');
});

test('a tick callback that throws (the lease keeper\'s check) fails the node instead of escaping the timer', async (t) => {
  const l = loopWith({ hasReady: () => false, tick: () => {} });
  let later = 0;
  l.loop.onTick.push(() => {
    throw new Error('assertion failed: lease table');
  });
  l.loop.onTick.push(() => later++);
  l.loop.startTicking();
  await t.notThrowsAsync(() => l.clock.advance(l.ctx.opts.tickMs));
  t.is(l.failures.length, 1);
  t.regex(l.failures[0]!.message, /lease table/);
  t.is(later, 0, 'nothing runs on a node that failed');
  l.loop.stopTicking();
});

test('once closed, the loop neither runs nor schedules', async (t) => {
  let readies = 0;
  const l = loopWith({ hasReady: () => true, ready: () => readies++ });
  l.ctx.closed = true;
  l.loop.schedule();
  t.is(l.clock.pending, 0);
  await l.clock.advance(10);
  t.is(readies, 0);
});
