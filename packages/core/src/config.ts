// Configuration of one core instance, with defaults and validation.
import { InvalidArgumentError } from './errors.js';
import { MIN_HISTORY_SIZE } from './history.js';
import type { RandomSource } from './random.js';
import type { OverrideSpan } from './divergence.js';
import type { NodeId } from './types.js';

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before campaigning; the timeout is randomized in [electionTicks, 2*electionTicks). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /**
   * Largest append message, in bytes of entries (entrySizeBytes). One entry larger than this
   * travels alone, so an append never exceeds max(maxMsgBytes, maxProposalBytes + 24).
   */
  readonly maxMsgBytes?: number;
  /** Largest proposal's data; larger ones are refused with RequestTooLargeError. At most maxUncommittedBytes. */
  readonly maxProposalBytes?: number;
  /** Appends in flight per follower in the replicate state (the pipelining window). */
  readonly maxInflightMsgs?: number;
  /** Proposals are refused while the leader's uncommitted tail exceeds this. */
  readonly maxUncommittedBytes?: number;
  /** Committed entries handed out per Ready. */
  readonly maxApplyBytesPerReady?: number;
  /** Bound on pending ReadIndex requests at the leader. */
  readonly maxPendingReads?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** The injected random source; the core draws no ambient randomness. */
  readonly random: RandomSource;
  /** This node's ELECTABLE_GROUP_SIZE_OVERRIDE (0 = off). Local, never replicated. */
  readonly electableGroupSizeOverride?: number;
  readonly historySize?: number;
  /** Driver time at start, used for history entries until the first tick(nowMs). */
  readonly nowMs?: number;
  /**
   * Lease reads: the leader answers at once while a quorum was heard within this many ms of
   * the driver's clock (setNow). It must stay well below the followers' election timeout
   * (they refuse other candidates for that long after hearing the leader): the driver uses
   * half of it. 0 = no lease; lease reads go through ReadIndex.
   */
  readonly leaseMs?: number;
  /** Indexes this node may have committed under an override, as stored by the driver (see OverrideSpan). */
  readonly overrideSpan?: OverrideSpan | null;
  /**
   * etcd raft's AsyncStorageWrites: advance() no longer means "persisted". The driver hands
   * each Ready's write to storage, calls advance() without waiting for it, and calls
   * persisted() with each Ready, in order, once its write is durable. Committed entries are
   * handed out only up to what is durable here (an apply never gets ahead of the log).
   */
  readonly asyncStorageWrites?: boolean;
}

export type ResolvedConfig = Required<RaftConfig>;

export const DEFAULTS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxMsgBytes: 1024 * 1024,
  maxProposalBytes: 4 * 1024 * 1024,
  maxInflightMsgs: 256,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxApplyBytesPerReady: 8 * 1024 * 1024,
  maxPendingReads: 4096,
  preVote: true,
  checkQuorum: true,
  electableGroupSizeOverride: 0,
  historySize: MIN_HISTORY_SIZE,
  nowMs: 0,
  leaseMs: 0,
  overrideSpan: null,
  asyncStorageWrites: false,
} as const;

function positiveInt(name: string, v: number, min = 1): number {
  if (!Number.isSafeInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  if (typeof c.id !== 'string' || c.id.length === 0) throw new InvalidArgumentError('id must be a non-empty string');
  if (typeof c.random !== 'function') throw new InvalidArgumentError('random must be a function returning numbers in [0, 1)');
  const r = { ...DEFAULTS, ...c } as { -readonly [K in keyof ResolvedConfig]: ResolvedConfig[K] };
  positiveInt('electionTicks', r.electionTicks, 2);
  positiveInt('heartbeatTicks', r.heartbeatTicks);
  if (r.heartbeatTicks >= r.electionTicks) throw new InvalidArgumentError(`heartbeatTicks (${r.heartbeatTicks}) must be smaller than electionTicks (${r.electionTicks})`);
  positiveInt('maxMsgBytes', r.maxMsgBytes);
  positiveInt('maxInflightMsgs', r.maxInflightMsgs);
  positiveInt('maxUncommittedBytes', r.maxUncommittedBytes);
  // Unset, it follows a smaller uncommitted bound; set, it must fit within it.
  if (c.maxProposalBytes === undefined) r.maxProposalBytes = Math.min(DEFAULTS.maxProposalBytes, r.maxUncommittedBytes);
  positiveInt('maxProposalBytes', r.maxProposalBytes);
  if (r.maxProposalBytes > r.maxUncommittedBytes) {
    throw new InvalidArgumentError(`maxProposalBytes (${r.maxProposalBytes}) must not exceed maxUncommittedBytes (${r.maxUncommittedBytes})`);
  }
  positiveInt('maxApplyBytesPerReady', r.maxApplyBytesPerReady);
  positiveInt('maxPendingReads', r.maxPendingReads);
  positiveInt('historySize', r.historySize, MIN_HISTORY_SIZE);
  positiveInt('electableGroupSizeOverride', r.electableGroupSizeOverride, 0);
  positiveInt('leaseMs', r.leaseMs, 0);
  const span = r.overrideSpan;
  if (span !== null && (typeof span !== 'object' || !Number.isSafeInteger(span.from) || span.from < 1 || !Number.isSafeInteger(span.to) || span.to < 0)) {
    throw new InvalidArgumentError(`overrideSpan must be null or { from >= 1, to >= 0 }, got ${JSON.stringify(span)}`);
  }
  return r;
}
