// JE HA's hard recovery: what a diverged node would lose, and the record it leaves for the
// operator before rolling back. The decision itself is the node's (see ConclaveNode).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Divergence, Entry, NodeId } from '@conclave/core';
import { decodeCommand, LogCompactedError, type NodeStorage } from '@conclave/storage';

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
}

/** Reads the diverged committed entries from the durable log and lists the writes they hold. */
export async function describeLoss(storage: NodeStorage, d: Divergence, nodeId: NodeId, groupId: string): Promise<RollbackReport> {
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
    at: new Date().toISOString(),
    leader: d.leader,
    leaderTerm: d.term,
    fromIndex: d.index,
    toIndex: d.committed,
    lostWriteCount: lostWrites.length + unlisted,
    lostWrites,
    unlistedEntries: unlisted,
  };
}

/** Writes the report to <dataDir>/rollbacks/<time>.json before anything is rolled back. */
export async function saveRollbackReport(dataDir: string, report: RollbackReport): Promise<string> {
  const dir = join(dataDir, 'rollbacks');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${report.at.replace(/[:.]/g, '-')}.json`);
  // Buffers reach a replacer already turned into { type: 'Buffer', data: [...] } by toJSON.
  const bytes = (v: unknown): v is { type: 'Buffer'; data: number[] } =>
    typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
  const json = JSON.stringify(report, (_k, v: unknown) => (bytes(v) ? { base64: Buffer.from(v.data).toString('base64') } : v instanceof Uint8Array ? { base64: Buffer.from(v).toString('base64') } : v), 2);
  await writeFile(file, json + '\n', { flag: 'wx' });
  return file;
}
