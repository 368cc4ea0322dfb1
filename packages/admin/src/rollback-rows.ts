// `conclave node accept-rollback`: the operator's answer to a refused rollback, one row per member.
import type { NodeId } from '@conclave/core';
import type { Answer, MemberProbe } from './member-survey.js';
import { actionRow } from './openio-status.js';

export interface AcceptRollbackAnswer {
  readonly lostWriteCount: number;
  readonly fromIndex: number;
  readonly toIndex: number;
  /** The report listing every discarded write, written and fsynced before the rollback. */
  readonly file: string;
}

export interface AcceptRollbackRow {
  readonly id: NodeId;
  readonly address: string;
  readonly status: number;
  readonly message: string;
  readonly lostWriteCount: number | null;
  readonly fromIndex: number | null;
  readonly toIndex: number | null;
  readonly file: string | null;
}

export function acceptRollbackRow(target: MemberProbe, answer: Answer<AcceptRollbackAnswer>, timeoutMs: number): AcceptRollbackRow {
  return actionRow<AcceptRollbackAnswer, Pick<AcceptRollbackRow, 'lostWriteCount' | 'fromIndex' | 'toIndex' | 'file'>>(
    target,
    answer,
    timeoutMs,
    (r) => ({
      message: `rolling back ${r.lostWriteCount} committed writes [${r.fromIndex}, ${r.toIndex}] to follow the leader; every one is listed in ${r.file}`,
      fields: { lostWriteCount: r.lostWriteCount, fromIndex: r.fromIndex, toIndex: r.toIndex, file: r.file },
    }),
    { lostWriteCount: null, fromIndex: null, toIndex: null, file: null },
  );
}
