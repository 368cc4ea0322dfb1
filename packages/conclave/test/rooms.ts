// Room tests: a NodeContext over a manual clock and a stand-in core, so that one room of the
// driver (read-gate, write-path, leader-rpc, override, ...) runs on its own, with time
// moved by the test.
import type { RaftNode } from '@conclave/core';
import type { NodeStorage } from '@conclave/storage';
import { NodeContext } from '../src/node-context.js';
import { resolveOptions, type OpenNodeOptions } from '../src/options.js';
import { PRODUCTION_SEAMS, type Clock, type NodeSeams, type PeerTransport, type Timer } from '../src/seams.js';
import { quietLogger } from './helpers.js';

interface Scheduled {
  readonly id: number;
  at: number;
  readonly fn: () => void;
  readonly everyMs: number | null;
}

/** Time that moves only when the test says: advance(ms) runs the timers due, in order. */
export class ManualClock implements Clock {
  private now = 1_000_000;
  private nextId = 1;
  private timers: Scheduled[] = [];

  nowMs(): number {
    return this.now;
  }
  wallNowMs(): number {
    return this.now;
  }
  setTimeout(fn: () => void, delayMs: number): Timer {
    return this.add(fn, delayMs, null);
  }
  setInterval(fn: () => void, intervalMs: number): Timer {
    return this.add(fn, intervalMs, intervalMs);
  }
  clearTimeout(timer: Timer): void {
    this.timers = this.timers.filter((t) => t.id !== (timer as unknown as { id: number }).id);
  }
  clearInterval(timer: Timer): void {
    this.clearTimeout(timer);
  }
  setImmediate(fn: () => void): void {
    this.add(fn, 0, null);
  }
  get pending(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `ms`, running each timer as its time comes (and the promise jobs it
   * queues). `between` runs before each timer (a test with real I/O gives it event-loop turns).
   */
  async advance(ms: number, between: () => Promise<void> = settle): Promise<void> {
    const end = this.now + ms;
    for (let i = 0; i < 100_000; i++) {
      await between();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.now = Math.max(this.now, due.at);
      if (due.everyMs === null) this.timers = this.timers.filter((t) => t !== due);
      else due.at += Math.max(1, due.everyMs);
      due.fn();
    }
    this.now = end;
    await between();
  }

  private add(fn: () => void, delayMs: number, everyMs: number | null): Timer {
    const t: Scheduled = { id: this.nextId++, at: this.now + Math.max(0, delayMs), fn, everyMs };
    this.timers.push(t);
    return { id: t.id, unref: () => {} } as unknown as Timer;
  }
}

/** Lets the promise jobs queued so far (and those they queue) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

export interface RoomContext {
  readonly ctx: NodeContext;
  readonly clock: ManualClock;
  /** How many times a room asked for the Ready loop. */
  readonly scheduled: { count: number };
}

/** A NodeContext on a manual clock with `raft`, `storage` and `transport` stand-ins (only what the room under test uses). */
export function roomContext(parts: { raft?: Partial<RaftNode>; storage?: Partial<NodeStorage>; transport?: Partial<PeerTransport>; seams?: Partial<NodeSeams>; options?: Partial<OpenNodeOptions> } = {}): RoomContext {
  const clock = new ManualClock();
  const opts = resolveOptions({ id: 'n1', dataDir: '/nonexistent/rooms', listen: '127.0.0.1:1', peers: { n1: '127.0.0.1:1' }, tickMs: 10, logger: quietLogger, ...parts.options });
  const ctx = new NodeContext(opts, { ...PRODUCTION_SEAMS, clock, random: { bytes: (n) => Buffer.alloc(n, 1) }, ...parts.seams });
  ctx.raft = (parts.raft ?? {}) as RaftNode;
  ctx.storage = (parts.storage ?? {}) as NodeStorage;
  ctx.transport = (parts.transport ?? {}) as PeerTransport;
  const scheduled = { count: 0 };
  ctx.scheduleLoop = () => void scheduled.count++;
  return { ctx, clock, scheduled };
}
