// The events a ConclaveNode emits.
import type { Member, NodeId } from '@conclave/core';
import type { DivergedWithoutOverrideError, RollbackProhibitedError } from './errors.js';
import type { RollbackReport } from './rollback.js';
import type { NodeState } from './status.js';

export interface NodeEvents {
  stateChange: [state: NodeState, previous: NodeState];
  leaderChange: [leaderId: NodeId | null, leaderAddress: string | null];
  memberAdded: [member: Member];
  memberRemoved: [member: Member];
  overrideChanged: [change: { previous: number; current: number; electableGroupSize: number }];
  /** This node replaced diverged committed writes with the leader's state; `file` lists them. */
  rollback: [report: RollbackReport & { file: string }];
  /** This node diverged by more than rollbackLimit writes and stays out until an operator accepts. */
  rollbackProhibited: [error: RollbackProhibitedError];
  /** A divergence no override explains (damaged data): the node keeps its data and stays out. */
  divergedWithoutOverride: [error: DivergedWithoutOverrideError];
  error: [error: Error];
}

