// Defaults, with their units in their names.

/** Record a snapshot (and compact the log behind it) every this many applied entries. */
export const DEFAULT_SNAPSHOT_INTERVAL_ENTRIES = 8192;
/** Entries kept in the log behind the latest snapshot, so slow followers catch up without one. */
export const DEFAULT_ENTRIES_KEPT_AFTER_SNAPSHOT = 10240;
/**
 * Record a snapshot also once this many bytes of log were applied since the last one, and
 * keep at most this many bytes of log behind it: the log (on disk, read whole at boot, and
 * in the Raft core's memory) stays below about twice this, whatever the value sizes.
 */
export const DEFAULT_SNAPSHOT_INTERVAL_BYTES = 64 * 1024 * 1024;
export const DEFAULT_BYTES_KEPT_AFTER_SNAPSHOT = 64 * 1024 * 1024;
/** Bytes read per LevelDB iterator step at boot (entries per step adapt to the entry sizes seen). */
export const READ_BATCH_BYTES = 4 * 1024 * 1024;
/** Hard upper bound of one snapshot chunk. */
export const SNAPSHOT_CHUNK_MAX_BYTES = 1024 * 1024;
/** `noSync`: buffered writes reach the OS at the latest this long after they were made. */
export const DEFAULT_NO_SYNC_FLUSH_INTERVAL_MS = 50;
/** `noSync`: buffered writes reach the OS as soon as this many bytes are pending. */
export const DEFAULT_NO_SYNC_FLUSH_BYTES = 1024 * 1024;
/**
 * LevelDB's memtable (and log file) size. LevelDB's 4 MiB default fills in a fraction of a
 * second under a replicated write load, and every flush adds a level-0 table; at 8 of them
 * LevelDB delays each write by 1 ms. 32 MiB cut those stalls: bench/README.md.
 */
export const DEFAULT_WRITE_BUFFER_BYTES = 32 * 1024 * 1024;
/** Largest writeBufferBytes accepted (LevelDB takes a 32-bit size). */
export const MAX_WRITE_BUFFER_BYTES = 1024 * 1024 * 1024;
/** Entries read per LevelDB iterator step. */
export const READ_BATCH_ENTRIES = 1000;
/** Upper bound of records any single scan at open may visit: a guard against a runaway loop. */
export const MAX_RECORDS_PER_OPEN_SCAN = 1_000_000_000;
/** Watch history: keep the changes of at least this many latest revisions (log indexes)... */
export const DEFAULT_WATCH_HISTORY_REVISIONS = 100_000;
/** ...and at most this many bytes of them (the older go first). */
export const DEFAULT_WATCH_HISTORY_SIZE_BYTES = 64 * 1024 * 1024;
