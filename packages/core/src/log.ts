// The in-memory Raft log: entries after the compaction point, plus which of them are
// durable, committed and applied. Like etcd's MemoryStorage, the driver loads it from disk
// at start and compacts it behind snapshots, so its size stays bounded.
import { noopLeader, sameEntry } from './divergence.js';
import { assert } from './errors.js';
import type { Entry, NodeId, SnapshotMeta } from './types.js';

/** A rough wire/disk size of an entry, for batching by bytes. */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + 24;
}

export class RaftLog {
  /** Index and term of the last compacted entry (0/0 for an empty log). */
  private snapshotIndex: number;
  private snapshotTerm: number;
  private entries: Entry[];
  committed: number;
  /** Entries up to here were applied by the driver (advance() of a Ready that carried them). */
  applied: number;
  /** Entries up to here were handed to the driver to apply and await advance(). */
  applying: number;
  /** Last index known durable on this node's disk. */
  stableIndex: number;
  /** First index not yet handed to the driver for persistence. */
  unstableFrom: number;
  /** A snapshot to hand to the driver for installation. */
  pendingSnapshot: SnapshotMeta | null = null;
  /** Per term, the noop that starts it in this log and the leader it names (see noopData). */
  private readonly termStarts = new Map<number, { index: number; leader: NodeId }>();

  constructor(opts: { snapshotIndex: number; snapshotTerm: number; entries: readonly Entry[]; committed: number; applied: number }) {
    this.snapshotIndex = opts.snapshotIndex;
    this.snapshotTerm = opts.snapshotTerm;
    this.entries = [...opts.entries];
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === opts.snapshotIndex + 1 + i, () => `log entries are not contiguous at position ${i}`);
      this.noteTermStart(this.entries[i]!);
    }
    this.stableIndex = this.lastIndex();
    this.unstableFrom = this.lastIndex() + 1;
    assert(opts.applied >= opts.snapshotIndex, 'applied index is behind the compaction point');
    this.committed = Math.max(opts.committed, opts.applied);
    assert(this.committed <= this.lastIndex(), () => `commit ${this.committed} is beyond the last index ${this.lastIndex()}`);
    this.applied = opts.applied;
    this.applying = opts.applied;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term at `index`, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** The leader that wrote the entries of the term at `index`, while this log holds the term's named noop. */
  termLeaderAt(index: number): NodeId | undefined {
    const t = this.term(index);
    const start = t === undefined ? undefined : this.termStarts.get(t);
    return start !== undefined && start.index <= index ? start.leader : undefined;
  }

  /** The index of the named noop that starts the term at `index` in this log, if it holds it. */
  termStartAt(index: number): number | undefined {
    const t = this.term(index);
    const start = t === undefined ? undefined : this.termStarts.get(t);
    return start !== undefined && start.index <= index ? start.index : undefined;
  }

  private noteTermStart(e: Entry): void {
    const leader = noopLeader(e);
    if (leader !== undefined && !this.termStarts.has(e.term)) this.termStarts.set(e.term, { index: e.index, leader });
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  /** Raft's up-to-date check (§5.4.1): is (lastIndex, lastTerm) at least as complete as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), at most `maxBytes` of them but always at least one. Requires lo >= firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.entries[i - this.snapshotIndex - 1]!;
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Appends entries that follow on from the current end (the leader's own proposals). */
  appendLocal(entries: readonly Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.lastIndex() + 1, () => `appended entry ${e.index} does not follow last index ${this.lastIndex()}`);
      this.entries.push(e);
      this.noteTermStart(e);
    }
  }

  /**
   * A follower's append after (prevIndex, prevTerm) matched: skips entries we already have,
   * truncates at the first conflict (another term, or another leader of the same term:
   * sameEntry), and appends the rest. Returns the last new index.
   */
  appendFromLeader(prevIndex: number, entries: readonly Entry[]): number {
    const lastNew = prevIndex + entries.length;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      assert(e.index === prevIndex + 1 + k, 'entries in an append are not contiguous');
      if (e.index <= this.snapshotIndex) continue; // compacted away, hence committed and identical
      const ours = this.entryAt(e.index);
      if (ours !== undefined && sameEntry(ours, e)) continue;
      if (ours !== undefined) {
        assert(e.index > this.committed, () => `conflict at ${e.index} would truncate committed entries (commit ${this.committed})`);
        this.truncateFrom(e.index);
      }
      this.appendLocal(entries.slice(k));
      break;
    }
    return lastNew;
  }

  private truncateFrom(index: number): void {
    this.entries.length = index - this.snapshotIndex - 1;
    for (const [term, start] of this.termStarts) if (start.index >= index) this.termStarts.delete(term);
    this.stableIndex = Math.min(this.stableIndex, index - 1);
    this.unstableFrom = Math.min(this.unstableFrom, index);
  }

  /**
   * For a rejected append at `index`: the largest index <= `index` whose term is <= `term`,
   * so the leader can skip a whole term of conflicting entries in one round trip.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.snapshotIndex; i--) {
      if (this.term(i)! <= term) break;
    }
    return i;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), () => `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Entries not yet handed to the driver for persistence. */
  unstableEntries(): Entry[] {
    if (this.unstableFrom > this.lastIndex()) return [];
    return this.entries.slice(this.unstableFrom - this.snapshotIndex - 1);
  }

  markHandedForPersist(): void {
    this.unstableFrom = this.lastIndex() + 1;
  }

  /**
   * The driver persisted `entries`: the prefix our log still holds is durable. Held means the
   * very entry, not (index, term): under the override another leader of the same term may have
   * replaced them meanwhile with entries alike in both (the log keeps an entry's object while
   * it holds that entry, and replaces it only on a conflict).
   */
  stableTo(entries: readonly Entry[]): void {
    for (let k = entries.length - 1; k >= 0; k--) {
      const e = entries[k]!;
      if (this.entryAt(e.index) === e) {
        this.stableIndex = Math.max(this.stableIndex, e.index);
        return;
      }
    }
  }

  /** The highest index that may be applied: committed, and (`durableOnly`) durable here. */
  applicableTo(durableOnly: boolean): number {
    return durableOnly ? Math.min(this.committed, this.stableIndex) : this.committed;
  }

  /** Committed entries to hand to the driver to apply: (applying, applicableTo], bounded by bytes. */
  nextCommitted(maxBytes: number, durableOnly = false): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = this.applicableTo(durableOnly);
    if (lo > hi) return [];
    return this.slice(lo, hi + 1, maxBytes);
  }

  /** Replaces the whole log with a snapshot's state (follower install). */
  restore(meta: SnapshotMeta): void {
    this.snapshotIndex = meta.index;
    this.snapshotTerm = meta.term;
    this.entries = [];
    this.termStarts.clear();
    this.committed = meta.index;
    this.applied = meta.index;
    this.applying = meta.index;
    this.stableIndex = meta.index;
    this.unstableFrom = meta.index + 1;
    this.pendingSnapshot = meta;
  }

  /** Drops entries up to and including `index`, which must be applied and durable. */
  compact(index: number): void {
    if (index <= this.snapshotIndex) return;
    assert(index <= this.applied && index <= this.stableIndex, () => `cannot compact to ${index}: applied ${this.applied}, durable ${this.stableIndex}`);
    this.snapshotTerm = this.term(index)!;
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    // A term still in the log keeps its leader (probes may land in it); older ones go.
    for (const term of this.termStarts.keys()) if (term < this.snapshotTerm) this.termStarts.delete(term);
  }
}
