// Typed storage errors. Each has a stable `code` and names the data directory, so an
// operator can tell which node's disk is at fault without reading a stack trace.
import { ConclaveError } from '@conclave/core';

/** The data directory is held by another process (or another open NodeStorage in this one). */
export class StorageLockedError extends ConclaveError {
  readonly path: string;
  constructor(path: string, cause?: unknown) {
    super(
      'STORAGE_LOCKED',
      `data directory ${path} is locked by another process or another open storage (LevelDB LOCK file)` +
        (cause instanceof Error ? `: ${cause.message}` : ''),
    );
    this.path = path;
    if (cause !== undefined) this.cause = cause;
  }
}

/** A key space the storage knows; used to say where a corrupted record lives. */
export type KeySpace = 'leveldb' | 'format' | 'hardState' | 'group' | 'settings' | 'log' | 'kv' | 'applied' | 'snapshot' | 'compacted' | 'install' | 'kvSpace' | 'history';

/** A record could not be decoded or breaks an invariant. Nothing was changed on disk. */
export class StorageCorruptError extends ConclaveError {
  readonly path: string;
  readonly keySpace: KeySpace;
  /** The log index or the key of the bad record, or null for a single-record key space. */
  readonly key: number | string | null;
  constructor(path: string, keySpace: KeySpace, key: number | string | null, detail: string, cause?: unknown) {
    const where = key === null ? keySpace : `${keySpace}[${typeof key === 'string' ? JSON.stringify(key) : key}]`;
    super('STORAGE_CORRUPT', `data directory ${path}: corrupted record in ${where}: ${detail}`);
    this.path = path;
    this.keySpace = keySpace;
    this.key = key;
    if (cause !== undefined) this.cause = cause;
  }
}

/** The directory holds files that are not a conclave data directory; it is never reused silently. */
export class ForeignDataDirectoryError extends ConclaveError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super('STORAGE_FOREIGN_DIRECTORY', `data directory ${path} is not a conclave data directory (${reason}); refusing to use it`);
    this.path = path;
  }
}

/** The data directory was written by a newer, unknown storage format. */
export class StorageFormatError extends ConclaveError {
  readonly path: string;
  constructor(path: string, detail: string) {
    super('STORAGE_UNSUPPORTED_FORMAT', `data directory ${path}: ${detail}`);
    this.path = path;
  }
}

/**
 * LevelDB failed to open or to write. After a failed write the storage is fail-stop: every
 * later call rejects with this error, because memory and disk may no longer agree.
 */
export class StorageIoError extends ConclaveError {
  readonly path: string;
  constructor(path: string, what: string, cause?: unknown) {
    super('STORAGE_IO', `data directory ${path}: ${what}` + (cause instanceof Error ? `: ${cause.message}` : ''));
    this.path = path;
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * A snapshot chunk or abort named an install that is no longer the staged one: another
 * stream began since (a new leader's, say). Nothing of it is written; the sender may retry.
 */
export class InstallSupersededError extends ConclaveError {
  readonly path: string;
  constructor(path: string, key: number, current: number | null) {
    super('INSTALL_SUPERSEDED', `data directory ${path}: snapshot install #${key} was superseded (${current === null ? 'none is staged now' : `#${current} is staged now`}); its data is not used`);
    this.path = path;
  }
}

/** The storage was closed (or crashed in a simulation); no further operations are allowed. */
export class StorageClosedError extends ConclaveError {
  readonly path: string;
  constructor(path: string) {
    super('STORAGE_CLOSED', `storage for data directory ${path} is closed`);
    this.path = path;
  }
}

/** The requested log index is at or below the compaction point: send a snapshot instead. */
export class LogCompactedError extends ConclaveError {
  readonly index: number;
  readonly compactedIndex: number;
  constructor(index: number, compactedIndex: number) {
    super('LOG_COMPACTED', `log index ${index} is compacted (the log starts after index ${compactedIndex})`);
    this.index = index;
    this.compactedIndex = compactedIndex;
  }
}

/**
 * The data directory lost data it had made durable, or LevelDB dropped a damaged record
 * while opening it. The node refuses to start: voting or acknowledging from such data
 * could vote twice in a term or drop an entry the group committed. Nothing was changed.
 */
export class DamagedDataDirectoryError extends ConclaveError {
  readonly path: string;
  readonly found: string;
  constructor(path: string, found: string) {
    super(
      'STORAGE_DAMAGED',
      `data directory ${path} is damaged: ${found}. Its data cannot be trusted, so this node will not start on it. ` +
        'Way out: remove the member from the group, move the directory aside (keep it for diagnosis) and add it back empty under a new id, ' +
        'so that it copies the group\'s state: see docs/reliability.md, "A damaged data directory".',
    );
    this.path = path;
    this.found = found;
  }
}
