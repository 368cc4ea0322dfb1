// JE HA's hard recovery: what a diverged node would lose, and the record it leaves for the
// operator before rolling back. The decision itself is the node's (see ConclaveNode).
import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { spanOverlaps, type Divergence, type Entry, type NodeId, type OverrideSpan } from '@conclave/core';
import { decodeCommand, LogCompactedError, type NodeStorage } from '@conclave/storage';
import { DivergedWithoutOverrideError, RollbackProhibitedError } from './errors.js';

export interface LostWrite {
  readonly index: number;
  readonly term: number;
  /** The write as it was committed here: { op, key, value } or a batch or compare-and-set. */
  readonly command: unknown;
}

export interface RollbackReport {
  readonly nodeId: NodeId;
  readonly groupId: string;
  readonly at: string;
  readonly leader: NodeId;
  readonly leaderTerm: number;
  /** [fromIndex, toIndex]: the committed entries this node replaces with the leader's state. */
  readonly fromIndex: number;
  readonly toIndex: number;
  /** Application writes among them (no-ops and membership entries are not counted). */
  readonly lostWriteCount: number;
  readonly lostWrites: readonly LostWrite[];
  /** Entries already compacted out of the local log: counted as writes, but not listed. */
  readonly unlistedEntries: number;
  /**
   * False when the leader no longer held the point where the logs part: fromIndex is then
   * the lowest index that may differ, and the count an upper bound (some may not be lost).
   */
  readonly exact: boolean;
  /** This node's override span, and the leader's, when the divergence was found. */
  readonly overrideSpan: OverrideSpan | null;
  readonly leaderOverrideSpan: OverrideSpan | null;
}

/** Reads the diverged committed entries from the durable log and lists the writes they hold. */
/** `atMs`: the wall time the report is stamped with (ms since the epoch). */
export async function describeLoss(storage: NodeStorage, d: Divergence, nodeId: NodeId, groupId: string, overrideSpan: OverrideSpan | null, atMs: number): Promise<RollbackReport> {
  const to = Math.min(d.committed, storage.lastIndex);
  let entries: Entry[] = [];
  let unlisted = 0;
  if (to >= d.index) {
    try {
      entries = await storage.entries(d.index, to + 1);
    } catch (err) {
      if (!(err instanceof LogCompactedError)) throw err;
      const first = storage.compacted.index + 1;
      unlisted = Math.max(0, first - d.index);
      if (to >= first) entries = await storage.entries(first, to + 1);
    }
  }
  const lostWrites: LostWrite[] = [];
  for (const e of entries) {
    if (e.type !== 'normal' || e.data.length === 0) continue;
    let command: unknown;
    try {
      command = decodeCommand(e.data);
    } catch (err) {
      command = { undecodable: (err as Error).message };
    }
    lostWrites.push({ index: e.index, term: e.term, command });
  }
  return {
    nodeId,
    groupId,
    at: new Date(atMs).toISOString(),
    leader: d.leader,
    leaderTerm: d.term,
    fromIndex: d.index,
    toIndex: d.committed,
    lostWriteCount: lostWrites.length + unlisted,
    lostWrites,
    unlistedEntries: unlisted,
    exact: d.exact,
    overrideSpan,
    leaderOverrideSpan: d.leaderOverride,
  };
}

export type RollbackDecision =
  | { readonly action: 'rollBack' }
  | { readonly action: 'prohibit'; readonly error: RollbackProhibitedError }
  | { readonly action: 'refuse'; readonly error: DivergedWithoutOverrideError };

/**
 * JE's rules for a diverged node: roll back on its own only when an override can explain the
 * divergence and the loss is within the limit (or the operator accepted it). A divergence no
 * override explains means damaged data: keep it for the operator (issue 12 item 2).
 */
export function decideRollback(report: RollbackReport, opts: { rollbackLimit: number; accepted: boolean }): RollbackDecision {
  const { nodeId: id, leader, leaderTerm, fromIndex, toIndex } = report;
  const range = `[${fromIndex}, ${toIndex}]`;
  const fromOverride = spanOverlaps(report.overrideSpan, fromIndex, toIndex) || spanOverlaps(report.leaderOverrideSpan, fromIndex, Infinity);
  if (opts.accepted) return { action: 'rollBack' };
  if (!fromOverride) {
    const error = new DivergedWithoutOverrideError(
      fromIndex,
      toIndex,
      `node ${id}: leader ${leader} (term ${leaderTerm}) disagrees with entries ${range} that this node committed, and neither it nor the leader ran with an electable group size override while they were committed. ` +
        `Only damaged data explains that, on this node or on the leader's side. This node keeps its data and stays out of the group. ` +
        `Find which side is damaged; if it is this node, remove it and add it back empty (conclave group remove ${id}, wipe its data directory, conclave group add ${id} ...), or accept the loss with conclave node accept-rollback --node ${id} --yes.`,
    );
    return { action: 'refuse', error };
  }
  if (report.lostWriteCount > opts.rollbackLimit) {
    const count = report.exact ? `${report.lostWriteCount}` : `up to ${report.lostWriteCount}`;
    const error = new RollbackProhibitedError(
      report.lostWriteCount,
      opts.rollbackLimit,
      `node ${id} diverged from leader ${leader} (term ${leaderTerm}) at index ${fromIndex}${report.exact ? '' : ' or later (the leader no longer holds the point where the logs part)'}: ` +
        `rejoining would roll back ${count} committed writes, more than rollbackLimit ${opts.rollbackLimit} (entries ${range}). ` +
        `It stays out of the group and keeps its data. To accept the loss: conclave node accept-rollback --node ${id} --yes (or restart it with --accept-rollback, or call acceptRollback() on it).`,
    );
    return { action: 'prohibit', error };
  }
  return { action: 'rollBack' };
}

/**
 * Writes the report to <dataDir>/rollbacks/<time>-<node>-<random>.json, and makes it durable
 * (file, then directory) before anything is rolled back: a power cut must not keep the
 * rollback and lose the list of what it discarded. The name is unique even within a millisecond.
 */
export async function saveRollbackReport(dataDir: string, report: RollbackReport): Promise<string> {
  const dir = join(dataDir, 'rollbacks');
  const created = await mkdir(dir, { recursive: true });
  // Buffers reach a replacer already turned into { type: 'Buffer', data: [...] } by toJSON.
  const bytes = (v: unknown): v is { type: 'Buffer'; data: number[] } =>
    typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
  const json = JSON.stringify(report, (_k, v: unknown) => (bytes(v) ? { base64: Buffer.from(v.data).toString('base64') } : v instanceof Uint8Array ? { base64: Buffer.from(v).toString('base64') } : v), 2);
  const stamp = report.at.replace(/[:.]/g, '-');
  const safeId = report.nodeId.replace(/[^A-Za-z0-9_-]/g, '_');
  let file = '';
  // A few tries: a clash of 48 random bits is already unlikely; 'wx' never overwrites a report.
  for (let attempt = 0; attempt < 5; attempt++) {
    file = join(dir, `${stamp}-${safeId}-${randomBytes(6).toString('hex')}.json`);
    try {
      const fh = await open(file, 'wx');
      try {
        await fh.writeFile(json + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 4) throw err;
    }
  }
  await syncDirectory(dir);
  if (created !== undefined) await syncDirectory(dataDir);
  return file;
}

/** fsync of a directory: makes the names in it (a new file, a new subdirectory) durable. */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
