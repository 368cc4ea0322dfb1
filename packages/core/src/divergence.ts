// Committed entries that disagree with a leader's log: only possible after the electable group
// size override was used on one side of a partition (JE HA's hard recovery case), or after
// damaged storage. The pure checks a follower runs on an append before it touches its log.
import { NODE_ID_RE } from './group.js';
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
  /**
   * The leader's entry at its probe point (at or below our commit) differs: back off to find
   * where the logs part. `below`: the highest index at which they may still agree (before our
   * entries of that term when only the term's leader differs).
   */
  | { readonly kind: 'mismatch'; readonly index: number; readonly below: number }
  /** The previous entry matched and a later committed entry differs: the logs part exactly here. */
  | { readonly kind: 'diverged'; readonly index: number };

/** The parts of the log the check reads. */
export interface LogView {
  readonly committed: number;
  term(index: number): number | undefined;
  entryAt(index: number): Entry | undefined;
  /** The leader that wrote the entries of the term at `index`, when this log still holds that term's noop. */
  termLeaderAt(index: number): NodeId | undefined;
  /** The index of the noop that starts the term at `index`, when this log still holds it. */
  termStartAt(index: number): number | undefined;
}

/**
 * Under the override two leaders can be elected in one term (their quorums need not
 * intersect), so (index, term) no longer identifies an entry. A term's entries are identified
 * by (term, its leader): each leader's first entry, its noop, names it (JE HA likewise
 * compares the log records themselves at a matchpoint, not a number). Unknown on either side
 * (the noop compacted away, or written before noops named their leader): the term decides.
 */
export function noopData(leader: NodeId): Uint8Array {
  return new TextEncoder().encode(leader);
}

/** The leader a noop names; undefined for any other entry and for an unnamed noop. */
export function noopLeader(e: Entry): NodeId | undefined {
  return e.type === 'noop' && e.data.byteLength > 0 ? new TextDecoder().decode(e.data) : undefined;
}

/**
 * Whether the leader's entry `theirs` is the one we hold at its index (`ours`). Same term
 * and not a term's first entry (noop) on one side only, nor noops naming different leaders:
 * a leader writes its noop first, so entries of one term from two leaders differ at the
 * latest where either's noop stands.
 */
export function sameEntry(ours: Entry, theirs: Entry): boolean {
  if (ours.term !== theirs.term) return false;
  if (ours.type !== 'noop' && theirs.type !== 'noop') return true;
  return ours.type === theirs.type && noopLeader(ours) === noopLeader(theirs);
}

/** Whether our entry at `index` is the leader's (index, term), written by `leader` (undefined: unknown). */
export function matchesAt(log: LogView, index: number, term: number, leader: NodeId | undefined): boolean {
  if (log.term(index) !== term) return false;
  const ours = leader === undefined ? undefined : log.termLeaderAt(index);
  return ours === undefined || ours === leader;
}

/**
 * For a probe at `index` that did not match: the highest index at which our log may still
 * agree with the leader's. Before our entries of that term when the term matched but its
 * leader did not (another leader of the same term wrote them).
 */
export function agreeBelow(log: LogView, index: number, term: number): number {
  if (log.term(index) !== term) return index - 1;
  const start = log.termStartAt(index);
  return start === undefined ? index - 1 : start - 1;
}

/**
 * Checks an append (prev = (index, logTerm) written by `prevLeader`, then entries) against our
 * committed entries. A probe point that differs means only that the logs part at or before
 * it; the leader backs off until its probe matches, and then the first differing entry is the
 * exact divergence.
 */
export function checkCommitted(log: LogView, index: number, logTerm: number, entries: readonly Entry[], prevLeader?: NodeId): CommittedCheck {
  if (index <= log.committed && log.term(index) !== undefined && !matchesAt(log, index, logTerm, prevLeader)) {
    return { kind: 'mismatch', index, below: agreeBelow(log, index, logTerm) };
  }
  for (const e of entries) {
    if (e.index > log.committed) break;
    const ours = log.entryAt(e.index);
    if (ours !== undefined && !sameEntry(ours, e)) return { kind: 'diverged', index: e.index };
  }
  return { kind: 'ok' };
}

const OVERRIDE_CONTEXT = 'override:';
const PREV_LEADER_CONTEXT = 'prev:';

/** The context a leader puts on appends and snapshots so that followers know it ran with an override. */
export function overrideContext(span: OverrideSpan | null): string {
  return span === null ? '' : `${OVERRIDE_CONTEXT}${span.from}:${span.to}`;
}

/**
 * An append's context: the leader's override span, and the leader that wrote the term of
 * the append's previous entry (see noopData), parts separated by ';'.
 */
export function appendContext(span: OverrideSpan | null, prevLeader: NodeId | undefined): string {
  const parts = span === null ? [] : [overrideContext(span)];
  if (prevLeader !== undefined && NODE_ID_RE.test(prevLeader)) parts.push(`${PREV_LEADER_CONTEXT}${prevLeader}`);
  return parts.join(';');
}

/** The leader of the previous entry's term, from an append's context; undefined when absent. */
export function parsePrevLeader(context: string): NodeId | undefined {
  const part = context.split(';').find((p) => p.startsWith(PREV_LEADER_CONTEXT));
  const id = part?.slice(PREV_LEADER_CONTEXT.length);
  return id !== undefined && NODE_ID_RE.test(id) ? id : undefined;
}

/** Reads a leader's override span from an append's context; null when absent or malformed. */
export function parseOverrideContext(context: string): OverrideSpan | null {
  const part = context.split(';').find((p) => p.startsWith(OVERRIDE_CONTEXT));
  if (part === undefined) return null;
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(part.slice(OVERRIDE_CONTEXT.length));
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
