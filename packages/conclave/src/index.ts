// conclave: the embeddable, Raft-replicated key-value store. See the repository README.
export { openNode, ConclaveNode, reviveError, type NodeEvents, type NodeState, type NodeStatus, type WriteResult, type CasResult, type RollbackStatus } from './node.js';
export type { RollbackReport, LostWrite } from './rollback.js';
export type { OpenNodeOptions, Durability, Consistency, CommitToken, Logger } from './options.js';
export { DEFAULT_DURABILITY } from './options.js';
export * from './errors.js';
export type { KvBatchOp, SyncPolicy } from '@conclave/storage';
export { MAX_COMMAND_BYTES } from '@conclave/storage';
export type { OverrideSource } from './node.js';
export { explainNoLeader, describeQuorum, formatAgoMs, roleName } from './election-diagnosis.js';
export { ConclaveLevel, ConclaveSnapshot, type ConclaveLevelOptions, type ConclaveMemberOptions, type ConclaveReadOptions, type ConclaveWriteOptions } from './level/level.js';
export { LevelLocationError } from './level/location.js';
export { MAX_CLEAR_KEYS } from '@conclave/storage';
