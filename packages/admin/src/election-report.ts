// `conclave election status|debug`: one row per member (OpenIO's Id | Status | Message, and
// the debug body), then one verdict: the leader, whether a quorum is reachable, split brain.
// Pure functions of a Survey; these objects are exactly what --json prints.
import { electableGroupSize, simpleMajority, type ElectionCounters, type HistoryEntry, type NodeId, type Role } from '@conclave/core';
import type { NodeState, NodeStatus, OverrideSource } from 'conclave';
import { EXIT } from './exit-codes.js';
import type { MemberProbe, Survey } from './member-survey.js';
import { answeredStatus, failureMessage, failureStatus, isRefusingLeader, STATUS } from './openio-status.js';

export interface ElectionRow {
  readonly id: string;
  readonly address: string;
  /** 200, 303, 500, 2, 7 or 401. */
  readonly status: number;
  readonly message: string;
  /** null when the member did not answer. */
  readonly state: NodeState | null;
  readonly term: number | null;
  readonly leader: NodeId | null;
  /** The member's electable group size override (0 = off). */
  readonly override: number | null;
}

export interface LeaderClaim {
  readonly id: NodeId;
  readonly address: string;
  readonly term: number;
  /** The claimant's override (0 = off): a leader elected on a quorum smaller than a true majority. */
  readonly override: number;
  readonly lastIndex: number;
}

/** Split brain: which claimant the group converges on when the partition heals, and why. */
export interface HealOutcome {
  readonly winner: NodeId | null;
  readonly losers: readonly NodeId[];
  readonly reason: string;
}

export interface Verdict {
  /** The one member claiming leadership; null when none does, or when several do (see leaders). */
  readonly leader: LeaderClaim | null;
  /** Every member claiming to lead, highest term first. */
  readonly leaders: readonly LeaderClaim[];
  /** More than one member claims to lead. */
  readonly splitBrain: boolean;
  readonly electableGroupSize: number | null;
  /** Electable members that answered and can take part in the group's quorum (not refusing its leader, following it when there is one). */
  readonly electableAnswering: number;
  /** Electable members that did not answer within the deadline (or refused the connection). */
  readonly silent: readonly NodeId[];
  /** Electable members that answered but refuse to rejoin the leader (rollback prohibited, or diverged without override). */
  readonly refusing: readonly NodeId[];
  /** Electable members that answered but follow another leader, or none, while a leader answers. */
  readonly notFollowing: readonly NodeId[];
  /** With more than one leader: who wins when the partition heals. */
  readonly heal: HealOutcome | null;
  /** What the operator does next, when the group is not healthy. */
  readonly next: string | null;
  /** floor(E/2) + 1: a true majority, without any override. */
  readonly majority: number | null;
  /** What the group needs now: the leader's commit quorum, else the smallest election quorum among the electable members that answered (overrides included). */
  readonly quorum: number | null;
  readonly quorumReachable: boolean;
  /**
   * Members running with an override: the quorum it gives, and whether that is below a true
   * majority of the current E (as when an override outlived the growth of the group).
   */
  readonly overrides: readonly { readonly id: NodeId; readonly override: number; readonly quorum: number; readonly belowMajority: boolean }[];
  /** The verdict line as printed. */
  readonly text: string;
}

export interface ElectionReport {
  readonly members: readonly ElectionRow[];
  readonly verdict: Verdict;
}

export interface DebugBody {
  readonly local: { readonly id: NodeId; readonly url: string; readonly role: Role; readonly state: NodeState; readonly term: number };
  readonly leader: { readonly id: NodeId; readonly url: string | null } | null;
  /** The other members; replication progress only on the leader (null elsewhere). */
  readonly peers: readonly { readonly id: NodeId; readonly url: string; readonly type: string; readonly matchIndex: number | null; readonly lag: number | null; readonly active: boolean | null }[];
  readonly counters: ElectionCounters;
  readonly quorum: {
    readonly electableGroupSize: number;
    readonly override: number;
    readonly overrideSource: OverrideSource;
    readonly untilMajority: boolean;
    readonly effectiveGroupSize: number;
    readonly electionQuorum: number;
    readonly commitQuorum: number;
  };
  /** Newest first. `at` is the node's clock, in milliseconds since the epoch. */
  readonly history: readonly HistoryEntry[];
  /** A refused or running rollback (JE hard recovery), as the node reports it. */
  readonly rollback: NodeStatus['rollback'];
  /** The member's clock when it answered (ms since the epoch): ages are relative to it. */
  readonly nowMs: number;
}

export interface ElectionDebugRow extends ElectionRow {
  readonly body: DebugBody | null;
}

export interface ElectionDebugReport {
  readonly members: readonly ElectionDebugRow[];
  readonly verdict: Verdict;
}

