// `conclave group show`: the members from the group metadata (removed ones included), the
// electable group size, the leader, and what each member says of itself (state, applied
// index, override and its source). A pure function of a Survey; --json prints it as is.
import { electableGroupSize, type MemberType, type NodeId } from '@conclave/core';
import type { NodeState, OverrideSource } from 'conclave';
import { verdictOf, electionRow, type LeaderClaim } from './election-report.js';
import type { Survey } from './member-survey.js';

export interface GroupMemberRow {
  readonly id: NodeId;
  readonly address: string;
  readonly type: MemberType;
  readonly priority: number;
  readonly removed: boolean;
  /** OpenIO's code (200, 303, 500, 2, 7, 401); null for a removed member, which is not asked. */
  readonly status: number | null;
  readonly message: string | null;
  readonly state: NodeState | null;
  readonly term: number | null;
  readonly appliedIndex: number | null;
  readonly override: number | null;
  readonly overrideSource: OverrideSource | null;
  readonly untilMajority: boolean | null;
  /** 'prohibited' or 'divergedWithoutOverride' for a member that refuses its leader's log (see the message). */
  readonly rollback: string | null;
}

export interface GroupReport {
  readonly groupId: string;
  /** The member whose metadata this is (the leader when it answered). */
  readonly source: NodeId;
  readonly electableGroupSize: number;
  readonly leader: LeaderClaim | null;
  readonly members: readonly GroupMemberRow[];
}

export function groupReport(survey: Survey & { group: NonNullable<Survey['group']> }, nowMs: number): GroupReport {
  const members = survey.group.members.map((m): GroupMemberRow => {
    const probe = m.removed ? undefined : survey.probes.find((p) => p.member?.id === m.id);
    const row = probe ? electionRow(probe, survey.timeoutMs, nowMs) : null;
    const st = probe?.status ?? null;
    return {
      id: m.id,
      address: m.address,
      type: m.type,
      priority: m.priority,
      removed: m.removed,
      status: row?.status ?? null,
      message: row?.message ?? null,
      state: st?.state ?? null,
      term: st?.term ?? null,
      appliedIndex: st?.appliedIndex ?? null,
      override: st?.electableGroupSizeOverride ?? null,
      overrideSource: st?.overrideSource ?? null,
      untilMajority: st?.overrideUntilMajority ?? null,
      rollback: st ? st.rollback.state : null,
    };
  });
  return { groupId: survey.group.groupId, source: survey.source!, electableGroupSize: electableGroupSize(survey.group), leader: verdictOf(survey).leader, members };
}
