// A simulated replication group: real RaftNode cores driven over a seeded network, with
// disks that keep only what a Ready persisted, crashes that lose everything else, and the
// safety checker run after every event. Everything is deterministic given the seed.
import {
  initialGroup,
  RaftNode,
  seededRandom,
  type ConfChange,
  type Entry,
  type GroupMetadata,
  type HardState,
  type Message,
  type NodeId,
  type RandomSource,
  type Ready,
  type SnapshotMeta,
} from '@conclave/core';
import { entryKey, SafetyChecker } from './checker.js';
import { EventQueue } from './event-queue.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** One-way delay, uniformly in [minDelayMs, maxDelayMs]; different delays reorder messages. */
  minDelayMs: number;
  maxDelayMs: number;
}

export interface SimOptions {
  seed: number;
  nodes: number;
  electionTicks?: number;
  tickMs?: number;
  /** Disk write latency, uniformly in [0, maxDiskMs]. */
  maxDiskMs?: number;
  faults?: Partial<NetworkFaults>;
  /** Compact the log once this many applied entries are behind the compaction point. */
  compactEvery?: number;
  compactKeep?: number;
  /**
   * The driver of asynchronous log writes (RaftConfig.asyncStorageWrites): a Ready's write is
   * handed off and the next Ready taken at once; writes complete in order, each later.
   */
  asyncStorageWrites?: boolean;
}

/** What survives a crash. */
interface Disk {
  hardState: HardState;
  compactedIndex: number;
  compactedTerm: number;
  entries: Entry[];
  applied: number;
  group: GroupMetadata;
  /** The state machine: the key of the entry applied at each index (undefined for gaps filled by snapshots of conf/noop). */
  appliedKeys: (string | undefined)[];
  override: number;
}

interface SimNode {
  readonly id: NodeId;
  raft: RaftNode | null;
  disk: Disk;
  incarnation: number;
  outstanding: Ready | null;
  /** asyncStorageWrites: Readies whose write is under way, oldest first. */
  writes: Ready[];
  /** When the newest of them completes: writes complete in order. */
  lastWriteDoneMs: number;
  lastCommit: number;
  lastRole: string;
  /** Snapshot data received and staged, by snapshot index, waiting for the core to accept it. */
  staged: Map<number, (string | undefined)[]>;
  removed: boolean;
}

type SimEvent =
  | { atMs: number; seq: number; kind: 'deliver'; msg: Message; payload: (string | undefined)[] | null }
  | { atMs: number; seq: number; kind: 'tick'; node: NodeId; incarnation: number }
  | { atMs: number; seq: number; kind: 'persisted'; node: NodeId; incarnation: number }
  | { atMs: number; seq: number; kind: 'action'; run: () => void };

const GROUP_ID = 'sim';
const EMPTY = new Uint8Array(0);

