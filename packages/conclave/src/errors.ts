// The embedding API's typed errors. Every one has a stable `code`.
import { ConclaveError } from '@conclave/core';

export {
  ConclaveError,
  ConfChangeError,
  ConfChangePendingError,
  GroupMismatchError,
  InvalidArgumentError,
  InvariantError,
  LeaseNotFoundError,
  NotLeaderError,
  ProposalDroppedError,
  RequestTooLargeError,
} from '@conclave/core';

// What a data directory can answer at openNode, or a running node fail-stops with (then the
// `cause` of a write's WRITE_OUTCOME_UNKNOWN, and what later calls throw).
export {
  DamagedDataDirectoryError,
  ForeignDataDirectoryError,
  StorageClosedError,
  StorageCorruptError,
  StorageFormatError,
  StorageIoError,
  StorageLockedError,
} from '@conclave/storage';

/** Fewer electable replicas are connected than the write's ack policy needs. Nothing was written. */
export class InsufficientReplicasError extends ConclaveError {
  constructor(
    readonly required: number,
    readonly active: number,
    message?: string,
  ) {
    super('INSUFFICIENT_REPLICAS', message ?? `the write needs ${required} electable members connected, ${active} are`);
  }
}

/**
 * The acks the write's policy asked for did not come: within its timeout, or before the
 * leader stepped down ('all', as JE). The write may have happened: it may yet commit.
 */
export class InsufficientAcksError extends ConclaveError {
  constructor(
    readonly index: number,
    readonly policy: string,
    readonly timeoutMs: number,
    message?: string,
  ) {
    super('INSUFFICIENT_ACKS', message ?? `write at index ${index} is durable on the leader, but not acknowledged under '${policy}' within ${timeoutMs} ms`);
  }
}

/**
 * The write certainly did not happen: a leader committed another entry at its log index
 * (the write's leader lost leadership before it committed). Safe to retry.
 */
export class WriteReplacedError extends ConclaveError {
  constructor(
    readonly index: number,
    readonly term: number,
    message?: string,
  ) {
    super('WRITE_REPLACED', message ?? `the write at index ${index} (term ${term}) was replaced by a new leader's entry, which committed: the write did not happen`);
  }
}

/** A read could not meet its consistency policy within its timeout. */
export class ReplicaConsistencyError extends ConclaveError {
  constructor(message: string) {
    super('REPLICA_CONSISTENCY', message);
  }
}

/**
 * The write may or may not take effect (at most once): it was proposed or sent, and then the
 * leader changed, the deadline passed, or the node closed or failed before its outcome was known.
 */
export class WriteOutcomeUnknownError extends ConclaveError {
  constructor(message: string, cause?: unknown) {
    super('WRITE_OUTCOME_UNKNOWN', message);
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * The caller's AbortSignal fired before the operation took effect: a write was neither
 * proposed nor sent to the leader (it did not happen), a read or other call stopped.
 * A write aborted after that rejects with WriteOutcomeUnknownError instead.
 */
export class AbortedError extends ConclaveError {
  constructor(message: string, cause?: unknown) {
    super('ABORTED', message);
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * node.ready() (or openNode's waitReady) gave up: `missing` says what was missing, 'leader'
 * (none known) or 'caughtUp' (a leader is known, but this member had not applied up to its
 * commit index). Nothing was written.
 */
export class NotReadyError extends ConclaveError {
  constructor(
    readonly missing: 'leader' | 'caughtUp',
    message: string,
    cause?: unknown,
  ) {
    super('NOT_READY', message);
    if (cause !== undefined) this.cause = cause;
  }
}

/** The node is closed (or closing). */
export class NodeClosedError extends ConclaveError {
  constructor(id: string, message?: string) {
    super('NODE_CLOSED', message ?? `node ${id} is closed`);
  }
}

/**
 * Rejoining the leader would roll back more committed writes than `rollbackLimit` allows
 * (JE's hard recovery). The node stays out of the group until an operator accepts it.
 */
export class RollbackProhibitedError extends ConclaveError {
  constructor(
    readonly lostWrites: number,
    readonly rollbackLimit: number,
    message: string,
  ) {
    super('ROLLBACK_PROHIBITED', message);
  }
}

/**
 * A leader's log disagrees with entries this node committed, and neither this node nor that
 * leader ran with an override while they were committed: only damaged data can explain it.
 * The node keeps its data and stays out of the group (issue 12 item 2).
 */
export class DivergedWithoutOverrideError extends ConclaveError {
  constructor(
    readonly fromIndex: number,
    readonly toIndex: number,
    message: string,
  ) {
    super('DIVERGED_WITHOUT_OVERRIDE', message);
  }
}

/** An admin operation named a member id the group metadata does not have. */
export class UnknownMemberError extends ConclaveError {
  constructor(
    readonly id: string,
    known: readonly string[],
  ) {
    super('UNKNOWN_MEMBER', `unknown member '${id}' (members: ${known.join(', ') || 'none'})`);
  }
}

/** Leadership could not be moved (JE's MasterTransferFailureException), or a transfer is already under way. */
export class LeaderTransferError extends ConclaveError {
  constructor(message: string) {
    super('LEADER_TRANSFER_FAILED', message);
  }
}

/**
 * A watch asked for revisions this member no longer holds (etcd's ErrCompacted): its history
 * starts at `oldestRevision` (it was trimmed, or the member was installed from a snapshot).
 * Resume from there after a fresh read, or from the wanted revision on a member that holds it.
 */
export class CompactedError extends ConclaveError {
  constructor(
    readonly oldestRevision: number,
    message?: string,
  ) {
    super('COMPACTED', message ?? `revisions before ${oldestRevision} are no longer held by this member`);
  }
}

/**
 * A watcher fell too far behind: its queue passed its byte limit, so it was closed rather
 * than buffer without bound. `lastRevision`: the revision of the last batch it was given;
 * watch again from `lastRevision + 1` to resume without a gap.
 */
export class WatchOverflowError extends ConclaveError {
  constructor(
    readonly lastRevision: number,
    message?: string,
  ) {
    super('WATCH_OVERFLOW', message ?? `the watcher fell behind; it was given revisions up to ${lastRevision}`);
  }
}

/**
 * lock() or campaign() did not get its turn within timeoutMs. Its key was deleted and its
 * lease revoked: the lock was not taken (the caller never held it).
 */
export class LockTimeoutError extends ConclaveError {
  constructor(
    readonly lockName: string,
    readonly timeoutMs: number,
    message?: string,
  ) {
    super('LOCK_TIMEOUT', message ?? `'${lockName}' was not acquired within ${timeoutMs} ms; it was not taken`);
  }
}

/**
 * A lock (or leadership) was lost: its lease expired or was revoked, or its key was deleted,
 * before release(). Another holder may have it now: stop the work it protected. Given as
 * the lock's `lost` event and as its signal's reason.
 */
export class LockLostError extends ConclaveError {
  constructor(
    readonly lockName: string,
    message?: string,
  ) {
    super('LOCK_LOST', message ?? `'${lockName}' was lost: its lease ended before release; another holder may have it now`);
  }
}
