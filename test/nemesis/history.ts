// The clients' history: every operation's invocation and completion (ok, fail or info),
// Jepsen style, and its conversion to the checker's operations.
import { performance } from 'node:perf_hooks';
import type { HistoryOp, Outcome, RegisterOp } from './linearizability.js';

export interface HistoryEvent {
  readonly type: 'invoke' | Outcome;
  readonly process: number;
  readonly key: string;
  /** The invocation's operation, or the completed one (a read's value, a CAS's result). */
  readonly op: RegisterOp;
  /** Milliseconds since the recorder was created. */
  readonly atMs: number;
  readonly error?: string;
  /** An acknowledged write's revision. */
  readonly revision?: number;
}

/** Bound on recorded events: a 30-minute soak stays far below it. */
const MAX_EVENTS = 20_000_000;

export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  private readonly t0 = performance.now();
  private readonly open = new Map<number, HistoryEvent>();

  now(): number {
    return performance.now() - this.t0;
  }

  /** Records an invocation; the process must not have another operation open. */
  invoke(process: number, key: string, op: RegisterOp): void {
    if (this.open.has(process)) throw new Error(`process ${process} invoked while an operation is open`);
    if (this.events.length >= MAX_EVENTS) throw new Error(`history is over ${MAX_EVENTS} events`);
    const e: HistoryEvent = { type: 'invoke', process, key, op, atMs: this.now() };
    this.open.set(process, e);
    this.events.push(e);
  }

  /** Records the completion of the process's open operation. */
  complete(process: number, outcome: Outcome, op?: RegisterOp, error?: string, revision?: number): void {
    const inv = this.open.get(process);
    if (!inv) throw new Error(`process ${process} completed without an open operation`);
    this.open.delete(process);
    this.events.push({ type: outcome, process, key: inv.key, op: op ?? inv.op, atMs: this.now(), ...(error ? { error } : {}), ...(revision !== undefined ? { revision } : {}) });
  }

  get openCount(): number {
    return this.open.size;
  }
}

/** Pairs invocations with completions; an operation never completed is info. */
export function operationsOf(events: readonly HistoryEvent[]): HistoryOp[] {
  const open = new Map<number, HistoryEvent>();
  const ops: HistoryOp[] = [];
  let lastMs = 0;
  for (const e of events) {
    lastMs = Math.max(lastMs, e.atMs);
    if (e.type === 'invoke') {
      open.set(e.process, e);
      continue;
    }
    const inv = open.get(e.process);
    if (!inv) throw new Error(`completion of process ${e.process} at ${e.atMs} ms without an invocation`);
    open.delete(e.process);
    ops.push({ process: e.process, key: inv.key, op: e.op, outcome: e.type, invokeMs: inv.atMs, completeMs: e.atMs, ...(e.error ? { error: e.error } : {}), ...(e.revision !== undefined ? { revision: e.revision } : {}) });
  }
  for (const inv of open.values()) ops.push({ process: inv.process, key: inv.key, op: inv.op, outcome: 'info', invokeMs: inv.atMs, completeMs: lastMs, error: 'never completed' });
  return ops;
}

export interface HistoryCounts {
  readonly total: number;
  readonly byKind: Record<string, Record<Outcome, number>>;
}

export function countOperations(ops: readonly HistoryOp[]): HistoryCounts {
  const byKind: Record<string, Record<Outcome, number>> = {};
  for (const o of ops) {
    const kind = o.op.f === 'cas' && o.outcome === 'ok' ? (o.op.succeeded === false ? 'cas (no match)' : 'cas (set)') : o.op.f;
    const row = (byKind[kind] ??= { ok: 0, fail: 0, info: 0 });
    row[o.outcome]++;
  }
  return { total: ops.length, byKind };
}

