// Tables for people (cli-table3, in OpenIO's plain ASCII look) and the text forms of times
// and election history entries.
import Table from 'cli-table3';
import { formatAgoMs } from 'conclave/diagnosis';
import type { HistoryEntry } from '@conclave/core';
import type { DebugBody } from './election-report.js';

const ASCII_CHARS = {
  top: '-', 'top-mid': '+', 'top-left': '+', 'top-right': '+',
  bottom: '-', 'bottom-mid': '+', 'bottom-left': '+', 'bottom-right': '+',
  left: '|', 'left-mid': '+', mid: '-', 'mid-mid': '+', right: '|', 'right-mid': '+', middle: '|',
};

export type Align = 'left' | 'right';

export function renderTable(head: readonly string[], rows: readonly (readonly (string | number | null)[])[], aligns: readonly Align[] = []): string {
  const t = new Table({
    head: [...head],
    chars: ASCII_CHARS,
    style: { head: [], border: [], compact: true },
    colAligns: head.map((_, i) => aligns[i] ?? 'left'),
  });
  for (const r of rows) {
    // One table row per line of the row's tallest cell: the compact style draws no line between
    // rows, so this looks the same as multi-line cells, which cli-table3 lays out in time
    // cubic in their line count (seconds for an election history).
    const cells = r.map((c) => (c === null ? '-' : String(c)).split('\n'));
    const height = Math.max(...cells.map((lines) => lines.length));
    for (let k = 0; k < height; k++) t.push(cells.map((lines) => lines[k] ?? ''));
  }
  return t.toString();
}

/** "n1 (127.0.0.1:7001)", or the address alone for an endpoint that is not a member. */
export function memberLabel(row: { readonly id: string; readonly address: string }): string {
  return row.id === row.address ? row.address : `${row.id} (${row.address})`;
}

/** Milliseconds since the epoch as printed: the number, or with --human an ISO date and how long ago. */
export function formatTime(ms: number, human: boolean, nowMs: number): string {
  return human ? `${new Date(ms).toISOString()} (${formatAgoMs(nowMs - ms)} ago)` : String(ms);
}

/** "1718000000000 term 4 FOLLOWER:ELECTION_TIMEOUT:PRE_CANDIDATE (term 5)", OpenIO's FROM:EVENT:TO with when and the term. */
export function historyLine(h: HistoryEntry, human: boolean, nowMs: number): string {
  return `${formatTime(h.at, human, nowMs)} term ${h.term} ${h.from}:${h.event}:${h.to}${h.detail ? ` (${h.detail})` : ''}`;
}

/**
 * One member's debug body for people: a section per part, one line each, and the history as
 * a list (newest first). Times are the member's own (`nowMs`: its clock when it answered).
 */
export function bodyText(body: DebugBody, human: boolean, readerNowMs: number): string {
  const nowMs = body.nowMs ?? readerNowMs;
  const q = body.quorum;
  const c = body.counters;
  const peers = body.peers.map((p) => `${p.id} ${p.type}${p.matchIndex === null ? '' : ` match ${p.matchIndex} lag ${p.lag}`}${p.active === null ? '' : p.active ? ' active' : ' inactive'}`);
  const rb = body.rollback;
  const rollback =
    rb.state === 'none'
      ? 'none'
      : rb.state === 'rollingBack'
        ? `rolling back ${rb.lostWriteCount} writes to follow ${rb.leader} (${rb.file})`
        : rb.state === 'prohibited'
          ? `PROHIBITED: ${rb.lostWriteCount} committed writes [${rb.fromIndex}, ${rb.toIndex}] diverge from ${rb.leader} (limit ${rb.rollbackLimit})`
          : `DIVERGED WITHOUT OVERRIDE: ${rb.lostWriteCount} committed writes [${rb.fromIndex}, ${rb.toIndex}] differ from ${rb.leader}`;
  const lines = [
    `  local     ${body.local.id} ${body.local.role} (${body.local.state}), term ${body.local.term}, ${body.local.url}`,
    `  leader    ${body.leader ? `${body.leader.id} (${body.leader.url ?? 'address unknown'})` : 'none'}`,
    `  quorum    electable group size ${q.electableGroupSize}, override ${q.override} (${q.overrideSource}${q.untilMajority ? ', until majority' : ''}), effective group size ${q.effectiveGroupSize}, election quorum ${q.electionQuorum}, commit quorum ${q.commitQuorum}`,
    `  peers     ${peers.length > 0 ? peers.join('; ') : 'none'}`,
    `  counters  pre-votes ${c.preVotesStarted} (rejected ${c.preVotesRejected}), elections ${c.electionsStarted} (won ${c.electionsWon}, lost ${c.electionsLost}), votes granted ${c.votesGranted}, refused ${c.votesRefused}, leader changes ${c.leaderChanges}, leader last heard ${c.lastLeaderContactAt === null ? 'never' : formatTime(c.lastLeaderContactAt, human, nowMs)}`,
    `  rollback  ${rollback}`,
    `  history (newest first)`,
    ...body.history.map((h) => `    - ${historyLine(h, human, nowMs)}`),
  ];
  return lines.join('\n');
}
