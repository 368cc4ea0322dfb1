// @conclave/storage: one node's durable state in LevelDB. See README.md.
export * from './errors.js';
export * from './defaults.js';
export * from './sync-policy.js';
export * from './command.js';
export * from './snapshot-chunk.js';
export * from './storage-types.js';
export { STORAGE_FORMAT_NAME, STORAGE_FORMAT_VERSION } from './data-directory.js';
export { SnapshotStream } from './snapshot-stream.js';
export { MemoryBackend } from './raw-db.js';
export type { BatchOp, RangeOptions, RawDb, RawIterator } from './raw-db.js';
export { levelDisk, type StorageDisk } from './disk.js';
export { TermIndex } from './term-index.js';
export type { LogPosition } from './codec.js';
export { encodeEntry, decodeEntry } from './codec.js';
export { NodeStorage } from './node-storage.js';
