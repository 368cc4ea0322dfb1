// The hard state side file: term, vote and commit in a small checksummed file beside
// LevelDB, rewritten (write, fsync, rename, fsync the directory) on every change of term
// or vote, and before a commit is lowered (rare events, so cheap). LevelDB's copy must
// never be older than it: if it is, the disk lost synced writes or LevelDB dropped a
// damaged record, and the node must not vote or acknowledge from that data.
import { crc32 } from 'node:zlib';
import type { HardState } from '@conclave/core';
import { DamagedDataDirectoryError } from './errors.js';
import type { StorageDisk } from './disk.js';

export const HARD_STATE_FILE = 'CONCLAVE-HARDSTATE';
const TAG = 'conclave-hardstate 1';

function encodeFile(hs: HardState): Buffer {
  const body = `${TAG} ${JSON.stringify({ term: hs.term, vote: hs.vote, commit: hs.commit })}`;
  const sum = (crc32(body) >>> 0).toString(16).padStart(8, '0');
  return Buffer.from(`${body}\n${sum}\n`, 'utf8');
}

/** The hard state in the side file, or null if there is none; DamagedDataDirectoryError if it does not check. `dir` names the directory in errors. */
export async function readHardStateFile(disk: StorageDisk, dir: string): Promise<HardState | null> {
  const bytes = await disk.readSideFile(HARD_STATE_FILE);
  if (bytes === null) return null;
  const text = bytes.toString('utf8');
  const damaged = (what: string): DamagedDataDirectoryError => new DamagedDataDirectoryError(dir, `the hard state side file ${HARD_STATE_FILE} ${what}`);
  const [body, sum, rest] = text.split('\n');
  if (body === undefined || sum === undefined || rest !== '' || !body.startsWith(`${TAG} `)) throw damaged('is not in the expected format');
  if ((crc32(body) >>> 0).toString(16).padStart(8, '0') !== sum) throw damaged('fails its checksum');
  let hs: unknown;
  try {
    hs = JSON.parse(body.slice(TAG.length + 1));
  } catch {
    throw damaged('does not parse');
  }
  const h = hs as Partial<HardState>;
  const index = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!index(h.term) || !index(h.commit) || typeof h.vote !== 'string') throw damaged('holds a malformed hard state');
  return { term: h.term!, vote: h.vote, commit: h.commit! };
}

/** Replaces the side file atomically and durably. */
export function writeHardStateFile(disk: StorageDisk, hs: HardState): Promise<void> {
  return disk.replaceSideFile(HARD_STATE_FILE, encodeFile(hs));
}

/** Why LevelDB's hard state `db` is older than the side file's `side`, or null if it is not. */
export function olderThanSideFile(db: HardState, side: HardState): string | null {
  if (db.term < side.term) return `LevelDB holds term ${db.term}, older than term ${side.term} in the side file ${HARD_STATE_FILE}`;
  if (db.term === side.term && side.vote !== '' && db.vote !== side.vote) {
    return `LevelDB holds vote '${db.vote}' in term ${db.term}, but the side file ${HARD_STATE_FILE} records vote '${side.vote}'`;
  }
  if (db.commit < side.commit) return `LevelDB holds commit ${db.commit}, older than commit ${side.commit} in the side file ${HARD_STATE_FILE}`;
  return null;
}
