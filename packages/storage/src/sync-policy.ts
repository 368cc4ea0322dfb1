// JE HA's SyncPolicy, per node. See packages/storage/README.md for what each loses.

/**
 * - `sync`: every batch is written and fdatasync'ed before its promise resolves.
 * - `writeNoSync`: every batch is written to the OS (no fdatasync) before its promise
 *   resolves: survives a process crash, not a power failure.
 * - `noSync`: batches are buffered in the process and written to the OS later (after
 *   `noSyncFlushIntervalMs` or `noSyncFlushBytes`), whole batches in order: a process crash
 *   loses the batches still buffered.
 */
export type SyncPolicy = 'sync' | 'writeNoSync' | 'noSync';

export const SYNC_POLICIES: readonly SyncPolicy[] = ['sync', 'writeNoSync', 'noSync'];
