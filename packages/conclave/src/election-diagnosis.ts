// Why a node has no leader, in one line an operator can act on: used by the node's own
// errors (a write that found no leader) and by `conclave election status` (status 500).
import type { Role } from '@conclave/core';
import type { NodeStatus } from './status.js';

const ROLE_NAMES: Record<Role, string> = { follower: 'FOLLOWER', preCandidate: 'PRE_CANDIDATE', candidate: 'CANDIDATE', leader: 'LEADER' };

export function roleName(role: Role): string {
  return ROLE_NAMES[role];
}

/** "1.2 s" from a duration in milliseconds (negative durations, from clock skew, read as 0). */
export function formatAgoMs(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

/** The quorum this node uses, with the override spelled out: "3 of 5 (electable group size 5, override off)". */
export function describeQuorum(st: Pick<NodeStatus, 'electionQuorum' | 'effectiveGroupSize' | 'electableGroupSize' | 'electableGroupSizeOverride'>): string {
  const o = st.electableGroupSizeOverride;
  return `${st.electionQuorum} of ${st.effectiveGroupSize} (electable group size ${st.electableGroupSize}, ${o > 0 ? `override ${o}` : 'override off'})`;
}

/**
 * Why `st` (a node without a leader) has none: its state, what its elections need, the last
 * election event and the counters. `nowMs` is the caller's clock, for the "ago" figures.
 */
export function explainNoLeader(st: NodeStatus, nowMs: number): string {
  if (st.state === 'detached') return `detached: ${st.id} is not a member of the group (removed, or still joining)`;
  const parts = [`no leader: ${roleName(st.role)} in term ${st.term}`];
  const me = st.members.find((m) => m.id === st.id);
  if (me?.type === 'secondary') parts.push('a secondary never campaigns, it waits for a leader');
  else if (me?.priority === 0) parts.push('priority 0: it never campaigns, it waits for a leader');
  else parts.push(`an election needs the votes of ${describeQuorum(st)}`);
  const last = st.history[0];
  if (last) parts.push(`last event ${last.from}:${last.event}:${last.to} ${formatAgoMs(nowMs - last.at)} ago`);
  const c = st.counters;
  parts.push(`pre-votes ${c.preVotesStarted}, elections ${c.electionsStarted} (won ${c.electionsWon})`);
  parts.push(c.lastLeaderContactAt === null ? 'no leader heard since start' : `leader last heard ${formatAgoMs(nowMs - c.lastLeaderContactAt)} ago`);
  return parts.join('; ');
}

/**
 * The JE procedure's next step when the members this node reaches cannot make a quorum:
 * "; if n3, n4, n5 are lost for good: conclave override set 2 --node n1 --node n2 (...)".
 * `reachable`: electable members (this one included) this node is connected to. Empty when
 * they make a quorum anyway (the trouble is elsewhere) or when none is missing.
 */
export function overrideHint(st: Pick<NodeStatus, 'members' | 'electionQuorum'>, reachable: readonly string[]): string {
  const electable = st.members.filter((m) => m.type === 'electable' && !m.removed).map((m) => m.id);
  const lost = electable.filter((id) => !reachable.includes(id));
  const here = electable.filter((id) => reachable.includes(id));
  if (lost.length === 0 || here.length === 0 || here.length >= st.electionQuorum) return '';
  return `; if ${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} lost for good: conclave override set ${here.length} ${here.map((id) => `--node ${id}`).join(' ')} (see the procedure: first make sure they are down, not just silent)`;
}