export function electionRow(p: MemberProbe, timeoutMs: number, nowMs: number): ElectionRow {
  const st = p.status;
  if (!st) {
    const e = p.error!;
    return { id: p.id, address: p.address, status: failureStatus(e), message: failureMessage(p.address, e, timeoutMs), state: null, term: null, leader: null, override: null };
  }
  const { status, message } = answeredStatus(st, nowMs);
  return { id: p.id, address: p.address, status, message, state: st.state, term: st.term, leader: st.leader?.id ?? null, override: st.electableGroupSizeOverride };
}

export function verdictOf(survey: Survey): Verdict {
  const answered = survey.probes.filter((p) => p.status !== null && p.member !== null).map((p) => p.status!);
  const leaders: LeaderClaim[] = answered
    .filter((st) => st.state === 'leader')
    .map((st) => ({ id: st.id, address: st.address, term: st.term, override: st.electableGroupSizeOverride, lastIndex: st.lastIndex }))
    .sort((a, b) => b.term - a.term || b.lastIndex - a.lastIndex);
  const splitBrain = leaders.length > 1;
  const leader = splitBrain ? null : (leaders[0] ?? null);
  const leaderStatus = leader ? answered.find((st) => st.id === leader.id)! : null;
  const electableProbes = survey.probes.filter((p) => p.member?.type === 'electable');
  const electable = electableProbes.filter((p) => p.status !== null && p.status.state !== 'detached').map((p) => p.status!);
  const silent = electableProbes.filter((p) => p.status === null).map((p) => p.id);
  const refusing = electable.filter(isRefusingLeader).map((st) => st.id);
  const notFollowing = leader ? electable.filter((st) => !isRefusingLeader(st) && st.id !== leader.id && st.leader?.id !== leader.id).map((st) => st.id) : [];
  // Only members that can vote for, or acknowledge, the leader make a quorum.
  const usable = electable.filter((st) => !refusing.includes(st.id) && !notFollowing.includes(st.id));
  const e = survey.group ? electableGroupSize(survey.group) : null;
  const majority = e === null ? null : simpleMajority(e);
  // With two leaders no override's quorum speaks for the group: a true majority does.
  const quorum = splitBrain ? majority : leaderStatus ? leaderStatus.commitQuorum : usable.length > 0 ? Math.min(...usable.map((st) => st.electionQuorum)) : majority;
  const quorumReachable = !splitBrain && quorum !== null && usable.length >= quorum;
  const overrides = answered
    .filter((st) => st.electableGroupSizeOverride > 0)
    .map((st) => {
      const q = simpleMajority(st.electableGroupSizeOverride);
      return { id: st.id, override: st.electableGroupSizeOverride, quorum: q, belowMajority: q < simpleMajority(e ?? st.electableGroupSize) };
    });
  const heal = splitBrain ? healOutcome(leaders) : null;
  const verdict = { leader, leaders, splitBrain, electableGroupSize: e, electableAnswering: usable.length, majority, quorum, quorumReachable, overrides, silent, refusing, notFollowing, heal };
  const refusedAuth = survey.probes.filter((p) => p.status === null && p.error !== null && failureStatus(p.error) === STATUS.unauthorized).length;
  const next = refusedAuth > 0 && answered.length === 0 ? 'give the admin secret of this group (--secret-file FILE)' : nextStep(verdict, usable.map((st) => st.id));
  return { ...verdict, next, text: verdictText({ ...verdict, next }, answered.length, refusedAuth) };
}

function healOutcome(leaders: readonly LeaderClaim[]): HealOutcome {
  const [top, second] = leaders;
  if (top!.term === second!.term) {
    return { winner: null, losers: [], reason: `two leaders in the same term ${top!.term}: neither deposes the other by term; the next election goes to the most up-to-date log (last log term, then last index)` };
  }
  const losers = leaders.slice(1).map((l) => l.id);
  return {
    winner: top!.id,
    losers,
    reason:
      `${top!.id} wins: its term ${top!.term} is the highest, so ${losers.join(', ')} step${losers.length === 1 ? 's' : ''} down at its first message, and its log (last entry of term ${top!.term}) beats theirs in any vote. ` +
      `What ${losers.join(', ')}'s side committed since the partition is rolled back (each member within its rollbackLimit, else it refuses until accepted)`,
  };
}

function nextStep(v: Omit<Verdict, 'text' | 'next'>, usable: readonly NodeId[]): string | null {
  if (v.splitBrain) {
    const withOverride = v.overrides.map((o) => o.id);
    const clear = withOverride.length > 0 ? `conclave override clear ${withOverride.map((id) => `--node ${id}`).join(' ')}` : 'clear any override';
    return `stop writing to ${v.heal?.losers.join(', ') || 'the side that will lose'}, ${clear}, heal the partition, then check for refused rollbacks (conclave election status; conclave node accept-rollback --node ID --yes)`;
  }
  const steps: string[] = [];
  if (v.refusing.length > 0) {
    steps.push(`${v.refusing.join(', ')} refuse${v.refusing.length === 1 ? 's' : ''} to roll back: read its report in <data>/rollbacks/ and its message, then conclave node accept-rollback ${v.refusing.map((id) => `--node ${id}`).join(' ')} --yes`);
  }
  if (!v.quorumReachable && v.quorum !== null && usable.length > 0) {
    const lost = [...v.silent, ...v.refusing, ...v.notFollowing];
    steps.push(
      `if ${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} lost for good: conclave override set ${usable.length} ${usable.map((id) => `--node ${id}`).join(' ')} (see the procedure: first make sure they are down, not just silent)`,
    );
  }
  return steps.length > 0 ? steps.join('; ') : null;
}

