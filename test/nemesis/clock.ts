// Clock faults (`--clock within|beyond`): every node process runs under libfaketime (Debian
// `faketime`), its fake time read from a file per node that the nemesis rewrites.
//
// - within: each time a node process starts, it draws one of two kinds of clock for its life:
//   - drifting: its monotonic clock (the lease's, maxLagMs's, the timers') and its wall clock
//     run at a fixed rate in 0.8x..1.25x from the first instant, so no two nodes' clocks differ
//     in rate by the 2x the lease allows for. The rate never changes while the process lives:
//     libfaketime applies a change only at its next re-read of the file, from a start time we
//     can only estimate, so a change at run time would make the clock jump (up to a few hundred
//     ms, a large part of an election timeout); a restart draws a new rate instead.
//   - wall-stepping: the wall clock only (Date.now(), CLOCK_REALTIME) steps forward or back by
//     up to 2 s, or runs at 0.8x..1.25x, as NTP steps and slews it on a real machine; its
//     monotonic clock stays true (a monotonic clock never steps on a real machine, and
//     libfaketime would apply the steps to it too).
//   A lease within the bound must survive both.
// - beyond: the monotonic clock is faked too (the wall clock with it). The leader's clocks
//   run at 0.02x while it is cut off from its peers, far beyond the lease's 2x margin: its
//   ticks, quorum check and lease all run 50x slow, and its lease outlives the election of
//   another leader. This mode exists to show that the checker sees stale lease reads.
//
// libfaketime computes fake time as start + (now - start) * rate + offset, on each clock from
// its own start value; a rate change therefore moves the offset too, so that the clock does
// not jump. The new line applies when libfaketime next re-reads the file, up to
// FAKETIME_CACHE_S later: setRate picks the offset so that the clock can only jump forward
// (a monotonic clock that went back would hold node's timers until it caught up).
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchSpec } from './cluster.js';

export type ClockMode = 'within' | 'beyond';
export const CLOCK_MODES: readonly ClockMode[] = ['within', 'beyond'];
/** Rates of the within mode: no two clocks differ by the 2x the lease allows for. */
export const WITHIN_RATES: readonly [number, number] = [0.8, 1.25];
export const MAX_STEP_S = 2;
/** The beyond mode's rate for the leader it cuts off: a 50 ms tick lasts 2.5 s. */
export const BEYOND_RATE = 0.02;
/** libfaketime re-reads the time file at most this often (FAKETIME_CACHE_DURATION, whole seconds). */
export const FAKETIME_CACHE_S = 1;
/** How much later than our estimate libfaketime may have started counting in a node (exec, load). */
const START_SLACK_S = 0.5;

/** The multithreaded libfaketime (node has threads), or null when `faketime` is not installed. */
export function libfaketimePath(): string | null {
  for (const dir of ['/usr/lib/x86_64-linux-gnu/faketime', '/usr/lib/aarch64-linux-gnu/faketime', '/usr/lib/faketime', '/usr/local/lib/faketime']) {
    const p = join(dir, 'libfaketimeMT.so.1');
    if (existsSync(p)) return p;
  }
  try {
    for (const d of readdirSync('/usr/lib')) {
      const p = join('/usr/lib', d, 'faketime', 'libfaketimeMT.so.1');
      if (existsSync(p)) return p;
    }
  } catch {
    /* no /usr/lib */
  }
  return null;
}

export class ClockUnavailableError extends Error {
  readonly code = 'CLOCK_UNAVAILABLE';
  constructor() {
    super('libfaketime is not installed (apt-get install -y faketime libfaketime)');
    this.name = 'ClockUnavailableError';
  }
}

interface NodeClock {
  /** Real time (ms) at which libfaketime in this process started counting. */
  startMs: number;
  offsetS: number;
  rate: number;
  /** The within mode's drifting kind: monotonic and wall clock at `rate` for the process's life. */
  fixedRate: boolean;
}

/** Draws a within-bound rate from a random number in [0, 1). */
export function withinRate(r: number): number {
  return Number((WITHIN_RATES[0] + r * (WITHIN_RATES[1] - WITHIN_RATES[0])).toFixed(3));
}

export class ClockControl {
  private readonly clocks = new Map<string, NodeClock>();
  private readonly library: string;
  private launches = 0;
  /** Each process start's kind of clock, in order (a restart draws anew). */
  readonly starts: string[] = [];
  private firstKind = 0;

  constructor(
    private readonly dir: string,
    readonly mode: ClockMode,
    /** Seeded: which kind of clock each process start draws in the within mode, and its rate. */
    private readonly random: () => number = Math.random,
  ) {
    const lib = libfaketimePath();
    if (!lib) throw new ClockUnavailableError();
    this.library = lib;
  }

  private file(id: string): string {
    return join(this.dir, `${id}.faketime`);
  }

