// LevelDB's own info log (LOG in the data directory, rewritten at every open). classic-level
// cannot turn on paranoid_checks, so LevelDB recovers past a damaged write-ahead-log record
// by dropping it, and says so only here ("... dropping N bytes; Corruption: ...").
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageIoError } from './errors.js';

const DAMAGE = /dropping \d+ bytes|corruption|ignoring error/i;
/** Lines quoted in an error, at most. */
const QUOTED_LINES = 3;

/** The lines of LOG that report dropped bytes or corruption (empty if none, or no LOG). */
export async function damageReportedByLevelDb(dir: string): Promise<string[]> {
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
