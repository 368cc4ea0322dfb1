// The leader's writes waiting for their outcome. Each is keyed by the (term, index) it was
// proposed at: a new leader can truncate an entry and a later leader reuse its index, so an
// index alone can name two writes. Each settles exactly once, with what is true of it:
//   resolved          - acknowledged under its policy (and applied, when it needs the outcome);
//   WriteReplacedError - another entry committed at its index: it did not happen;
//   InsufficientAcksError, WriteOutcomeUnknownError - it may have happened.
import type { AckPolicy, Entry, Role } from '@conclave/core';
import type { ApplyResult, CommandOutcome } from '@conclave/storage';
import { InsufficientAcksError, WriteOutcomeUnknownError, WriteReplacedError } from './errors.js';
import { systemClock, type Clock, type Timer } from './seams.js';

export interface WriteSettlement {
  readonly outcome: CommandOutcome | null;
  readonly index: number;
  readonly term: number;
}

/** What the tracker needs to know of the core. */
export interface LeaderView {
  role(): Role;
  termAt(index: number): number | undefined;
  ackIndex(policy: AckPolicy): number;
}

interface PendingWrite {
  readonly term: number;
  readonly index: number;
  readonly policy: AckPolicy;
  /** The caller needs the apply's outcome (compare-and-set): never resolve before the apply. */
  readonly needsOutcome: boolean;
  readonly timeoutMs: number;
  readonly resolve: (r: WriteSettlement) => void;
  readonly reject: (e: Error) => void;
  timer: Timer | null;
  outcome: CommandOutcome | null;
  applied: boolean;
  /** This node stopped leading while the write waited: only its apply (or replacement) can settle it now. */
  leaderLost: boolean;
}

export class WriteTracker {
  /** index -> term -> write. */
  private readonly byIndex = new Map<number, Map<number, PendingWrite>>();
  private count = 0;
  /** Writes under 'all' or 'none' (quorum writes settle at their apply): settleByAckIndex, run after every Ready, skips its scan when there are none. */
  private countByAck = 0;

  constructor(
    private readonly raft: LeaderView,
    readonly maxWrites: number,
    private readonly clock: Clock = systemClock,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Tracks the write just proposed at (term, index); settles it after `timeoutMs` if nothing else does. */
  track(term: number, index: number, policy: AckPolicy, needsOutcome: boolean, timeoutMs: number): Promise<WriteSettlement> {
    return new Promise<WriteSettlement>((resolve, reject) => {
      const w: PendingWrite = { term, index, policy, needsOutcome, timeoutMs, resolve, reject, timer: null, outcome: null, applied: false, leaderLost: false };
      let atIndex = this.byIndex.get(index);
      if (!atIndex) this.byIndex.set(index, (atIndex = new Map()));
      // One leader proposes one entry per (term, index): a second is a broken core.
      if (atIndex.has(term)) throw new Error(`assertion failed: two writes proposed at index ${index} in term ${term}`);
      atIndex.set(term, w);
      this.count++;
      if (policy !== 'simpleMajority') this.countByAck++;
      w.timer = this.clock.setTimeout(() => this.timeout(w), timeoutMs);
    });
  }

  /** Entries just applied (with their results): settles the writes at their indexes. */
  onApplied(entries: readonly Entry[], results: readonly (ApplyResult | undefined)[]): void {
    if (this.count === 0) return;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const atIndex = this.byIndex.get(e.index);
      if (!atIndex) continue;
      for (const w of [...atIndex.values()]) {
        if (w.term !== e.term) {
          this.settle(w, new WriteReplacedError(e.index, w.term, `leadership changed before index ${e.index} committed: a new leader's entry (term ${e.term}) committed there, so the write (term ${w.term}) did not happen`));
          continue;
        }
        const r = results[i];
        w.applied = true;
        w.outcome = r?.outcome ?? null;
        if (r?.error) this.settle(w, r.error);
        else if (w.policy === 'simpleMajority' || w.leaderLost || (w.policy === 'none' && w.needsOutcome)) this.settle(w, null);
        // 'all' waits for every electable member's ack (settleByAckIndex), applied or not.
      }
    }
  }

  /** After a Ready: `none` resolves at the leader's durable write, `all` once every electable member has it (and it is applied). */
  settleByAckIndex(): void {
    if (this.countByAck === 0 || this.raft.role() !== 'leader') return;
    const none = this.raft.ackIndex('none');
    const all = this.raft.ackIndex('all');
    for (const atIndex of this.byIndex.values()) {
      for (const w of [...atIndex.values()]) {
        if (w.leaderLost) continue;
        if (w.policy === 'all' && w.applied && all >= w.index) this.settle(w, null);
        else if (w.policy === 'none' && !w.needsOutcome && none >= w.index && this.raft.termAt(w.index) === w.term) this.settle(w, null);
      }
    }
  }

  /**
   * This node is no longer the leader. Ack indexes only a leader sees are gone: an 'all' write
   * fails now (JE: InsufficientAcksException); the others settle at their apply or replacement.
   */
  onLeadershipLost(): void {
    for (const atIndex of this.byIndex.values()) {
      for (const w of [...atIndex.values()]) {
        if (w.leaderLost) continue;
        w.leaderLost = true;
        if (w.policy === 'all') {
          this.settle(
            w,
            new InsufficientAcksError(w.index, w.policy, w.timeoutMs, `write at index ${w.index}: this node stopped leading before every electable member acknowledged it ('all'); it may still commit`),
          );
        }
      }
    }
  }

  /** The node closes or fails: every write still waiting may have happened. */
  failAll(why: string, cause: Error): void {
    for (const atIndex of [...this.byIndex.values()]) {
      for (const w of [...atIndex.values()]) {
        this.settle(w, new WriteOutcomeUnknownError(`write at index ${w.index}: ${why} before its outcome was known; it may or may not take effect`, cause));
      }
    }
  }

  /** The write's own timer: it acts on this write only, whatever else came to use its index. */
  private timeout(w: PendingWrite): void {
    if (this.byIndex.get(w.index)?.get(w.term) !== w) return;
    const durableHere = this.raft.role() === 'leader' && this.raft.termAt(w.index) === w.term && this.raft.ackIndex('none') >= w.index;
    this.settle(
      w,
      durableHere
        ? new InsufficientAcksError(w.index, w.policy, w.timeoutMs)
        : new WriteOutcomeUnknownError(
            `write at index ${w.index} was not acknowledged within ${w.timeoutMs} ms ${this.raft.role() === 'leader' ? 'nor durable on this leader' : 'and this node is no longer the leader'}; it may or may not commit`,
          ),
    );
  }

  private settle(w: PendingWrite, err: Error | null): void {
    const atIndex = this.byIndex.get(w.index);
    if (atIndex?.get(w.term) !== w) return;
    atIndex.delete(w.term);
    if (atIndex.size === 0) this.byIndex.delete(w.index);
    this.count--;
    if (w.policy !== 'simpleMajority') this.countByAck--;
    if (w.timer) this.clock.clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve({ outcome: w.outcome, index: w.index, term: w.term });
  }
}
