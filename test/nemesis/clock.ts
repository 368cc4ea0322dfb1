// Clock faults (`--clock within|beyond`): every node process runs under libfaketime (Debian
// `faketime`), its fake time read from a file per node that the nemesis rewrites.
//
// The wall clock only (Date.now(), CLOCK_REALTIME; CLOCK_MONOTONIC stays true, as on a real
// machine where NTP steps and slews the wall clock):
// - within: alongside the other faults, a node's clock steps forward or back by up to 2 s,
//   or runs at a rate within the lease's documented margin (0.8x..1.25x: no two clocks
//   differ by 2x). A lease that is right finds nothing here.
// - beyond: the leader's clock runs at 0.05x while it is cut off from the others, far
//   beyond the margin, so that a lease timed by that clock outlives the election of another
//   leader. This mode exists to show that the checker sees stale lease reads. (Faking the
//   monotonic clock too was tried: node's event loop then stalls for many seconds.)
//
// libfaketime computes fake time as start + (now - start) * rate + offset; a rate change
// therefore moves the offset too, so that the clock does not jump (FAKETIME_XRESET would do
// it, but then drops offsets).
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchSpec } from './cluster.js';

export type ClockMode = 'within' | 'beyond';
export const CLOCK_MODES: readonly ClockMode[] = ['within', 'beyond'];
/** Rates of the within mode: no two clocks differ by the 2x the lease allows for. */
export const WITHIN_RATES: readonly [number, number] = [0.8, 1.25];
export const MAX_STEP_S = 2;
/** The beyond mode's rate for the leader it cuts off. */
export const BEYOND_RATE = 0.05;

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
        FAKETIME_CACHE_DURATION: '1',
        // The wall clock only: node's timers run on CLOCK_MONOTONIC, and a process whose
        // monotonic clock runs at 0.05x stalls its event loop for many seconds.
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
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

  /** The node's clock runs at `rate` from now on, without a jump. */
  setRate(id: string, rate: number): void {
    const c = this.clocks.get(id);
    if (!c) return;
    const elapsedS = (Date.now() - c.startMs) / 1000;
    c.offsetS += elapsedS * (c.rate - rate);
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

  /** True time and rate again (a step back of the skew). */
  reset(id: string): void {
    const c = this.clocks.get(id);
    if (!c) return;
    this.setRate(id, 1);
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
