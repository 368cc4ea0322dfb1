// The driver's clock for the read lease, maxLagMs and the core's history stamps. Monotonic
// (performance.now()): a wall clock stepped back would freeze the core's time and keep a
// lease alive while the others elect (issue 11). Offset by the process's start time, so its
// values still read as epoch milliseconds in the history (they drift from the wall clock by
// whatever steps it took since the process started).
import { performance } from 'node:perf_hooks';

/** Whole milliseconds (history stamps print as integers); never decreases. */
export function monotonicNowMs(): number {
  return Math.floor(performance.timeOrigin + performance.now());
}
