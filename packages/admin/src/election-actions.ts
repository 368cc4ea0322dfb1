// `conclave election leave|ping`: one row per member asked, OpenIO-style (200 when the member
// did it, else why not). --json prints { ok, members: rows }.
import type { NodeId, Role } from '@conclave/core';
import { roleName } from 'conclave/diagnosis';
import type { Answer } from './member-survey.js';
import { actionRow } from './openio-status.js';

interface Target {
  readonly id: string;
  readonly address: string;
}

export interface LeaveRow {
  readonly id: NodeId;
  readonly address: string;
  readonly status: number;
  readonly message: string;
  readonly previousRole: Role | null;
  readonly role: Role | null;
  readonly term: number | null;
  readonly override: number | null;
}

interface LeaveAnswer {
  readonly previousRole: Role;
  readonly role: Role;
  readonly term: number;
  readonly electableGroupSizeOverride: number;
}

/** What leaving did, by the role the member had: only a leader or a candidate gives anything up. */
function leaveMessage(r: LeaveAnswer): string {
  const change = `${roleName(r.previousRole)} -> ${roleName(r.role)} in term ${r.term}`;
  switch (r.previousRole) {
    case 'leader':
      return `stepped down: ${change}; the group elects a leader again (any member with an up-to-date log may win, this one included)`;
    case 'follower':
      return `nothing to leave: ${change}; it forgot its leader and follows the next one it hears (the live leader's next heartbeat), and campaigns only if it hears no leader for an election timeout`;
    default:
      return `stopped campaigning: ${change}; it campaigns again after an election timeout unless it hears a leader first`;
  }
}

export function leaveRow(target: Target, answer: Answer<LeaveAnswer>, timeoutMs: number): LeaveRow {
  return actionRow<LeaveAnswer, Pick<LeaveRow, 'previousRole' | 'role' | 'term' | 'override'>>(
    target,
    answer,
    timeoutMs,
    (r) => ({
      message: leaveMessage(r) + (r.electableGroupSizeOverride > 0 ? ` (override ${r.electableGroupSizeOverride})` : ''),
      fields: { previousRole: r.previousRole, role: r.role, term: r.term, override: r.electableGroupSizeOverride },
    }),
    { previousRole: null, role: null, term: null, override: null },
  );
}

export interface PingRow {
  readonly id: NodeId;
  readonly address: string;
  readonly status: number;
  readonly message: string;
  /** 'campaign' when the ping started an election, 'none' when there was nothing to do. */
  readonly action: 'campaign' | 'none' | null;
  readonly role: Role | null;
  readonly term: number | null;
  readonly leader: NodeId | null;
  readonly override: number | null;
}

interface PingAnswer {
  readonly action: 'campaign' | 'none';
  readonly reason: string;
  readonly role: Role;
  readonly term: number;
  readonly leader: { readonly id: NodeId } | null;
  readonly electableGroupSizeOverride: number;
  /** The node's refused rollback, if any: it will not follow that leader (older nodes omit it). */
  readonly rollback?: string;
}

export function pingRow(target: Target, answer: Answer<PingAnswer>, timeoutMs: number): PingRow {
  return actionRow<PingAnswer, Pick<PingRow, 'action' | 'role' | 'term' | 'leader' | 'override'>>(
    target,
    answer,
    timeoutMs,
    (r) => ({
      message: `${r.reason}${r.electableGroupSizeOverride > 0 ? ` (override ${r.electableGroupSizeOverride})` : ''}${r.rollback ? `; ${r.rollback}` : ''}`,
      fields: { action: r.action, role: r.role, term: r.term, leader: r.leader?.id ?? null, override: r.electableGroupSizeOverride },
    }),
    { action: null, role: null, term: null, leader: null, override: null },
  );
}
