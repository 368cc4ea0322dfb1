// The lock workloads' checker (issue #17), apart from any one harness: the whole-node
// simulation (test/sim-node/lock-workload.test.ts) and the multi-process nemesis
// (test/nemesis/locks.ts) both use it. It imports nothing.
//
// Two checks:
// - Mutual exclusion by token order: holdings of one lock, each with its fencing token and
//   the times (on ONE clock) it started and ended; ordered by token, each must end before
//   any later one starts. A holding may carry `protectedUntilMs`, the earliest moment its
//   lease could have expired (the clock bound applied to the send of its last acknowledged
//   keep-alive): a later holding that starts at or after that moment while the earlier
//   holder still believes it holds is an *excused* overlap, not a violation. That is what a
//   lease promises, and no more: a holder paused or cut off beyond its TTL keeps believing,
//   which is why fencing tokens exist. Without `protectedUntilMs` every overlap is a violation.
// - The fenced register: the writes it accepted, in the order it accepted them (revision),
//   never go down in token, and no two holdings wrote the same token. For each excused
//   overlap, the earlier holder's accepted writes all come before the later holder's first
//   accepted write: once the successor wrote, the fence refused everything the stale holder
//   sent.

export interface Holding {
  /** Who held; in the nemesis, unique per holding (holder process and holding number). */
  readonly worker: string;
  readonly token: number;
  /** When the holder learned that it holds. */
  readonly startMs: number;
  /** When it stopped acting as the holder (released, told the lock was lost, killed); null: still holding. */
  endMs: number | null;
  /**
   * The earliest moment its lease could have ended (its last acknowledged keep-alive's send,
   * or the acquire's, plus the TTL shortened by the clock bound). Absent: never before endMs.
   */
  protectedUntilMs?: number;
}

/** Two holdings at once, the earlier's lease possibly expired when the later one started. */
export interface Overlap {
  readonly earlier: Holding;
  readonly later: Holding;
}

export interface ExclusionResult {
  readonly violations: string[];
  /** Overlaps a lease allows: the later holding started after the earlier lease could have ended. */
  readonly excused: Overlap[];
}

/** Every pair of holdings by token order: overlaps that break mutual exclusion, and those a lease allows. */
export function findOverlaps(holdings: readonly Holding[], nowMs: number): ExclusionResult {
  const violations: string[] = [];
  const excused: Overlap[] = [];
  const byToken = [...holdings].sort((a, b) => a.token - b.token || a.startMs - b.startMs);
  for (let j = 1; j < byToken.length; j++) {
    const next = byToken[j]!;
    for (let i = 0; i < j; i++) {
      const prev = byToken[i]!;
      if (prev.token === next.token) {
        violations.push(`two holdings with token ${next.token} (${prev.worker} and ${next.worker})`);
        continue;
      }
      const prevEnd = prev.endMs ?? nowMs;
      if (prevEnd <= next.startMs) continue;
      if (prev.protectedUntilMs !== undefined && next.startMs >= prev.protectedUntilMs) {
        excused.push({ earlier: prev, later: next });
        continue;
      }
      const why = prev.startMs > next.startMs ? ' (it got the lock later, with a lower token)' : prev.protectedUntilMs !== undefined ? ` while its lease was surely alive (until ${prev.protectedUntilMs})` : '';
      violations.push(`${prev.worker} (token ${prev.token}) held until ${prevEnd} but ${next.worker} (token ${next.token}) got the lock at ${next.startMs}${why}`);
    }
  }
  return { violations, excused };
}

/** No two holdings at once, by token order; the violations, in words. */
export function checkMutualExclusion(holdings: readonly Holding[], nowMs: number): string[] {
  return findOverlaps(holdings, nowMs).violations;
}

/** A write the fenced register accepted. */
export interface FencedWrite {
  /** The holding that wrote (Holding.worker). */
  readonly worker: string;
  readonly token: number;
  /** Where the register accepted it: writes are ordered by it. */
  readonly revision: number;
}

/** The register's accepted writes: tokens never go down, and one token is one holding's. */
export function checkFencedRegister(accepted: readonly FencedWrite[]): string[] {
  const out: string[] = [];
  const byRevision = [...accepted].sort((a, b) => a.revision - b.revision);
  const writerOf = new Map<number, string>();
  let top: FencedWrite | null = null;
  for (const w of byRevision) {
    if (top !== null && w.token < top.token) out.push(`the register accepted token ${w.token} from ${w.worker} at revision ${w.revision} after token ${top.token} from ${top.worker} at revision ${top.revision}`);
    const writer = writerOf.get(w.token);
    if (writer !== undefined && writer !== w.worker) out.push(`the register accepted token ${w.token} from two holdings: ${writer} and ${w.worker} (revision ${w.revision})`);
    writerOf.set(w.token, writer ?? w.worker);
    if (top === null || w.token > top.token) top = w;
  }
  return out;
}

/** For each excused overlap: nothing the earlier holder wrote was accepted after the later one's first accepted write. */
export function checkExcusedOverlaps(excused: readonly Overlap[], accepted: readonly FencedWrite[]): string[] {
  const out: string[] = [];
  const byWorker = new Map<string, FencedWrite[]>();
  for (const w of accepted) byWorker.set(w.worker, [...(byWorker.get(w.worker) ?? []), w]);
  for (const { earlier, later } of excused) {
    const laterWrites = byWorker.get(later.worker) ?? [];
    if (laterWrites.length === 0) continue;
    const fenceAt = Math.min(...laterWrites.map((w) => w.revision));
    for (const w of byWorker.get(earlier.worker) ?? []) {
      if (w.revision > fenceAt) out.push(`${earlier.worker} (token ${earlier.token}), still holding after its lease could have ended, had a write accepted at revision ${w.revision}, after ${later.worker} (token ${later.token}) wrote at revision ${fenceAt}`);
    }
  }
  return out;
}
