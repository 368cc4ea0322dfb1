// classic-level's createIfMissing and errorIfExists, for a conclave data directory.
import { readdir } from 'node:fs/promises';
import { ConclaveError } from '../errors.js';

/** The location cannot be opened as asked (abstract-level reports it as the cause of LEVEL_DATABASE_NOT_OPEN). Nothing was created. */
export class LevelLocationError extends ConclaveError {
  constructor(message: string) {
    super('LEVEL_LOCATION', message);
  }
}

export async function checkLocation(location: string, createIfMissing: boolean, errorIfExists: boolean): Promise<void> {
  let exists: boolean;
  try {
    exists = (await readdir(location)).length > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return; // the node's open names the problem
    exists = false;
  }
  if (!exists && !createIfMissing) throw new LevelLocationError(`${location} does not exist (createIfMissing is false)`);
  if (exists && errorIfExists) throw new LevelLocationError(`${location} exists (errorIfExists is true)`);
}
