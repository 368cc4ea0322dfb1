// What makes a directory ours: the format marker (disk.ts checks the directory before
// LevelDB opens it), and the mapping of LevelDB's open errors to typed errors naming the path.
import { BadRecord, encode, unpackOrBad, isIndex } from './codec.js';
import { StorageCorruptError, StorageIoError, StorageLockedError } from './errors.js';

export const STORAGE_FORMAT_NAME = 'conclave-storage';
/**
 * 3: watch history records may refer to an older record for a previous value (history.ts),
 * which a build of version 2 would take for damage; 2: KV key spaces are generations
 * (keys.ts); 1 had two spaces, 'a' and 'b'.
 */
export const STORAGE_FORMAT_VERSION = 3;
/** The oldest version this build opens: a version 2 directory holds a subset of version 3 (no references), so it is read as it is and its marker raised at open. */
export const STORAGE_FORMAT_OLDEST_READ = 2;

/** Written in the first batch of a fresh directory; its group id is set once known. */
export interface FormatMarker {
  format: string;
  version: number;
  groupId: string | null;
}

export function encodeMarker(groupId: string | null): Buffer {
  const marker: FormatMarker = { format: STORAGE_FORMAT_NAME, version: STORAGE_FORMAT_VERSION, groupId };
  return encode(marker);
}

export function decodeMarker(bytes: Buffer): FormatMarker {
  const raw = unpackOrBad(bytes) as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null || typeof raw.format !== 'string' || !isIndex(raw.version)) {
    throw new BadRecord('format marker is not {format, version, groupId}');
  }
  if (raw.groupId !== null && typeof raw.groupId !== 'string') throw new BadRecord('format marker has a bad groupId');
  return { format: raw.format, version: raw.version, groupId: raw.groupId };
}

export function mapOpenError(path: string, err: unknown): Error {
  const cause = (err as { cause?: { code?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  if (code === 'LEVEL_LOCKED') return new StorageLockedError(path, cause ?? err);
  if (code === 'LEVEL_CORRUPTION') {
    const detail = (cause as { message?: unknown } | undefined)?.message ?? (err as { message?: unknown }).message;
    return new StorageCorruptError(path, 'leveldb', null, `LevelDB reports corruption${typeof detail === 'string' ? ` (${detail})` : ''}`, cause ?? err);
  }
  return new StorageIoError(path, 'cannot open the database', cause ?? err);
}
