// The election history: a bounded ring of role and state changes, OpenIO-style
// (`FROM:EVENT:TO`), with counters beside it. `at` is whatever clock the driver gives.
import { assert } from './errors.js';
import type { Role } from './types.js';

export const MIN_HISTORY_SIZE = 64;

export type HistoryRole = 'FOLLOWER' | 'PRE_CANDIDATE' | 'CANDIDATE' | 'LEADER';

export type HistoryEvent =
  | 'ELECTION_TIMEOUT'
  | 'CAMPAIGN_REQUESTED'
  | 'SOLE_VOTER'
  | 'PREVOTE_GRANTED'
  | 'PREVOTE_REJECTED'
  | 'VOTE_QUORUM'
  | 'VOTE_REJECTED'
  | 'HIGHER_TERM'
  | 'LEADER_SEEN'
  | 'LEADER_FOUND'
  | 'CHECK_QUORUM_LOST'
  | 'TIMEOUT_NOW'
  | 'TRANSFER_ABORTED'
  | 'REMOVED'
  | 'LEAVE_REQUESTED'
  | 'OVERRIDE_SET'
  | 'SNAPSHOT_INSTALLED'
  | 'ROLLED_BACK'
  | 'DIVERGED'
  | 'ROLLBACK_PROHIBITED'
  /** A leader heard that a member follows (or is) another leader of its term: only under the override. */
  | 'TWO_LEADERS';

export interface HistoryEntry {
  readonly at: number;
  readonly from: HistoryRole;
  readonly event: HistoryEvent;
  readonly to: HistoryRole;
  readonly term: number;
  /** Extra detail, e.g. the override value or the leader id. */
  readonly detail: string;
}

export interface ElectionCounters {
  preVotesStarted: number;
  preVotesRejected: number;
  electionsStarted: number;
  electionsWon: number;
  electionsLost: number;
  votesGranted: number;
  votesRefused: number;
  leaderChanges: number;
  /** Driver time of the last message from a leader, or null if never. */
  lastLeaderContactAt: number | null;
}

export function historyRole(role: Role): HistoryRole {
  switch (role) {
    case 'follower':
      return 'FOLLOWER';
    case 'preCandidate':
      return 'PRE_CANDIDATE';
    case 'candidate':
      return 'CANDIDATE';
    case 'leader':
      return 'LEADER';
  }
}

export function formatHistoryEntry(e: HistoryEntry): string {
  return `${e.from}:${e.event}:${e.to}`;
}

export class ElectionHistory {
  private readonly ring: (HistoryEntry | undefined)[];
  private next = 0;
  private size = 0;
  readonly counters: ElectionCounters = {
    preVotesStarted: 0,
    preVotesRejected: 0,
    electionsStarted: 0,
    electionsWon: 0,
    electionsLost: 0,
    votesGranted: 0,
    votesRefused: 0,
    leaderChanges: 0,
    lastLeaderContactAt: null,
  };

  constructor(readonly capacity: number = MIN_HISTORY_SIZE) {
    assert(Number.isInteger(capacity) && capacity >= MIN_HISTORY_SIZE, `history capacity must be an integer >= ${MIN_HISTORY_SIZE}`);
    this.ring = new Array<HistoryEntry | undefined>(capacity);
  }

  record(entry: HistoryEntry): void {
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Newest first, as OpenIO prints it. */
  newestFirst(): HistoryEntry[] {
    const out: HistoryEntry[] = [];
    for (let i = 1; i <= this.size; i++) {
      out.push(this.ring[(this.next - i + this.capacity) % this.capacity]!);
    }
    return out;
  }
}
