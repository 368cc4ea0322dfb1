// Clock faults (`--clock within|beyond`): every node process runs under libfaketime (Debian
// `faketime`), its fake time read from a file per node that the nemesis rewrites.
//
// - within: the wall clock only (Date.now(), CLOCK_REALTIME); CLOCK_MONOTONIC, on which the
//   lease, maxLagMs and the timers run, stays true, as on a real machine where NTP steps and
//   slews the wall clock. Alongside the other faults, a node's wall clock steps forward or
//   back by up to 2 s, or runs at 0.8x..1.25x. A lease on the monotonic clock finds nothing
//   here. (libfaketime applies a step to the monotonic clock too, and a monotonic clock
//   never steps on a real machine; so the within mode leaves it alone.)
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
}

export class ClockControl {
  private readonly clocks = new Map<string, NodeClock>();
  private readonly library: string;

  constructor(
    private readonly dir: string,
    readonly mode: ClockMode,
  ) {
    const lib = libfaketimePath();
    if (!lib) throw new ClockUnavailableError();
    this.library = lib;
  }

  private file(id: string): string {
    return join(this.dir, `${id}.faketime`);
  }

  /** Wraps a node's launch: a fresh process starts with a true clock. */
  launcher = (id: string, spec: LaunchSpec): LaunchSpec => {
    this.clocks.set(id, { startMs: Date.now(), offsetS: 0, rate: 1 });
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
        // Within the bound, the wall clock only (see above); beyond it, the monotonic clock
        // too: the lease's clock.
        ...(this.mode === 'within' ? { FAKETIME_DONT_FAKE_MONOTONIC: '1' } : {}),
      },
    };
  };

  private write(id: string): void {
    const c = this.clocks.get(id)!;
    writeFileSync(this.file(id), `${c.offsetS >= 0 ? '+' : ''}${c.offsetS.toFixed(3)} x${c.rate}\n`);
  }

  /** Moves the node's clock by `deltaS` seconds (either sign). */
  step(id: string, deltaS: number): void {
    const c = this.clocks.get(id);
    if (!c) return;
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
    if (!c || (c.rate === 1 && c.offsetS === 0)) return;
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
