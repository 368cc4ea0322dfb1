// `conclave override show|set|clear`: each member's override with its source, and the check
// of step 1 of the JE HA procedure before setting one ("verify that a simple majority of
// electable nodes are in fact down"). Pure functions; --json prints these objects as they are.
import { simpleMajority, electableGroupSize, type NodeId } from '@conclave/core';
import { ConclaveError } from '@conclave/core';
import type { OverrideSource } from 'conclave';
import { electionRow } from './election-report.js';
import type { Answer, MemberProbe, Survey } from './member-survey.js';
import { actionRow, failureStatus, STATUS } from './openio-status.js';

export interface OverrideRow {
  readonly id: NodeId;
  readonly address: string;
  /** OpenIO's code for the member (200, 303, 500, 2, 7, 401). */
  readonly status: number;
  readonly message: string;
  readonly override: number | null;
  readonly overrideSource: OverrideSource | null;
  readonly untilMajority: boolean | null;
  readonly electableGroupSize: number | null;
  readonly effectiveGroupSize: number | null;
  readonly electionQuorum: number | null;
}

export function overrideRows(survey: Survey, nowMs: number): OverrideRow[] {
  return survey.probes.map((p) => {
    const row = electionRow(p, survey.timeoutMs, nowMs);
    const st = p.status;
    if (!st) return { id: p.id, address: p.address, status: row.status, message: row.message, override: null, overrideSource: null, untilMajority: null, electableGroupSize: null, effectiveGroupSize: null, electionQuorum: null };
    const o = st.electableGroupSizeOverride;
    const message = o === 0 ? `off: quorum ${st.electionQuorum} of ${st.electableGroupSize}` : `override ${o} (${st.overrideSource}${st.overrideUntilMajority ? ', until majority' : ''}): quorum ${st.electionQuorum} of ${o}, electable group size ${st.electableGroupSize}`;
    return {
      id: p.id,
      address: p.address,
      status: row.status,
      message,
      override: o,
      overrideSource: st.overrideSource,
      untilMajority: st.overrideUntilMajority,
      electableGroupSize: st.electableGroupSize,
      effectiveGroupSize: st.effectiveGroupSize,
      electionQuorum: st.electionQuorum,
    };
  });
}

/** Step 1 of the procedure, as measured: which electable members answered within the deadline. */
export interface OverrideProbe {
  readonly electableGroupSize: number;
  /** floor(E/2) + 1. */
  readonly majority: number;
  readonly answering: readonly NodeId[];
  readonly silent: readonly NodeId[];
  /**
   * Silent members that accepted the connection and then did not answer within the deadline
   * (status 7): alive but paused, overloaded or partitioned, maybe; not known to be down.
   */
  readonly unresponsive: readonly NodeId[];
  /** A majority still answers: it can elect its own leader, and an override elsewhere could make a second one. */
  readonly majorityAnswers: boolean;
  /** --force was given. */
  readonly forced: boolean;
}

export function overrideProbe(survey: Survey & { group: NonNullable<Survey['group']> }, forced: boolean): OverrideProbe {
  const e = electableGroupSize(survey.group);
  const electable = survey.probes.filter((p) => p.member?.type === 'electable');
  const answering = electable.filter((p) => p.status !== null).map((p) => p.id);
  const silent = electable.filter((p) => p.status === null).map((p) => p.id);
  const unresponsive = electable.filter((p) => p.status === null && failureStatus(p.error!) === STATUS.timeout).map((p) => p.id);
  const majority = simpleMajority(e);
  return { electableGroupSize: e, majority, answering, silent, unresponsive, majorityAnswers: answering.length >= majority, forced };
}

