// Durability.localSync: the leader's fsync of a write that its syncPolicy would not fsync.
import type { NodeStorage } from '@conclave/storage';
import { WriteOutcomeUnknownError } from './errors.js';

/** Resolves once the write at `index` (and all before it) is fdatasync'ed on this node. */
export async function syncForWrite(storage: NodeStorage, index: number): Promise<void> {
  if (storage.syncPolicy === 'sync') return; // written with fdatasync already
  try {
    await storage.sync();
  } catch (err) {
    // The write was acknowledged by the replicas it needed, but not made durable here as asked.
    throw new WriteOutcomeUnknownError(`write at index ${index}: the local fsync asked for by localSync failed (${(err as Error).message})`);
  }
}
