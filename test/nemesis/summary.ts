// The one-line JSON summary (`--json`) that scripts read: the last line a nemesis run prints.
import type { FileCheck } from './check-file.js';
import type { CheckResult } from './linearizability.js';
import type { NemesisReport } from './run.js';

export interface NemesisSummary {
  readonly ok: boolean;
  readonly seconds: number;
  readonly seed: number;
  readonly network: string;
  readonly operations: number;
  /** Faults injected, by kind. */
  readonly faults: Record<string, number>;
  /** Keys whose history is not linearizable. */
  readonly violations: number;
  /** Keys whose search ran out of budget (neither proven nor refuted). */
  readonly unknownKeys: number;
  /** Acknowledged writes missing (or wrong) on some member at the end. */
  readonly lostAcknowledged: number;
  readonly checkedKeys: number;
  readonly checkerMs: number;
  /** Why the final checks could not run, if they could not. */
  readonly setupError: string | null;
  /** What the watch checker found wrong in the watchers' streams. */
  readonly watchViolations: number;
  /** The lock workload (null: it did not run): holdings, fenced writes refused, and violations. */
  readonly lock: { readonly holdings: number; readonly handoversAfterFault: number; readonly accepted: number; readonly refused: number; readonly violations: number } | null;
}

function verdicts(check: CheckResult): { violations: number; unknownKeys: number; checkedKeys: number } {
  return {
    violations: check.keys.filter((k) => k.linearizable === false).length,
    unknownKeys: check.keys.filter((k) => k.linearizable === 'unknown').length,
    checkedKeys: check.keys.length,
  };
}

export function summarizeRun(r: NemesisReport): NemesisSummary {
  return {
    ok: r.ok,
    seconds: Math.round(r.durationMs / 1000),
    seed: r.seed,
    network: r.network,
    operations: r.operations.total,
    faults: { ...r.faultCounts },
    ...verdicts(r.check),
    lostAcknowledged: r.fresh.lost.length,
    checkerMs: r.checkMs,
    setupError: r.setupError,
    watchViolations: r.watch.violations.length,
    lock: r.lock ? { holdings: r.lock.holdings, handoversAfterFault: r.lock.handoversAfterFault, accepted: r.lock.writes.accepted, refused: r.lock.writes.rejected, violations: r.lock.violations.length } : null,
  };
}

/** The summary of `--check FILE`: no run, so no seed, network or faults. */
export function summarizeFileCheck(c: FileCheck): { ok: boolean; format: string; operations: number; violations: number; unknownKeys: number; checkedKeys: number; checkerMs: number } {
  return { ok: c.result.linearizable === true, format: c.format, operations: c.ops.length, ...verdicts(c.result), checkerMs: c.checkerMs };
}