export function probeText(p: OverrideProbe): string {
  const who = p.answering.length > 0 ? ` (${p.answering.join(', ')})` : '';
  const down = p.silent.filter((id) => !p.unresponsive.includes(id));
  const silent = (down.length > 0 ? `; down (connection refused or failed): ${down.join(', ')}` : '') + (p.unresponsive.length > 0 ? `; alive but silent, maybe partitioned (accepted the connection, then no answer): ${p.unresponsive.join(', ')}` : '');
  return `probe: ${p.answering.length} of ${p.electableGroupSize} electable members answer${who}${silent}; a majority is ${p.majority}`;
}

/** `override set` refused: a majority of the electable members still answers (step 1 of the procedure fails). */
export class MajorityAnswersError extends ConclaveError {
  constructor(readonly probe: OverrideProbe) {
    super(
      'MAJORITY_ANSWERS',
      `refusing to set the override: ${probe.answering.length} of ${probe.electableGroupSize} electable members answer (${probe.answering.join(', ')}), ` +
        `a majority (${probe.majority}) that can elect a leader of its own; an override could then elect a second one. ` +
        'Step 1 of the procedure is to verify that a majority is down. Pass --force to set it anyway.',
    );
  }
}

/**
 * `override set` refused: members counted as down accepted the connection and then stayed
 * silent. They may be alive behind a partition (or paused), able to elect a leader of their own.
 */
export class MembersMaybeAliveError extends ConclaveError {
  constructor(readonly probe: OverrideProbe) {
    const who = probe.unresponsive.join(', ');
    super(
      'MEMBERS_MAYBE_ALIVE',
      `refusing to set the override: ${who} accepted the connection but did not answer in time, so ${probe.unresponsive.length === 1 ? 'it is' : 'they are'} not known to be down: alive but silent, maybe partitioned or paused. ` +
        'Step 1 of the procedure is to verify that a simple majority of electable nodes are in fact down (stopped, not merely unreachable): with the override set while they are alive, each side can elect a master, ' +
        'and when the partition heals the writes of the side that loses are rolled back (the side whose leader has the higher term wins, whatever the override). ' +
        `Stop ${who} (or make sure ${probe.unresponsive.length === 1 ? 'it is' : 'they are'} down), or pass --force to set it anyway.`,
    );
  }
}

export interface OverrideChangeRow {
  readonly id: NodeId;
  readonly address: string;
  /** 200 when the member took the change; else the failure's code. */
  readonly status: number;
  readonly message: string;
  readonly previous: number | null;
  readonly override: number | null;
  readonly overrideSource: OverrideSource | null;
  readonly untilMajority: boolean | null;
}

export interface OverrideSetAnswer {
  readonly previous: number;
  readonly current: number;
  readonly electableGroupSize: number;
  readonly overrideSource: OverrideSource;
  readonly overrideUntilMajority: boolean;
}

export function overrideChangeRow(target: MemberProbe, answer: Answer<OverrideSetAnswer>, timeoutMs: number): OverrideChangeRow {
  return actionRow<OverrideSetAnswer, Pick<OverrideChangeRow, 'previous' | 'override' | 'overrideSource' | 'untilMajority'>>(
    target,
    answer,
    timeoutMs,
    (r) => ({
      message:
        r.current === 0
          ? r.previous === 0
            ? `no override: quorums from the electable group size ${r.electableGroupSize}`
            : `override cleared (was ${r.previous}): quorums from the electable group size ${r.electableGroupSize}`
          : `override ${r.current} (was ${r.previous}; electable group size ${r.electableGroupSize})${r.overrideUntilMajority ? ', clears itself once a true majority is back' : ''}`,
      fields: { previous: r.previous, override: r.current, overrideSource: r.overrideSource, untilMajority: r.overrideUntilMajority },
    }),
    { previous: null, override: null, overrideSource: null, untilMajority: null },
  );
}

export interface OverrideSetReport {
  readonly ok: boolean;
  readonly n: number;
  readonly probe: OverrideProbe;
  readonly members: readonly OverrideChangeRow[];
}

export interface OverrideClearReport {
  readonly ok: boolean;
  readonly members: readonly OverrideChangeRow[];
}