export class SimCluster {
  readonly checker = new SafetyChecker();
  readonly random: RandomSource;
  readonly nodes = new Map<NodeId, SimNode>();
  nowMs = 0;
  steps = 0;
  /** What a run exercised, so tests can insist the schedules are not trivial. */
  readonly stats = { crashes: 0, snapshotsInstalled: 0, confChangesApplied: 0, leaderTransfers: 0, elections: 0 };
  private seq = 0;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly electionTicks: number;
  private readonly tickMs: number;
  private readonly maxDiskMs: number;
  readonly asyncWrites: boolean;
  faults: NetworkFaults;
  /** Node ids in different cells of the partition cannot talk; empty = no partition. */
  private partitionCell = new Map<NodeId, number>();
  private proposals = 0;
  private readonly compactEvery: number;
  private readonly compactKeep: number;
  readonly seed: number;

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.random = seededRandom(opts.seed);
    this.electionTicks = opts.electionTicks ?? 10;
    this.tickMs = opts.tickMs ?? 10;
    this.maxDiskMs = opts.maxDiskMs ?? 2;
    this.asyncWrites = opts.asyncStorageWrites ?? false;
    this.compactEvery = opts.compactEvery ?? 24;
    this.compactKeep = opts.compactKeep ?? 4;
    this.faults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 3, ...opts.faults };
    const peers: Record<string, string> = {};
    for (let i = 1; i <= opts.nodes; i++) peers[`n${i}`] = `127.0.0.1:${7000 + i}`;
    const group = initialGroup(GROUP_ID, peers);
    for (const id of Object.keys(peers)) {
      const node = this.newNode(id);
      node.raft = RaftNode.bootstrap(this.raftConfig(node), group);
      this.startTicking(node);
    }
    for (const node of this.nodes.values()) this.drive(node);
  }

  // ------------------------------------------------------------ control

  /** Runs events until `ms` of virtual time have passed, or `maxSteps` events. */
  runFor(ms: number, maxSteps = 2_000_000): void {
    const until = this.nowMs + ms;
    for (let i = 0; i < maxSteps && this.stepBefore(until); i++);
    this.nowMs = until;
  }

  /** Handles the next event if it is due by `until`; false when none is. */
  private stepBefore(until: number): boolean {
    const ev = this.queue.peek();
    if (!ev || ev.atMs > until) return false;
    this.queue.pop();
    this.nowMs = ev.atMs;
    this.checker.nowMs = ev.atMs;
    this.steps++;
    this.handle(ev);
    return true;
  }

  /** Runs until `pred` holds, checking after each event; false if `ms` pass first. */
  runUntil(pred: () => boolean, ms: number): boolean {
    const until = this.nowMs + ms;
    for (let i = 0; i < 2_000_000; i++) {
      if (pred()) return true;
      if (!this.stepBefore(until)) break;
    }
    if (pred()) return true;
    this.nowMs = Math.max(this.nowMs, until);
    return false;
  }

  at(delayMs: number, run: () => void): void {
    this.push({ atMs: this.nowMs + delayMs, seq: 0, kind: 'action', run });
  }

  electionTimeoutMs(): number {
    return this.electionTicks * this.tickMs;
  }

  alive(id: NodeId): boolean {
    return this.nodes.get(id)?.raft != null;
  }

  raft(id: NodeId): RaftNode {
    const r = this.nodes.get(id)?.raft;
    if (!r) throw new Error(`node ${id} is not running`);
    return r;
  }

  liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.raft).map((n) => n.id);
  }

  /** Live leaders, highest term first. */
  leaders(): NodeId[] {
    return this.liveIds()
      .filter((id) => this.raft(id).currentRole === 'leader')
      .sort((a, b) => this.raft(b).currentTerm - this.raft(a).currentTerm);
  }

  leader(): NodeId | null {
    return this.leaders()[0] ?? null;
  }

  crash(id: NodeId): void {
    const node = this.nodes.get(id);
    if (!node?.raft) return;
    // The in-flight write, unsent messages and all volatile state are lost.
    node.raft = null;
    this.stats.crashes++;
    node.outstanding = null;
    node.writes = [];
    node.staged.clear();
    node.incarnation++;
  }

  restart(id: NodeId): void {
    const node = this.nodes.get(id);
    if (!node || node.raft || node.removed) return;
    const d = node.disk;
    node.raft = RaftNode.restore(this.raftConfig(node), {
      hardState: d.hardState,
      group: d.group,
      compactedIndex: d.compactedIndex,
      compactedTerm: d.compactedTerm,
      entries: d.entries,
      applied: d.applied,
    });
    node.lastCommit = node.raft.commitIndex;
    node.lastRole = 'follower';
    this.startTicking(node);
    this.drive(node);
  }

  /** Starts a brand-new member with an empty disk; it must be added through the leader. */
  startJoiner(id: NodeId): void {
    const node = this.newNode(id);
    node.raft = RaftNode.join(this.raftConfig(node), GROUP_ID);
    this.startTicking(node);
  }

  /** Cells of node ids; ids not listed are cut off from everyone. */
  partition(cells: NodeId[][]): void {
    this.partitionCell = new Map();
    cells.forEach((cell, i) => cell.forEach((id) => this.partitionCell.set(id, i)));
    for (const id of this.nodes.keys()) if (!this.partitionCell.has(id)) this.partitionCell.set(id, -1 - this.partitionCell.size);
  }

  heal(): void {
    this.partitionCell = new Map();
  }

  /** Proposes a unique value on `id` (default: the leader); returns its key, or null if refused. */
  propose(id?: NodeId): string | null {
    const target = id ?? this.leader();
    if (!target || !this.alive(target)) return null;
    const value = `s${this.seed}-p${++this.proposals}`;
    try {
      this.raft(target).propose(new TextEncoder().encode(value));
    } catch {
      return null;
    }
    this.drive(this.nodes.get(target)!);
    return value;
  }

  proposeConfChange(change: ConfChange): boolean {
    return this.onLeader((raft) => raft.proposeConfChange(change)) !== null;
  }

  transferLeadership(to: NodeId): boolean {
    const l = this.onLeader((raft) => raft.transferLeadership(to));
    if (l !== null && to !== l) this.stats.leaderTransfers++;
    return l !== null;
  }

  /** Runs `fn` on the leader's core and drives it; the leader's id, or null if none or it refused. */
  private onLeader(fn: (raft: RaftNode) => void): NodeId | null {
    const l = this.leader();
    if (!l) return null;
    try {
      fn(this.raft(l));
    } catch {
      return null;
    }
    this.drive(this.nodes.get(l)!);
    return l;
  }

  setOverride(id: NodeId, n: number, force = false): void {
    const node = this.nodes.get(id)!;
    this.raft(id).setElectableGroupSizeOverride(n, { force });
    node.disk.override = n; // a local node setting: it survives restarts, never replicated
    this.drive(node);
  }

  /** The sequence of application values `id` has applied, in index order. */
  appliedValues(id: NodeId): string[] {
    const out: string[] = [];
    for (const k of this.nodes.get(id)!.disk.appliedKeys) {
      if (k === undefined) continue;
      const v = k.slice(k.indexOf(':') + 1);
      if (!v.startsWith('noop') && !v.startsWith('conf:')) out.push(v);
    }
    return out;
  }

  appliedIndex(id: NodeId): number {
    return this.nodes.get(id)!.disk.applied;
  }

  // ------------------------------------------------------------ internals

  private newNode(id: NodeId): SimNode {
    const node: SimNode = {
      id,
      raft: null,
      disk: {
        hardState: { term: 0, vote: '', commit: 0 },
        compactedIndex: 0,
        compactedTerm: 0,
        entries: [],
        applied: 0,
        group: { groupId: GROUP_ID, members: [] },
        appliedKeys: [],
        override: 0,
      },
      incarnation: 0,
      outstanding: null,
      writes: [],
      lastWriteDoneMs: 0,
      lastCommit: 0,
      lastRole: 'follower',
      staged: new Map(),
      removed: false,
    };
    this.nodes.set(id, node);
    return node;
  }

  private raftConfig(node: SimNode) {
    return {
      id: node.id,
      electionTicks: this.electionTicks,
      heartbeatTicks: 1,
      random: seededRandom(this.seed * 7919 + node.id.charCodeAt(node.id.length - 1) * 104729 + node.incarnation),
      electableGroupSizeOverride: node.disk.override,
      maxMsgBytes: 256,
      maxInflightMsgs: 8,
      nowMs: this.nowMs,
      asyncStorageWrites: this.asyncWrites,
    };
  }

  private push(ev: SimEvent): void {
    (ev as { seq: number }).seq = ++this.seq;
    this.queue.push(ev);
  }

  private startTicking(node: SimNode): void {
    // Each node's clock has its own phase, as real ones do.
    this.push({ atMs: this.nowMs + this.random() * this.tickMs, seq: 0, kind: 'tick', node: node.id, incarnation: node.incarnation });
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.node)!;
        if (!node.raft || node.incarnation !== ev.incarnation) return;
        node.raft.tick(this.nowMs);
        this.push({ atMs: this.nowMs + this.tickMs, seq: 0, kind: 'tick', node: node.id, incarnation: node.incarnation });
        this.drive(node);
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(ev.msg.to);
        if (!node?.raft) {
          this.reportSnapshotOutcome(ev.msg, false);
          return;
        }
        if (ev.msg.type === 'snap' && ev.payload && ev.msg.snapshot) {
          // Bounded staging, as a real driver's: keep the newest few.
          if (node.staged.size >= 4) node.staged.delete(Math.min(...node.staged.keys()));
          node.staged.set(ev.msg.snapshot.index, ev.payload);
        }
        node.raft.step(ev.msg);
        this.reportSnapshotOutcome(ev.msg, true);
        this.drive(node);
        return;
      }
      case 'persisted': {
        const node = this.nodes.get(ev.node)!;
        if (!node.raft || node.incarnation !== ev.incarnation) return;
        if (node.outstanding) this.completeReady(node, node.outstanding);
        else if (node.writes.length > 0) this.completeWrite(node, node.writes.shift()!);
        else return;
        this.drive(node);
        return;
      }
      case 'action':
        ev.run();
        return;
    }
  }

  private reportSnapshotOutcome(m: Message, ok: boolean): void {
    if (m.type !== 'snap') return;
    const leader = this.nodes.get(m.from);
    if (leader?.raft) {
      leader.raft.reportSnapshot(m.to, ok, m.snapshot?.index ?? 0);
      this.drive(leader);
    }
  }

  /** The driver loop: take a Ready, send what may go now, and start the disk write. */
  private drive(node: SimNode): void {
    const raft = node.raft;
    if (!raft || node.outstanding) return;
    this.observe(node);
    if (!raft.hasReady()) return;
    // A snapshot replaces the log: the writes before it complete first, then it is installed alone.
    if (this.asyncWrites && raft.pendingSnapshot && node.writes.length > 0) return;
    const rd = raft.ready();
    this.observe(node); // ready() applies conf changes, which can change the role
    for (const m of rd.messages) this.sendFrom(node, m);
    if (!this.asyncWrites || rd.snapshot) {
      node.outstanding = rd;
      this.push({ atMs: this.nowMs + this.random() * this.maxDiskMs, seq: 0, kind: 'persisted', node: node.id, incarnation: node.incarnation });
      return;
    }
    // Asynchronous: the write is handed off; the committed entries (durable here: the core hands
    // out no others) are applied, and the next Ready may be taken at once.
    node.writes.push(rd);
    node.lastWriteDoneMs = Math.max(node.lastWriteDoneMs, this.nowMs + this.random() * this.maxDiskMs);
    this.push({ atMs: node.lastWriteDoneMs, seq: 0, kind: 'persisted', node: node.id, incarnation: node.incarnation });
    for (const e of rd.committedEntries) this.apply(node, e);
    raft.advance(rd);
    this.maybeCompact(node);
    this.drive(node);
  }

  /** asyncStorageWrites: the oldest write under way is durable. */
  private completeWrite(node: SimNode, rd: Ready): void {
    this.persistToDisk(node, rd);
    for (const m of rd.messagesAfterPersist) this.sendFrom(node, m);
    node.raft!.persisted(rd);
  }

  private completeReady(node: SimNode, rd: Ready): void {
    const raft = node.raft!;
    if (rd.snapshot) {
      const data = node.staged.get(rd.snapshot.index);
      if (!data) throw new Error(`${node.id}: core asked to install snapshot ${rd.snapshot.index} that was never staged`);
      this.installSnapshot(node, rd.snapshot, data);
    }
    if (rd.snapshot) {
      for (const i of [...node.staged.keys()]) if (i <= rd.snapshot.index) node.staged.delete(i);
    }
    this.persistToDisk(node, rd);
    for (const m of rd.messagesAfterPersist) this.sendFrom(node, m);
    for (const e of rd.committedEntries) this.apply(node, e);
    raft.advance(rd);
    if (this.asyncWrites) raft.persisted(rd);
    node.outstanding = null;
    this.maybeCompact(node);
  }

  /** A Ready's entries and hard state reach the disk. */
  private persistToDisk(node: SimNode, rd: Ready): void {
    const d = node.disk;
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      const keep = Math.max(0, first - d.compactedIndex - 1);
      if (keep < d.entries.length) d.entries.length = keep;
      for (const e of rd.entries) {
        if (e.index <= d.compactedIndex) continue;
        const prevTerm = e.index - 1 === d.compactedIndex ? d.compactedTerm : d.entries[e.index - d.compactedIndex - 2]?.term;
        if (prevTerm === undefined) throw new Error(`${node.id}: persisted entry ${e.index} leaves a gap in the log`);
        d.entries.push(e);
        this.checker.entryPersisted(node.id, e, prevTerm);
      }
    }
    if (rd.hardState) {
      d.hardState = rd.hardState;
      this.checker.durableCommitSeen(node.id, rd.hardState.commit);
    }
  }

  private apply(node: SimNode, e: Entry): void {
    const d = node.disk;
    if (e.index <= d.applied) return;
    const key = entryKey(e);
    this.checker.entryApplied(node.id, e.index, key, d.applied);
    d.appliedKeys[e.index] = key;
    d.applied = e.index;
    if (e.type === 'conf') {
      d.group = node.raft!.groupMetadata;
      if (e.term > 1) this.stats.confChangesApplied++;
      if (e.change!.op === 'remove' && e.change!.id === node.id) node.removed = true;
    }
  }

  private installSnapshot(node: SimNode, meta: SnapshotMeta, data: (string | undefined)[]): void {
    const d = node.disk;
    this.checker.snapshotInstalled(node.id, meta.index, data);
    this.stats.snapshotsInstalled++;
    d.appliedKeys = data.slice(0, meta.index + 1);
    d.applied = meta.index;
    d.group = meta.group;
    d.compactedIndex = meta.index;
    d.compactedTerm = meta.term;
    d.entries = [];
    d.hardState = { ...d.hardState, commit: Math.max(d.hardState.commit, meta.index) };
  }

  private maybeCompact(node: SimNode): void {
    const d = node.disk;
    if (d.applied - d.compactedIndex < this.compactEvery) return;
    const to = Math.min(d.applied, d.hardState.commit, d.compactedIndex + d.entries.length) - this.compactKeep;
    if (to <= d.compactedIndex) return;
    node.raft!.compact(to);
    d.compactedTerm = d.entries[to - d.compactedIndex - 1]!.term;
    d.entries = d.entries.slice(to - d.compactedIndex);
    d.compactedIndex = to;
  }

  private sendFrom(node: SimNode, m: Message): void {
    let payload: (string | undefined)[] | null = null;
    if (m.type === 'snap') {
      // The driver picks its latest snapshot: the state machine at its applied index.
      const d = node.disk;
      const term = node.raft!.termAt(d.applied);
      if (term === undefined) throw new Error(`${node.id}: no term for its applied index ${d.applied}`);
      m = { ...m, snapshot: { index: d.applied, term, group: d.group } };
      payload = d.appliedKeys.slice(0, d.applied + 1);
    }
    const f = this.faults;
    if (!this.canTalk(m.from, m.to) || this.random() < f.dropRate) {
      if (m.type === 'snap') this.at(0, () => this.reportSnapshotOutcome(m, false));
      return;
    }
    const copies = this.random() < f.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = f.minDelayMs + this.random() * (f.maxDelayMs - f.minDelayMs);
      this.push({ atMs: this.nowMs + delay, seq: 0, kind: 'deliver', msg: m, payload });
    }
  }

  private canTalk(a: NodeId, b: NodeId): boolean {
    if (this.partitionCell.size === 0) return true;
    return this.partitionCell.get(a) === this.partitionCell.get(b);
  }

  private observe(node: SimNode): void {
    const raft = node.raft!;
    const c = raft.commitIndex;
    this.checker.liveCommitSeen(node.id, node.lastCommit, c);
    node.lastCommit = c;
    const role = raft.currentRole;
    const term = raft.currentTerm;
    const leaderKey = role === 'leader' ? `leader@${term}` : role;
    if (role === 'leader' && node.lastRole !== leaderKey) {
      this.stats.elections++;
      this.checker.leaderElected(node.id, term);
      this.checker.leaderLogCheck(node.id, term, (i) => raft.termAt(i), raft.status().firstIndex);
    }
    node.lastRole = leaderKey;
  }
}

export { EMPTY };
