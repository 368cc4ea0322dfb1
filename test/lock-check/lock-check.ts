// The lock workload's checker (issue #17), apart from any one harness so that the nemesis
// can use it too: holdings of one lock, each with its fencing token and the times (on one
// clock) it started and ended; ordered by token, each must end before the next starts.

export interface Holding {
  readonly worker: string;
  readonly token: number;
  readonly startMs: number;
  endMs: number | null;
}

/** No two holdings at once, by token order; the violations, in words. */
export function checkMutualExclusion(holdings: readonly Holding[], nowMs: number): string[] {
  const out: string[] = [];
  const byToken = [...holdings].sort((a, b) => a.token - b.token);
  for (let i = 1; i < byToken.length; i++) {
    const prev = byToken[i - 1]!;
    const next = byToken[i]!;
    if (prev.token === next.token) out.push(`two holdings with token ${next.token}`);
    const prevEnd = prev.endMs ?? nowMs;
    if (prevEnd > next.startMs) out.push(`${prev.worker} (token ${prev.token}) held until ${prevEnd} but ${next.worker} (token ${next.token}) got the lock at ${next.startMs}`);
  }
  return out;
}

