// Safety invariants checked after every simulation event. Violations are collected, not
// thrown, so tests can assert exactly which one a scenario produces.
import type { Entry, NodeId } from '@conclave/core';

export type ViolationKind =
  | 'two-leaders-in-term'
  | 'log-matching'
  | 'leader-completeness'
  | 'applied-divergence'
  | 'applied-gap'
  | 'commit-regressed'
  | 'liveness';

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
  readonly atMs: number;
}

/** What an entry is, independent of which node holds it: its term and content. */
export function entryKey(e: Entry): string {
  if (e.type === 'noop') return `${e.term}:noop`;
  if (e.type === 'conf') return `${e.term}:conf:${JSON.stringify(e.change)}`;
  return `${e.term}:${new TextDecoder().decode(e.data)}`;
}

export class SafetyChecker {
  readonly violations: Violation[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index:term) -> [content key, term of the previous index]: Log Matching by induction. */
  private readonly logRegistry = new Map<string, { key: string; prevTerm: number; node: NodeId }>();
  /** index -> [content key, node that first applied it]: the applied sequences must be prefixes of one another. */
  private readonly applied = new Map<number, { key: string; node: NodeId }>();
  private maxAppliedIndex = 0;
  private readonly durableCommit = new Map<NodeId, number>();
  nowMs = 0;

  private fail(kind: ViolationKind, message: string): void {
    this.violations.push({ kind, message, atMs: this.nowMs });
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  leaderElected(id: NodeId, term: number): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== id) this.fail('two-leaders-in-term', `term ${term} has two leaders: ${prev} and ${id}`);
    else this.leaderOfTerm.set(term, id);
  }

  /** A node made `e` durable; `prevTerm` is the term it holds at e.index - 1. */
  entryPersisted(node: NodeId, e: Entry, prevTerm: number): void {
    const id = `${e.index}:${e.term}`;
    const key = entryKey(e);
    const seen = this.logRegistry.get(id);
    if (!seen) {
      this.logRegistry.set(id, { key, prevTerm, node });
      return;
    }
    if (seen.key !== key || seen.prevTerm !== prevTerm) {
      this.fail(
        'log-matching',
        `index ${e.index} term ${e.term}: ${seen.node} has [${seen.key}] after term ${seen.prevTerm}, ${node} has [${key}] after term ${prevTerm}`,
      );
    }
  }

  /** A node applied `key` at `index`; `lastApplied` is what it had applied before. */
  entryApplied(node: NodeId, index: number, key: string, lastApplied: number): void {
    if (index !== lastApplied + 1) this.fail('applied-gap', `${node} applied index ${index} after ${lastApplied}`);
    const seen = this.applied.get(index);
    if (!seen) {
      this.applied.set(index, { key, node });
      if (index > this.maxAppliedIndex) this.maxAppliedIndex = index;
      return;
    }
    if (seen.key !== key) {
      this.fail(
        'applied-divergence',
        `index ${index}: ${seen.node} applied [term ${seen.key}] but ${node} applied [term ${key}]`,
      );
    }
  }

  /** A node installed a snapshot whose state is the applied sequence `keys[1..index]`. */
  snapshotInstalled(node: NodeId, index: number, keys: readonly (string | undefined)[]): void {
    for (let i = 1; i <= index; i++) {
      const k = keys[i];
      if (k === undefined) continue;
      const seen = this.applied.get(i);
      if (seen && seen.key !== k) this.fail('applied-divergence', `index ${i}: ${seen.node} applied [${seen.key}] but ${node}'s snapshot holds [${k}]`);
    }
  }

  /** A new leader must hold every entry any node has applied (Leader Completeness). */
  leaderLogCheck(node: NodeId, term: number, termAt: (i: number) => number | undefined, firstIndex: number): void {
    for (let i = firstIndex; i <= this.maxAppliedIndex; i++) {
      const seen = this.applied.get(i);
      if (!seen) continue;
      const appliedTerm = Number(seen.key.slice(0, seen.key.indexOf(':')));
      const t = termAt(i);
      if (t !== appliedTerm) {
        this.fail('leader-completeness', `${node} became leader of term ${term} without applied entry ${i} (term ${appliedTerm}); it has term ${String(t)}`);
        return;
      }
    }
  }

  durableCommitSeen(node: NodeId, commit: number): void {
    const prev = this.durableCommit.get(node) ?? 0;
    if (commit < prev) this.fail('commit-regressed', `${node}'s durable commit went from ${prev} to ${commit}`);
    else this.durableCommit.set(node, commit);
  }

  liveCommitSeen(node: NodeId, prev: number, now: number): void {
    if (now < prev) this.fail('commit-regressed', `${node}'s commit index went from ${prev} to ${now}`);
  }

  livenessFailed(message: string): void {
    this.fail('liveness', message);
  }
}
