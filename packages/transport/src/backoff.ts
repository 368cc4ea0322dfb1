// Reconnect backoff: capped exponential growth with "equal jitter".

/**
 * The wait before reconnect attempt number `failures` (1 after the first failure): a ceiling
 * of baseMs * 2^(failures-1), capped at maxMs, and a delay between half the ceiling and the
 * ceiling, so that retries never hammer a peer and never run in lockstep.
 */
export function backoffDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return ceilingMs / 2 + random() * (ceilingMs / 2);
}
