// Typed errors with a stable `code`, shared by every package.

export class ConclaveError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bad argument or configuration value; the message names it. */
export class InvalidArgumentError extends ConclaveError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** The operation needs the leader; `leaderHint` is the leader this node knows of, if any. */
export class NotLeaderError extends ConclaveError {
  readonly leaderHint: string | null;
  constructor(leaderHint: string | null, message?: string) {
    super('NOT_LEADER', message ?? (leaderHint ? `not the leader; the leader is ${leaderHint}` : 'not the leader; no leader is known'));
    this.leaderHint = leaderHint;
  }
}

/** The leader refused a proposal without writing it (transfer under way, uncommitted bytes over the bound). */
export class ProposalDroppedError extends ConclaveError {
  constructor(message: string) {
    super('PROPOSAL_DROPPED', message);
  }
}

/**
 * A write larger than the per-command byte limit. Refused before anything was proposed or
 * forwarded: the write did not happen. Split it into smaller writes.
 */
export class RequestTooLargeError extends ConclaveError {
  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    what = 'the request',
  ) {
    super('REQUEST_TOO_LARGE', `${what} is ${sizeBytes} bytes; at most ${limitBytes} bytes are allowed per write (nothing was written; split it into smaller writes)`);
  }
}

/** A membership change was refused (one already pending, unknown or removed id, ...). */
export class ConfChangeError extends ConclaveError {
  constructor(message: string, code = 'CONF_CHANGE_REFUSED') {
    super(code, message);
  }
}

/** Another membership change is still being applied: retry shortly (one change at a time). */
export class ConfChangePendingError extends ConfChangeError {
  constructor(readonly pendingIndex: number) {
    super(`a membership change (index ${pendingIndex}) is still being applied; retry when it is`, 'CONF_CHANGE_PENDING');
  }
}

/** A data directory or snapshot belongs to another replication group. */
export class GroupMismatchError extends ConclaveError {
  constructor(message: string) {
    super('GROUP_MISMATCH', message);
  }
}

/** An invariant of the core was broken: a bug, never a user error. Assertions stay on. */
export class InvariantError extends ConclaveError {
  constructor(message: string) {
    super('INVARIANT', message);
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'function' ? message() : message);
}

/**
 * No lease with this id is alive: never granted, revoked, or expired (etcd's
 * ErrLeaseNotFound). A write that names it did not happen; a keepAlive renewed nothing.
 */
export class LeaseNotFoundError extends ConclaveError {
  constructor(
    readonly leaseId: number,
    message?: string,
  ) {
    super('LEASE_NOT_FOUND', message ?? `lease ${leaseId} not found: it was never granted, was revoked, or expired`);
  }
}
