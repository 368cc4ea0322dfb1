// conclave: the embeddable, Raft-replicated key-value store. See the repository README.
export { openNode, ConclaveNode, reviveError, type NodeEvents, type Lease, type LeaseInfo, type GrantLeaseOptions, type KeepAliveResult, type Lock, type LockOptions, type Election, type Leadership, type WriteResult, type CasResult, type TxnResult, type Watcher, type WatchBatch, type WatchEvent, type WatchOptions, type WatchRange } from './node.js';
export type { NodeState, NodeStatus, RollbackStatus, OverrideSource } from './status.js';
export type { RollbackReport, LostWrite } from './rollback.js';
export type { OpenNodeOptions, Durability, Consistency, CommitToken } from './options.js';
export type { Logger, LogEvent } from './log.js';
export { METRICS_PATH } from './metrics.js';
export { DEFAULT_DURABILITY } from './options.js';
export * from './errors.js';
export type { KvBatchOp, SyncPolicy, TxnRequest, TxnCompare, TxnOp, TxnOpResult, TxnKeyValue, TxnTarget, TxnCompareOp, KeyMeta } from '@conclave/storage';
export { MAX_TXN_OPS, MAX_TXN_DELETE_KEYS, MAX_TXN_RANGE_KEYS, MAX_TXN_READ_BYTES } from '@conclave/storage';
export { MAX_COMMAND_BYTES } from '@conclave/storage';
export { explainNoLeader, describeQuorum, formatAgoMs, roleName } from './election-diagnosis.js';
export { ConclaveLevel, ConclaveSnapshot, type ConclaveLevelOptions, type ConclaveMemberOptions, type ConclaveReadOptions, type ConclaveWriteOptions } from './level/level.js';
export { LevelLocationError } from './level/location.js';
export { MAX_CLEAR_KEYS } from '@conclave/storage';
