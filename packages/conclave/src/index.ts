// conclave: the embeddable, Raft-replicated key-value store. See the repository README.
export { openNode, ConclaveNode, reviveError, type NodeEvents, type WriteResult, type CasResult } from './node.js';
export type { NodeState, NodeStatus, RollbackStatus, OverrideSource } from './status.js';
export type { RollbackReport, LostWrite } from './rollback.js';
export type { OpenNodeOptions, Durability, Consistency, CommitToken, Logger } from './options.js';
export { DEFAULT_DURABILITY } from './options.js';
export * from './errors.js';
export type { KvBatchOp, SyncPolicy } from '@conclave/storage';
export { MAX_COMMAND_BYTES } from '@conclave/storage';
export { explainNoLeader, describeQuorum, formatAgoMs, roleName } from './election-diagnosis.js';
