// conclave: the embeddable, Raft-replicated key-value store. See the repository README.
export { openNode, ConclaveNode, reviveError, type NodeEvents, type NodeState, type NodeStatus, type WriteResult, type CasResult, type RollbackStatus } from './node.js';
export type { RollbackReport, LostWrite } from './rollback.js';
export type { OpenNodeOptions, Durability, Consistency, CommitToken } from './options.js';
export type { Logger, LogEvent } from './log.js';
export { METRICS_PATH } from './metrics.js';
export { DEFAULT_DURABILITY } from './options.js';
export * from './errors.js';
export type { KvBatchOp, SyncPolicy } from '@conclave/storage';
export { MAX_COMMAND_BYTES } from '@conclave/storage';
export type { OverrideSource } from './node.js';
export { explainNoLeader, describeQuorum, formatAgoMs, roleName } from './election-diagnosis.js';