  /** Wraps a node's launch: a fresh process starts with a true clock, or a drifting one. */
  launcher = (id: string, spec: LaunchSpec): LaunchSpec => {
    // First starts alternate the two kinds, so that a group always has both; restarts draw.
    const first = !this.clocks.has(id);
    if (first && this.launches === 0) this.firstKind = this.random() < 0.5 ? 0 : 1;
    const fixedRate = this.mode === 'within' && (first ? (this.launches + this.firstKind) % 2 === 0 : this.random() < 0.5);
    if (first) this.launches++;
    const rate = fixedRate ? withinRate(this.random()) : 1;
    this.clocks.set(id, { startMs: Date.now(), offsetS: 0, rate, fixedRate });
    this.starts.push(`${id}: ${fixedRate ? `drifting x${rate} (monotonic and wall)` : this.mode === 'within' ? 'wall-stepping (monotonic true)' : 'monotonic and wall faked'}`);
    this.write(id);
    // A shell adds libfaketime to LD_PRELOAD just before the node starts (and execs it, so
    // the pid stays the node's): an outer wrapper such as fiu-run replaces LD_PRELOAD.
    return {
      cmd: '/bin/sh',
      args: ['-c', 'LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD }$CONCLAVE_LIBFAKETIME" exec "$0" "$@"', spec.cmd, ...spec.args],
      env: {
        ...spec.env,
        CONCLAVE_LIBFAKETIME: this.library,
        FAKETIME_TIMESTAMP_FILE: this.file(id),
        // Re-read the file every second (reading it on every clock call would cost too much).
        FAKETIME_CACHE_DURATION: String(FAKETIME_CACHE_S),
        // A wall-stepping clock leaves the monotonic one true (see above); a drifting one and
        // the beyond mode fake it: the lease's clock.
        ...(this.mode === 'within' && !fixedRate ? { FAKETIME_DONT_FAKE_MONOTONIC: '1' } : {}),
      },
    };
  };

  /** The within mode's drifting nodes: their clocks keep the rate they started with. */
  fixedRate(id: string): boolean {
    return this.clocks.get(id)?.fixedRate === true;
  }

  /** Running nodes whose clocks can step or change rate now (all but the drifting ones). */
  adjustable(ids: readonly string[]): string[] {
    return ids.filter((id) => this.clocks.has(id) && !this.fixedRate(id));
  }

  private write(id: string): void {
    const c = this.clocks.get(id)!;
    writeFileSync(this.file(id), `${c.offsetS >= 0 ? '+' : ''}${c.offsetS.toFixed(3)} x${c.rate}\n`);
  }

  /** Moves the node's clock by `deltaS` seconds (either sign). */
  step(id: string, deltaS: number): void {
    const c = this.clocks.get(id);
    if (!c) return;
    if (c.fixedRate) throw new Error(`${id}'s clock drifts at a fixed rate: it never steps`);
    c.offsetS += deltaS;
    this.write(id);
  }

  /**
   * The node's clock runs at `rate` from the next re-read of its file, with at most a forward
   * jump: slowing down, the offset is for the latest moment the change can apply (a later
   * one would step the clock back); speeding up, for the earliest (libfaketime's start in
   * the process is up to START_SLACK_S after ours).
   */
  setRate(id: string, rate: number): void {
    const c = this.clocks.get(id);
    if (!c) return;
    if (c.fixedRate) throw new Error(`${id}'s clock drifts at a fixed rate for its process's life`);
    const elapsedS = (Date.now() - c.startMs) / 1000;
    const atS = rate < c.rate ? elapsedS + FAKETIME_CACHE_S + 0.2 : Math.max(0, elapsedS - START_SLACK_S);
    c.offsetS += atS * (c.rate - rate);
    c.rate = rate;
    this.write(id);
  }

  /** How far the node's clock is from true time now, in seconds. */
  skewS(id: string): number {
    const c = this.clocks.get(id);
    if (!c) return 0;
    const elapsedS = (Date.now() - c.startMs) / 1000;
    return elapsedS * (c.rate - 1) + c.offsetS;
  }

  /**
   * True time and rate again: a step back of the skew. For a clock that was slowed (the
   * beyond mode) it is a step forward once the clock has fallen behind true time, which the
   * fault waits for; the within mode steps only the wall clock, either way.
   */
  reset(id: string): void {
    const c = this.clocks.get(id);
    // A drifting clock keeps its rate: a change now would make its monotonic clock jump.
    if (!c || c.fixedRate || (c.rate === 1 && c.offsetS === 0)) return;
    c.rate = 1;
    c.offsetS = 0;
    this.write(id);
  }

  /**
   * After a node process exits: libfaketime keeps its shared memory and semaphore in /dev/shm
   * under the pid and removes them only on a clean exit; a killed node leaves them, and a
   * later process that gets the same pid would then fail to start.
   */
  processExited = (_id: string, pid: number): void => {
    for (const f of [`/dev/shm/faketime_shm_${pid}`, `/dev/shm/sem.faketime_sem_${pid}`]) rmSync(f, { force: true });
  };

  ids(): string[] {
    return [...this.clocks.keys()];
  }
}
