// The disk under NodeStorage: its database and the files beside it. Production uses
// levelDisk (LevelDB in a directory, the side file through node:fs); a simulation passes
// its own StorageDisk in NodeStorageOptions.disk, so that the same code path (side file
// and all) runs over a disk whose crashes and faults it controls.
import { open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ForeignDataDirectoryError, StorageIoError } from './errors.js';
import { createLevelDb, type RawDb } from './raw-db.js';

/**
 * What NodeStorage needs of a data directory. Contract for a simulated disk:
 * - createDb() returns a database not yet opened; its open() rejects with an error whose
 *   `code` (or `cause.code`) is 'LEVEL_LOCKED' while another open database holds the
 *   directory, as LevelDB's LOCK does. A batch written with `sync: true` survives a crash
 *   once it resolves; unsynced batches may be lost at a crash (the newest first), never
 *   reordered. A rejected write leaves it unknown whether the batch landed.
 * - readSideFile/replaceSideFile: small whole files beside the database (the hard state
 *   file). replaceSideFile is atomic and durable once it resolves (write, fsync, rename,
 *   fsync of the directory): after a crash the file holds the old or the new bytes, never
 *   a mix; if it rejects, either may survive.
 * Paths in errors are the `path` NodeStorage was opened with.
 * @internal Not part of the documented API: for the deterministic simulation.
 */
export interface StorageDisk {
  /** Refuses (ForeignDataDirectoryError) a directory that cannot be ours, before the database opens. */
  checkBeforeOpen(): Promise<void>;
  createDb(): RawDb;
  /** Lines in which the database says, at its last open, that it dropped damaged data ([] if none). */
  damageReported(): Promise<string[]>;
  /** The file's bytes, or null if there is none. */
  readSideFile(name: string): Promise<Buffer | null>;
  replaceSideFile(name: string, bytes: Buffer): Promise<void>;
}

/** LevelDB's own info log (LOG, rewritten at every open) reports dropped records this way. */
const DAMAGE = /dropping \d+ bytes|corruption|ignoring error/i;
/** Lines quoted in an error, at most. */
const QUOTED_LINES = 3;

/** LevelDB in the directory `dir` (an absolute path), with its side files through node:fs. */
export function levelDisk(dir: string): StorageDisk {
  return {
    checkBeforeOpen: () => checkDirectory(dir),
    createDb: () => createLevelDb(dir),
    damageReported: () => damageReportedByLevelDb(dir),
    async readSideFile(name: string): Promise<Buffer | null> {
      try {
        return await readFile(join(dir, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new StorageIoError(dir, `cannot read ${name}`, err);
      }
    },
    replaceSideFile: (name: string, bytes: Buffer) => replaceFileDurably(dir, name, bytes),
  };
}

/** Refuses a non-empty directory that is not a LevelDB database (and so cannot be ours). */
async function checkDirectory(path: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new ForeignDataDirectoryError(path, 'it is not a directory');
    throw new StorageIoError(path, 'cannot read the data directory', err);
  }
  if (names.length === 0) return;
  if (!names.includes('CURRENT')) {
    const sample = names.slice(0, 3).join(', ');
    throw new ForeignDataDirectoryError(path, `it holds ${names.length} entries (${sample}${names.length > 3 ? ', ...' : ''}) but no LevelDB CURRENT file`);
  }
}

/**
 * The lines of LevelDB's LOG that report dropped bytes or corruption (empty if none, or no
 * LOG). classic-level cannot turn on paranoid_checks, so LevelDB recovers past a damaged
 * write-ahead-log record by dropping it, and says so only there.
 */
async function damageReportedByLevelDb(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'LOG'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StorageIoError(dir, "cannot read LevelDB's LOG", err);
  }
  return text
    .split('\n')
    .filter((line) => DAMAGE.test(line))
    .slice(0, QUOTED_LINES)
    .map((line) => line.replace(/^\S+ \S+ /, '').trim()); // drop LevelDB's timestamp and thread id
}

/** Replaces dir/name atomically and durably: write a temporary file, fsync, rename, fsync the directory. */
async function replaceFileDurably(dir: string, name: string, bytes: Buffer): Promise<void> {
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(bytes);
    await file.datasync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
