// `conclave election status|debug`: one row per member (OpenIO's Id | Status | Message, and
// the debug body), then one verdict: the leader, whether a quorum is reachable, split brain.
// Pure functions of a Survey; these objects are exactly what --json prints.
import { electableGroupSize, simpleMajority, type ElectionCounters, type HistoryEntry, type NodeId, type Role } from '@conclave/core';
import type { NodeState, NodeStatus, OverrideSource } from 'conclave';
import { EXIT } from './exit-codes.js';
import type { MemberProbe, Survey } from './member-survey.js';
import { answeredStatus, failureMessage, failureStatus, STATUS } from './openio-status.js';

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
}

export interface Verdict {
  /** The member claiming leadership in the highest term; null when none does. */
  readonly leader: LeaderClaim | null;
  /** Every member claiming to lead, highest term first. */
  readonly leaders: readonly LeaderClaim[];
  /** More than one member claims to lead. */
  readonly splitBrain: boolean;
  readonly electableGroupSize: number | null;
  /** Electable members that answered. */
  readonly electableAnswering: number;
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
  const leaders = answered
    .filter((st) => st.state === 'leader')
    .map((st) => ({ id: st.id, address: st.address, term: st.term }))
    .sort((a, b) => b.term - a.term);
  const leaderStatus = leaders.length > 0 ? answered.find((st) => st.id === leaders[0]!.id)! : null;
  const electable = survey.probes.filter((p) => p.member?.type === 'electable' && p.status !== null && p.status.state !== 'detached').map((p) => p.status!);
  const e = survey.group ? electableGroupSize(survey.group) : null;
  const majority = e === null ? null : simpleMajority(e);
  const quorum = leaderStatus ? leaderStatus.commitQuorum : electable.length > 0 ? Math.min(...electable.map((st) => st.electionQuorum)) : majority;
  const quorumReachable = quorum !== null && electable.length >= quorum;
  const overrides = answered
    .filter((st) => st.electableGroupSizeOverride > 0)
    .map((st) => {
      const q = simpleMajority(st.electableGroupSizeOverride);
      return { id: st.id, override: st.electableGroupSizeOverride, quorum: q, belowMajority: q < simpleMajority(e ?? st.electableGroupSize) };
    });
  const verdict = { leader: leaders[0] ?? null, leaders, splitBrain: leaders.length > 1, electableGroupSize: e, electableAnswering: electable.length, majority, quorum, quorumReachable, overrides };
  return { ...verdict, text: verdictText(verdict, answered.length) };
}

function verdictText(v: Omit<Verdict, 'text'>, answered: number): string {
  if (answered === 0) return 'verdict: no member answered';
  const who = v.splitBrain
    ? `SPLIT BRAIN: ${v.leaders.map((l) => `${l.id} (term ${l.term})`).join(', ')} each claim to lead`
    : v.leader
      ? `leader ${v.leader.id} (${v.leader.address}) in term ${v.leader.term}`
      : 'NO LEADER';
  let quorum = `quorum ${v.quorumReachable ? 'reachable' : 'NOT reachable'}: ${v.electableAnswering} of ${v.electableGroupSize} electable members answer, ${v.quorum} needed`;
  if (v.overrides.length > 0) {
    const each = v.overrides.map((o) => `${o.override} on ${o.id}${o.belowMajority ? ` (quorum ${o.quorum}: BELOW A TRUE MAJORITY)` : ''}`);
    quorum += ` (override ${each.join(', ')}; a true majority is ${v.majority})`;
  }
  return `verdict: ${who}; ${quorum}`;
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
