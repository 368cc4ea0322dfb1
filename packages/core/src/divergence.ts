// Committed entries that disagree with a leader's log: only possible after the electable group
// size override was used on one side of a partition (JE HA's hard recovery case), or after
// damaged storage. The pure checks a follower runs on an append before it touches its log.
import type { Entry, NodeId } from './types.js';

/**
 * Log indexes that a node may have committed while an override was in effect: [from, to],
 * `to` 0 while the override is still set. Kept durably by the driver (local settings).
 */
export interface OverrideSpan {
  readonly from: number;
  readonly to: number;
}

/**
 * A leader asked this node to overwrite entries it had committed. Only possible after the
 * override was used (JE HA's hard recovery case), or after damaged storage.
 */
export interface Divergence {
  /** First index at which the leader's log disagrees with entries this node committed. */
  readonly index: number;
  readonly leader: NodeId;
  readonly term: number;
  /** This node's commit index when it found the divergence: [index, committed] would be lost. */
  readonly committed: number;
  /**
   * False when the leader's log no longer holds the point where the logs part (it compacted
   * it away): `index` is then the lowest index that may differ, so the count is an upper bound.
   */
  readonly exact: boolean;
  /** The leader's override span as it told us (null: it never ran with an override). */
  readonly leaderOverride: OverrideSpan | null;
}

/** What an append says about this node's committed entries. */
export type CommittedCheck =
  /** Nothing at or below our commit index disagrees (or nothing there to compare). */
  | { readonly kind: 'ok' }
  /** The leader's entry at its probe point (at or below our commit) differs: back off to find where the logs part. */
  | { readonly kind: 'mismatch'; readonly index: number }
  /** The previous entry matched and a later committed entry differs: the logs part exactly here. */
  | { readonly kind: 'diverged'; readonly index: number };

/** The parts of the log the check reads. */
export interface LogView {
  readonly committed: number;
  term(index: number): number | undefined;
}

/**
 * Checks an append (prev = (index, logTerm), then entries) against our committed entries.
 * A probe point that differs means only that the logs part at or before it; the leader backs
 * off until its probe matches, and then the first differing entry is the exact divergence.
 */
export function checkCommitted(log: LogView, index: number, logTerm: number, entries: readonly Entry[]): CommittedCheck {
  if (index <= log.committed) {
    const ours = log.term(index);
    if (ours !== undefined && ours !== logTerm) return { kind: 'mismatch', index };
  }
  for (const e of entries) {
    if (e.index > log.committed) break;
    const ours = log.term(e.index);
    if (ours !== undefined && ours !== e.term) return { kind: 'diverged', index: e.index };
  }
  return { kind: 'ok' };
}

const OVERRIDE_CONTEXT = 'override:';

/** The context a leader puts on appends and snapshots so that followers know it ran with an override. */
export function overrideContext(span: OverrideSpan | null): string {
  return span === null ? '' : `${OVERRIDE_CONTEXT}${span.from}:${span.to}`;
}

/** Reads a leader's override span from an append's context; null when absent or malformed. */
export function parseOverrideContext(context: string): OverrideSpan | null {
  if (!context.startsWith(OVERRIDE_CONTEXT)) return null;
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(context.slice(OVERRIDE_CONTEXT.length));
  if (!m) return null;
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (from < 1 || (to !== 0 && to < from - 1)) return null;
  return { from, to };
}

/** Whether entries in [from, to] (to = Infinity: open) may have been committed under `span`. */
export function spanOverlaps(span: OverrideSpan | null, from: number, to: number): boolean {
  if (span === null) return false;
  const spanTo = span.to === 0 ? Infinity : span.to;
  return span.from <= to && spanTo >= from;
}

/**
 * Our span after we committed (before, committed] from a leader whose appends carried
 * `leaderSpan`: the entries its override may have committed are now committed here too, and
 * must be known as such if this node is later asked to give them up (JE hard recovery).
 * Closed at our commit: later entries from a leader without an override need a true majority.
 */
export function mergeLeaderSpan(span: OverrideSpan | null, leaderSpan: OverrideSpan | null, before: number, committed: number): OverrideSpan | null {
  if (leaderSpan === null) return span;
  const from = Math.max(before + 1, leaderSpan.from);
  const to = Math.min(committed, leaderSpan.to === 0 ? Infinity : leaderSpan.to);
  if (from > to) return span;
  if (span === null || (span.to !== 0 && span.to < span.from)) return { from, to };
  if (span.to === 0) return span.from <= from ? span : { from, to: 0 };
  if (span.from <= from && span.to >= to) return span;
  return { from: Math.min(span.from, from), to: Math.max(span.to, to) };
}

/** The span after the override changes from `previous` to `current` (commit and last index at that moment). */
export function nextOverrideSpan(span: OverrideSpan | null, previous: number, current: number, commit: number, lastIndex: number): OverrideSpan | null {
  if (current > 0 && previous === 0) {
    // Entries after our commit may be committed under the override from now on.
    return { from: span === null ? commit + 1 : Math.min(span.from, commit + 1), to: 0 };
  }
  if (current === 0 && previous > 0 && span !== null && span.to === 0) {
    // Whatever we hold now may have been committed under it; later entries need a true majority.
    return { from: span.from, to: Math.max(lastIndex, span.from - 1) };
  }
  return span;
}
