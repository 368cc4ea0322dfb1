// Pure choices over a leader's view of its group: which member a leadership transfer goes
// to, and whether a true majority is back (the override's documented last step).
import type { NodeId } from '@conclave/core';
import type { NodeStatus } from './status.js';

type LeaderView = Pick<NodeStatus, 'id' | 'members' | 'peers' | 'electableGroupSize'>;

/**
 * JE's transferMaster: of `candidates` (electable, priority > 0, not the leader), the one the
 * transfer completes with soonest: connected first, then the highest match index, then the
 * highest priority, then the order given. null when none qualifies.
 */
export function mostCaughtUp(view: LeaderView, candidates: readonly NodeId[]): NodeId | null {
  let best: { id: NodeId; active: boolean; match: number; priority: number } | null = null;
  for (const id of candidates) {
    const m = view.members.find((x) => x.id === id);
    if (!m || m.removed || m.type !== 'electable' || m.priority === 0 || id === view.id) continue;
    const p = view.peers.find((x) => x.id === id);
    const c = { id, active: p?.active ?? false, match: p?.matchIndex ?? 0, priority: m.priority };
    const better =
      best === null ||
      (c.active !== best.active ? c.active : c.match !== best.match ? c.match > best.match : c.priority > best.priority);
    if (better) best = c;
  }
  return best?.id ?? null;
}

export interface MajorityCheck {
  readonly met: boolean;
  /** Electable members connected and caught up, the leader first. */
  readonly caughtUp: readonly NodeId[];
  /** floor(E/2) + 1 of the electable group size E: a true majority, without any override. */
  readonly needed: number;
  readonly electableGroupSize: number;
}

/**
 * On a leader's status: are a true majority of the electable members connected (heard within
 * an election timeout) and caught up (match index at least `caughtUpTo`)? The leader counts.
 */
export function trueMajorityCaughtUp(view: LeaderView, caughtUpTo: number): MajorityCheck {
  const caughtUp: NodeId[] = [view.id];
  for (const p of view.peers) {
    const m = view.members.find((x) => x.id === p.id);
    if (m && !m.removed && m.type === 'electable' && p.active && p.matchIndex >= caughtUpTo) caughtUp.push(p.id);
  }
  const needed = Math.floor(view.electableGroupSize / 2) + 1;
  return { met: caughtUp.length >= needed, caughtUp, needed, electableGroupSize: view.electableGroupSize };
}
