// Quorum arithmetic, exactly as Berkeley DB JE HA defines it (DESIGN.md, "Quorum rules").
import { InvalidArgumentError } from './errors.js';
import type { AckPolicy, ConfChange } from './types.js';

/** floor(n/2) + 1. */
export function simpleMajority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** The group size quorums are computed from: the override when set (> 0), else the electable group size. */
export function effectiveGroupSize(electableGroupSize: number, override: number): number {
  return override > 0 ? override : electableGroupSize;
}

/** Votes an election needs, and electable members (leader included) a commit needs. */
export function quorumSize(electableGroupSize: number, override: number): number {
  return simpleMajority(effectiveGroupSize(electableGroupSize, override));
}

/** Throws InvalidArgumentError unless `n` is a valid override for a group of `electableGroupSize`. */
export function validateOverride(n: unknown, electableGroupSize: number, force: boolean): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`electableGroupSizeOverride must be a non-negative integer, got ${JSON.stringify(n) ?? String(n)}`);
  }
  if (n > electableGroupSize && !force) {
    throw new InvalidArgumentError(
      `electableGroupSizeOverride ${n} is larger than the electable group size ${electableGroupSize}; pass force to set it anyway`,
    );
  }
  return n;
}

/**
 * Why a change that adds an electable member (addElectable, promote) is refused on a node
 * running with an override, or null. The override was sized for the group it rescued: kept
 * while E grows, its quorum falls below a true majority (override 3 with E = 7: quorum 2).
 */
export function overrideRefusal(nodeId: string, override: number, electableGroupSize: number, change: ConfChange): string | null {
  if (override <= 0 || (change.op !== 'addElectable' && change.op !== 'promote')) return null;
  const e = electableGroupSize + 1;
  return (
    `${nodeId} runs with electable group size override ${override}: with ${change.id} electable, E would become ${e} while quorums stay ` +
    `${simpleMajority(override)} (a true majority is ${simpleMajority(e)}). Clear the override first (conclave override clear), or force the change (conclave group add-member --force; force: true)`
  );
}

/**
 * The largest index that at least `quorum` of the given match indexes have reached,
 * or 0 when fewer than `quorum` members exist at all.
 */
export function quorumIndex(matchIndexes: readonly number[], quorum: number): number {
  if (quorum <= 0 || matchIndexes.length < quorum) return 0;
  const sorted = [...matchIndexes].sort((a, b) => b - a);
  return sorted[quorum - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Only the candidate checks the quorum; `electableCount` bounds how many votes can still come. */
export function voteResult(granted: number, rejected: number, electableCount: number, quorum: number): VoteResult {
  if (granted >= quorum) return 'won';
  if (electableCount - rejected < quorum) return 'lost';
  return 'pending';
}

export interface AckInputs {
  /** The leader's commit index (entries of the current term reached the commit quorum). */
  readonly commitIndex: number;
  /** The leader's own durable last index. */
  readonly leaderDurableIndex: number;
  /** Durable match index of every electable member, the leader's included. */
  readonly electableMatchIndexes: readonly number[];
}

/**
 * The highest log index whose write satisfies `policy`: a write at index i is acknowledged
 * once ackIndex(policy) >= i (and its entry still has the term it was proposed in).
 */
export function ackIndex(policy: AckPolicy, inputs: AckInputs): number {
  switch (policy) {
    case 'simpleMajority':
      return inputs.commitIndex;
    case 'all':
      // Every electable member has it durably, and it is committed (so it can never be lost).
      return Math.min(inputs.commitIndex, ...inputs.electableMatchIndexes);
    case 'none':
      return inputs.leaderDurableIndex;
  }
}