function verdictText(v: Omit<Verdict, 'text'>, answered: number, refusedAuth: number): string {
  // Members that refused our credentials did answer: say so, not "no member answered".
  if (answered === 0 && refusedAuth > 0) return `verdict: authentication refused by ${refusedAuth} member${refusedAuth === 1 ? '' : 's'}; next: ${v.next}`;
  if (answered === 0) return 'verdict: no member answered';
  const who = v.splitBrain
    ? `SPLIT BRAIN: ${v.leaders.map((l) => `${l.id} (term ${l.term}, ${l.override > 0 ? `override ${l.override}` : 'override off'}, last index ${l.lastIndex})`).join(', ')} each claim to lead; when the partition heals ${v.heal!.reason}`
    : v.leader
      ? `leader ${v.leader.id} (${v.leader.address}) in term ${v.leader.term}`
      : 'NO LEADER';
  let quorum = v.splitBrain
    ? `no single quorum: a true majority is ${v.majority} of ${v.electableGroupSize}`
    : `quorum ${v.quorumReachable ? 'reachable' : 'NOT reachable'}: ${v.electableAnswering} of ${v.electableGroupSize} electable members answer, ${v.quorum} needed`;
  const out = [
    v.silent.length > 0 ? `silent: ${v.silent.join(', ')}` : '',
    v.refusing.length > 0 ? `refusing the leader's log: ${v.refusing.join(', ')}` : '',
    v.notFollowing.length > 0 ? `not following ${v.leader?.id ?? 'the leader'}: ${v.notFollowing.join(', ')}` : '',
  ].filter((x) => x !== '');
  // Who is missing matters when it costs the quorum, or when a member refuses its leader.
  if (out.length > 0 && !v.splitBrain && (!v.quorumReachable || v.refusing.length > 0 || v.notFollowing.length > 0)) quorum += ` (${out.join('; ')})`;
  if (v.overrides.length > 0) {
    const each = v.overrides.map((o) => `${o.override} on ${o.id}${o.belowMajority ? ` (quorum ${o.quorum}: BELOW A TRUE MAJORITY)` : ''}`);
    quorum += ` (override ${each.join(', ')}; a true majority is ${v.majority})`;
  }
  return `verdict: ${who}; ${quorum}${v.next ? `; next: ${v.next}` : ''}`;
}

export function electionReport(survey: Survey, nowMs: number): ElectionReport {
  return { members: survey.probes.map((p) => electionRow(p, survey.timeoutMs, nowMs)), verdict: verdictOf(survey) };
}

export function debugBody(st: NodeStatus): DebugBody {
  return {
    local: { id: st.id, url: st.address, role: st.role, state: st.state, term: st.term },
    leader: st.leader ? { id: st.leader.id, url: st.leader.address } : null,
    peers: st.members
      .filter((m) => !m.removed && m.id !== st.id)
      .map((m) => {
        const p = st.peers.find((x) => x.id === m.id);
        return { id: m.id, url: m.address, type: m.type, matchIndex: p?.matchIndex ?? null, lag: p?.lag ?? null, active: p?.active ?? null };
      }),
    counters: st.counters,
    quorum: {
      electableGroupSize: st.electableGroupSize,
      override: st.electableGroupSizeOverride,
      overrideSource: st.overrideSource,
      untilMajority: st.overrideUntilMajority,
      effectiveGroupSize: st.effectiveGroupSize,
      electionQuorum: st.electionQuorum,
      commitQuorum: st.commitQuorum,
    },
    history: st.history,
    rollback: st.rollback,
    nowMs: st.nowMs,
  };
}

export function electionDebugReport(survey: Survey, nowMs: number): ElectionDebugReport {
  return {
    members: survey.probes.map((p) => ({ ...electionRow(p, survey.timeoutMs, nowMs), body: p.status ? debugBody(p.status) : null })),
    verdict: verdictOf(survey),
  };
}

/** 0: one leader and a reachable quorum; 3: no member reachable at all; 1: anything else (no leader, split brain, no quorum, a refused secret). */
export function electionExitCode(r: ElectionReport): number {
  if (r.members.every((m) => m.status === STATUS.network || m.status === STATUS.timeout)) return EXIT.unreachable;
  const healthy = r.verdict.leader !== null && !r.verdict.splitBrain && r.verdict.quorumReachable && !r.members.some((m) => m.status === STATUS.unauthorized);
  return healthy ? EXIT.ok : EXIT.failed;
}
