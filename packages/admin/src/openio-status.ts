// OpenIO's per-member status codes (`openio election status`), as the conclave CLI prints them:
// 200 leader, 303 follower (the message names the leader), 500 no leader or election failing,
// 2 network error (connection refused), 7 timeout, 401 authentication failed.
import type { NodeStatus } from 'conclave';
import { explainNoLeader, roleName } from 'conclave/diagnosis';
import { EXIT } from './exit-codes.js';
import type { Answer, RemoteFailure } from './member-survey.js';

export const STATUS = { ok: 200, leader: 200, follower: 303, failed: 500, network: 2, timeout: 7, unauthorized: 401 } as const;

const NETWORK_CODES = new Set(['CONNECTION_REFUSED', 'CONNECTION_FAILED', 'NO_ENDPOINT']);
const TIMEOUT_CODES = new Set(['TIMEOUT', 'DEADLINE_EXCEEDED']);

/** The code for a member that did not answer, or whose answer was an error. */
export function failureStatus(e: RemoteFailure): number {
  if (NETWORK_CODES.has(e.code)) return STATUS.network;
  if (TIMEOUT_CODES.has(e.code)) return STATUS.timeout;
  if (e.code === 'ADMIN_AUTH_FAILED') return STATUS.unauthorized;
  return STATUS.failed;
}

export function failureMessage(address: string, e: RemoteFailure, timeoutMs: number): string {
  switch (failureStatus(e)) {
    case STATUS.network:
      return e.code === 'CONNECTION_REFUSED' ? `${address}: connection refused` : `${address}: ${e.message}`;
    case STATUS.timeout:
      return `Timeout (no answer within ${timeoutMs} ms)`;
    case STATUS.unauthorized:
      return `authentication failed: wrong or missing admin secret (${e.message})`;
    default:
      return `${e.code}: ${e.message}`;
  }
}

/** ", override 2 (runtime, until majority)" when the member runs with one, else "". */
export function overrideNote(st: NodeStatus): string {
  const o = st.electableGroupSizeOverride;
  if (o === 0) return '';
  return `; override ${o} (${st.overrideSource}${st.overrideUntilMajority ? ', until majority' : ''}): quorum ${st.commitQuorum} of ${o}, electable group size ${st.electableGroupSize}`;
}

/** The member refused to rejoin its leader (a prohibited rollback, or a divergence no override explains): it neither votes for nor acknowledges that leader. */
export function isRefusingLeader(st: NodeStatus): boolean {
  const r = st.rollback?.state;
  return r === 'prohibited' || r === 'divergedWithoutOverride';
}

/** The refusal and the operator's way out, for a member's row. */
export function rollbackNote(st: NodeStatus): string {
  const r = st.rollback;
  if (r?.state === 'prohibited') {
    return `; ROLLBACK PROHIBITED: ${r.exact ? '' : 'up to '}${r.lostWriteCount} committed writes [${r.fromIndex}, ${r.toIndex}] diverge from leader ${r.leader} (limit ${r.rollbackLimit}); it stays out of the group. To accept the loss: conclave node accept-rollback --node ${st.id} --yes`;
  }
  if (r?.state === 'divergedWithoutOverride') {
    return `; DIVERGED WITHOUT OVERRIDE: ${r.lostWriteCount} committed writes [${r.fromIndex}, ${r.toIndex}] differ from leader ${r.leader} and no override explains it (damaged data?); it stays out and keeps its data. Find the damaged side; to discard this node's: conclave node accept-rollback --node ${st.id} --yes`;
  }
  if (r?.state === 'rollingBack') return `; rolling back ${r.lostWriteCount} committed writes to follow ${r.leader} (listed in ${r.file})`;
  return '';
}

/** 200, 303 or 500 for a member that answered, with OpenIO's message (and the override, always). */
export function answeredStatus(st: NodeStatus, readerNowMs: number): { status: number; message: string } {
  // Ages are the member's, at the moment it answered: the reader's clock would add the time
  // spent waiting for slower members (up to --timeout) and any clock skew.
  const nowMs = typeof st.nowMs === 'number' ? st.nowMs : readerNowMs;
  const notes = overrideNote(st) + rollbackNote(st);
  // A member that refuses its leader's log is not part of the group's quorum: a failure, whoever it names.
  if (isRefusingLeader(st)) return { status: STATUS.failed, message: `${roleName(st.role)} in term ${st.term}, out of the group${notes}` };
  if (st.state === 'leader') return { status: STATUS.leader, message: `OK: leader in term ${st.term}${notes}` };
  if (st.leader !== null && st.state !== 'detached') {
    return { status: STATUS.follower, message: `${st.leader.id} ${st.leader.address ?? '(address unknown)'}${notes}` };
  }
  // The explanation spells out the quorum and the override already; add where the override comes from.
  const origin = st.electableGroupSizeOverride > 0 ? `; override from ${st.overrideSource}${st.overrideUntilMajority ? ', until majority' : ''}` : '';
  return { status: STATUS.failed, message: explainNoLeader(st, nowMs) + origin + rollbackNote(st) };
}

/** A row of an action run on several members (leave, ping, override set): 200 with `ok`'s message and fields, or the failure with `empty` fields. */
export function actionRow<R, X extends object>(
  target: { readonly id: string; readonly address: string },
  answer: Answer<R>,
  timeoutMs: number,
  ok: (r: R) => { readonly message: string; readonly fields: X },
  empty: X,
): { id: string; address: string; status: number; message: string } & X {
  const head = { id: target.id, address: target.address };
  if (answer.ok) {
    const { message, fields } = ok(answer.value);
    return { ...head, status: STATUS.ok, message, ...fields };
  }
  return { ...head, status: failureStatus(answer.error), message: failureMessage(target.address, answer.error, timeoutMs), ...empty };
}

/** 0 when every target did it, 3 when none could be reached, 1 otherwise. */
export function actionExitCode(rows: readonly { readonly status: number }[]): number {
  if (rows.length > 0 && rows.every((r) => r.status === STATUS.ok)) return EXIT.ok;
  if (rows.length > 0 && rows.every((r) => r.status === STATUS.network || r.status === STATUS.timeout)) return EXIT.unreachable;
  return EXIT.failed;
}
