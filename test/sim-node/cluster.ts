// A group of full ConclaveNodes in one process, each opened through conclave/internal's
// openNodeWith with simulated seams: its own drifting clock, its simulated disk (storage
// runs its production code over it, side file included), its endpoint on the simulated
// network, seeded randomness, report files on its disk. One scheduler drives them all.
// After every event the cluster checks what must always hold: every client promise
// settles in time, no node fails unless a fault was injected into it (a core assertion
// fails the node), and a node that fails says why.
import type { ConclaveNode, OpenNodeOptions } from 'conclave';
import { openNodeWith, type NodeSeams, type Random } from 'conclave/internal';
import { decodeEntry, NodeStorage } from '@conclave/storage';
import { unpack } from 'msgpackr';
import { decodePosition } from '../../packages/storage/src/codec.js';
import { logKey, META_APPLIED, META_COMPACTED } from '../../packages/storage/src/keys.js';
import { SimClients, type Target } from './clients.js';
import { Scheduler } from './scheduler.js';
import { MAX_DRIFT, SimClock } from './sim-clock.js';
import { SimDisk, type DiskFault, type DiskProfile } from './sim-disk.js';
import { SimWire } from './sim-transport.js';
import type { NetProfile } from './sim-network.js';

export const GROUP_ID = 'simnode';

export interface ClusterOptions {
  seed: number;
  nodes: number;
  keepTrace?: boolean;
  tickMs?: number;
  electionTicks?: number;
  net?: Partial<NetProfile>;
  disk?: Partial<DiskProfile>;
  /** Per-node options the cluster adds (snapshot intervals, durability). */
  nodeOptions?: Partial<OpenNodeOptions>;
  /** 'wall-clock-lease': the driver's monotonic clock is its wall clock (the pre-issue-11 defect). */
  wallClockAsMonotonic?: boolean;
}

export type HostState = 'down' | 'starting' | 'up' | 'failed' | 'removed';

export class Host {
  incarnation = 0;
  owner = '';
  clock: SimClock | null = null;
  node: ConclaveNode | null = null;
  state: HostState = 'down';
  /** Why it failed, as it said (its 'error' event); null while it has not. */
  failure: string | null = null;
  /** The disk fault injected into it, if any: a failure is then expected. */
  injected: DiskFault | null = null;
  pausedAtMs: number | null = null;
  rate = 1;
  /** The first start: bootstrap with the peers, or join through a member. */
  joinVia: string | null = null;

  constructor(
    readonly id: string,
    readonly address: string,
    readonly disk: SimDisk,
  ) {}
}

export class SimNodeCluster {
  readonly sched: Scheduler;
  readonly wire: SimWire;
  readonly hosts = new Map<string, Host>();
  readonly violations: string[] = [];
  /** Terms in which two members led, under an override (allowed: see onLeader). */
  readonly sharedTerms = new Set<number>();
  clients: SimClients | null = null;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly peers: Record<string, string> = {};
  readonly stats = { crashes: 0, restarts: 0, pauses: 0, failStops: 0, leaderChanges: 0, rollbacks: 0 };
  /** term -> the node that led it (at most one, the core's election safety). */
  private readonly leaders = new Map<number, string>();
  private readonly opts: ClusterOptions;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.sched = new Scheduler({ seed: opts.seed, keepTrace: opts.keepTrace ?? false });
    this.wire = new SimWire(this.sched, opts.net);
    this.tickMs = opts.tickMs ?? 50;
    this.electionTicks = opts.electionTicks ?? 10;
    for (let i = 1; i <= opts.nodes; i++) this.peers[`n${i}`] = `127.0.0.1:${7000 + i}`;
    for (const [id, address] of Object.entries(this.peers)) this.addHost(id, address);
  }

  addHost(id: string, address: string, joinVia: string | null = null): Host {
    const h = new Host(id, address, new SimDisk(`/sim/${id}`, this.sched, this.opts.disk));
    h.joinVia = joinVia;
    this.hosts.set(id, h);
    return h;
  }

  get electionTimeoutMs(): number {
    return this.tickMs * this.electionTicks;
  }

  // ------------------------------------------------------------ node lifecycle

  /** Starts a new incarnation of the host's node (its open runs on the scheduler). */
  start(id: string): void {
    const h = this.hosts.get(id)!;
    if (h.state === 'starting' || h.state === 'up' || h.state === 'removed') return;
    h.incarnation++;
    h.owner = `${id}#${h.incarnation}`;
    h.state = 'starting';
    h.failure = null;
    const clock = new SimClock(this.sched, h.owner, { rate: h.rate, startMs: 1_000_000 + this.sched.nowMs });
    h.clock = clock;
    h.disk.owner = h.owner;
    this.wire.boot(id, h.address, h.owner, clock);
    const owner = h.owner;
    const sched = this.sched;
    const random: Random = { bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(sched.random() * 256))) };
    // The wall-clock mutant: what the driver takes for monotonic time steps with the wall clock.
    const seamClock = this.opts.wallClockAsMonotonic ? Object.assign(Object.create(clock) as SimClock, { nowMs: () => clock.wallNowMs() }) : clock;
    const seams: NodeSeams = {
      clock: seamClock,
      random,
      openStorage: (o) => NodeStorage.open({ ...o, disk: h.disk.storageDisk(), timers: clock }),
      network: this.wire.seamFor(id) as unknown as NodeSeams['network'],
      reports: {
        saveRollbackReport: async (_dir, report) => {
          const name = `rollbacks/${sched.nowMs.toFixed(0)}-${id}.json`;
          await h.disk.files.write(name, Buffer.from(JSON.stringify(report)));
          return `/sim/${id}/${name}`;
        },
      },
    };
    const options: OpenNodeOptions = {
      id,
      groupId: GROUP_ID,
      dataDir: `/sim/${id}`,
      listen: h.address,
      ...(h.joinVia ? { join: h.joinVia } : { peers: this.peers }),
      tickMs: this.tickMs,
      electionTicks: this.electionTicks,
      // A pino-compatible logger: (fields, message); the trace keeps the message and event.
      logger: {
        info: (f, m) => sched.note(owner, `info: ${m ?? ''} [${String(f.event)}]`),
        warn: (f, m) => sched.note(owner, `warn: ${m ?? ''} [${String(f.event)}]`),
        error: (f, m) => sched.note(owner, `error: ${m ?? ''} [${String(f.event)}]`),
      },
      // The simulated network serves no HTTP, so no /metrics.
      metrics: false,
      ...this.opts.nodeOptions,
    };
    sched.note(owner, 'starting');
    openNodeWith(options, seams).then(
      (node) => {
        if (h.owner !== owner) return void node.close().catch(() => {}); // crashed while opening
        h.node = node;
        h.state = 'up';
        node.on('error', (err) => this.onFailure(h, owner, err));
        node.on('stateChange', (state) => {
          if (state === 'leader') this.onLeader(h);
        });
        node.on('rollback', () => this.stats.rollbacks++);
        sched.note(owner, 'up');
      },
      (err: unknown) => {
        if (h.owner !== owner) return;
        this.onFailure(h, owner, err);
      },
    );
  }

  private onFailure(h: Host, owner: string, err: unknown): void {
    if (h.owner !== owner || h.state === 'failed') return;
    const message = (err as Error)?.message ?? String(err);
    h.state = 'failed';
    h.failure = message;
    this.stats.failStops++;
    this.sched.note(owner, `FAILED: ${message}`);
    if (!h.injected) this.violations.push(`${h.id} failed with no disk fault injected: ${message}`);
    else if (!/IO error|No space|fdatasync|fail-stop/i.test(message)) this.violations.push(`${h.id} failed after a ${h.injected} fault without naming it: ${message}`);
    this.clients?.nodeDied(owner);
  }

  private onLeader(h: Host): void {
    const term = h.node?.status().term ?? 0;
    const prev = this.leaders.get(term);
    // The override relaxes the majority, election safety with it (docs/reliability.md, the
    // override): two leaders of one term are then allowed, but not what Raft would infer from
    // one term: entries that differ at one index are checked by committedDisagreements().
    const overridden = [...this.hosts.values()].some((x) => (x.node?.status().electableGroupSizeOverride ?? 0) > 0);
    if (prev !== undefined && prev !== h.id) {
      if (overridden) this.sharedTerms.add(term);
      else this.violations.push(`two leaders in term ${term}: ${prev} and ${h.id}`);
    }
    this.leaders.set(term, h.id);
    this.stats.leaderChanges++;
  }

  /** kill -9 with the power cut: unsynced writes may be lost, nothing in flight answers. */
  crash(id: string): void {
    const h = this.hosts.get(id)!;
    if (h.state === 'down' || h.state === 'removed') return;
    this.stats.crashes++;
    this.sched.kill(h.owner);
    this.wire.down(id);
    h.disk.crash();
    this.clients?.nodeDied(h.owner);
    h.node = null;
    h.pausedAtMs = null;
    h.state = 'down';
  }

  restart(id: string): void {
    const h = this.hosts.get(id)!;
    if (h.state === 'removed') return;
    if (h.state !== 'down') this.crash(id);
    this.stats.restarts++;
    this.start(id);
  }

  pause(id: string): void {
    const h = this.hosts.get(id)!;
    if (h.state !== 'up' || h.pausedAtMs !== null) return;
    this.stats.pauses++;
    h.pausedAtMs = this.sched.nowMs;
    this.sched.pause(h.owner);
  }

  resume(id: string): void {
    const h = this.hosts.get(id)!;
    if (h.pausedAtMs === null) return;
    this.clients?.extend(h.owner, this.sched.nowMs - h.pausedAtMs);
    h.pausedAtMs = null;
    this.sched.resume(h.owner);
  }

  /** Injects a disk fault: the node must fail-stop at its next write and say why. */
  injectDiskFault(id: string, fault: DiskFault): void {
    const h = this.hosts.get(id)!;
    if (h.state !== 'up') return;
    h.injected = fault;
    if (fault === 'full') h.disk.full = true;
    else h.disk.failNext = fault;
    this.sched.note(h.owner, `disk fault injected: ${fault}`);
  }

  /** The operator replaced the disk's trouble: a restart may succeed. */
  repairDisk(id: string): void {
    const h = this.hosts.get(id)!;
    h.disk.full = false;
    h.disk.failNext = null;
    h.injected = null;
  }

  setRate(id: string, rate: number): void {
    const h = this.hosts.get(id)!;
    h.rate = Math.min(1 + MAX_DRIFT, Math.max(1 - MAX_DRIFT, rate));
    h.clock?.setRate(h.rate);
  }

  // ------------------------------------------------------------ queries

  up(id: string): boolean {
    const h = this.hosts.get(id);
    return h !== undefined && h.state === 'up' && h.pausedAtMs === null;
  }

  /** Nodes a client may call: up, not paused. */
  targets(): Target[] {
    const out: Target[] = [];
    for (const h of this.hosts.values()) if (h.node && this.up(h.id)) out.push({ id: h.id, owner: h.owner, node: h.node });
    return out;
  }

  /** The up node that believes it leads with the highest term. */
  leader(): Host | null {
    let best: Host | null = null;
    let bestTerm = -1;
    for (const h of this.hosts.values()) {
      if (!h.node || !this.up(h.id) || !h.node.isLeader) continue;
      const term = h.node.status().term;
      if (term > bestTerm) {
        best = h;
        bestTerm = term;
      }
    }
    return best;
  }

  /** Members of the group as the leader sees it (not removed). */
  members(): string[] {
    const l = this.leader();
    if (!l?.node) return [];
    return l.node.status().members.filter((m) => !m.removed).map((m) => m.id);
  }

  /**
   * A replicaAck 'all' write just resolved: every electable member of the group must hold
   * its entry durably (synced on its disk), or have applied past it durably.
   */
  checkAllDurable(via: Target, token: { index: number; term: number }): void {
    // A member that any live node has already applied a removal of no longer counts: the
    // leader decides 'all' on its own membership, which may be ahead of via's.
    const removedSomewhere = new Set<string>();
    for (const h of this.hosts.values()) for (const m of h.node?.status().members ?? []) if (m.removed) removedSomewhere.add(m.id);
    const members = via.node.status().members.filter((m) => !m.removed && m.type === 'electable' && !removedSomewhere.has(m.id));
    for (const m of members) {
      const h = this.hosts.get(m.id);
      if (!h) continue;
      const entry = h.disk.durableGet(logKey(token.index));
      const applied = h.disk.durableGet(META_APPLIED);
      const appliedIndex = applied ? (unpack(applied) as number) : 0;
      if (entry ? decodeEntry(entry).term === token.term : appliedIndex >= token.index) continue;
      this.violations.push(`a replicaAck 'all' write at index ${token.index} (term ${token.term}) resolved on ${via.owner} while ${m.id} did not hold it durably`);
    }
  }

  /**
   * What no override may break: two members never hold different committed entries at one
   * index (another term, type or data) unless one of them reports it (it refuses to roll
   * back, or is rolling back: status().rollback). Compared on the durable logs of the members
   * that run, after both members' compaction point (a rollback restarts the log at the
   * leader's snapshot; older records may await a background clear) and up to both members'
   * durable applied index.
   */
  committedDisagreements(): string[] {
    const up = [...this.hosts.values()].filter((h) => h.node && this.up(h.id));
    const appliedOf = (h: Host): number => {
      const applied = h.disk.durableGet(META_APPLIED);
      return applied ? (unpack(applied) as number) : 0;
    };
    const compactedOf = (h: Host): number => {
      const pos = h.disk.durableGet(META_COMPACTED);
      return pos ? decodePosition(pos).index : 0;
    };
    const out: string[] = [];
    for (let a = 0; a < up.length; a++) {
      for (let b = a + 1; b < up.length; b++) {
        const [x, y] = [up[a]!, up[b]!];
        if (x.node!.status().rollback.state !== 'none' || y.node!.status().rollback.state !== 'none') continue;
        const to = Math.min(appliedOf(x), appliedOf(y));
        for (let i = Math.max(compactedOf(x), compactedOf(y)) + 1; i <= to; i++) {
          const [ex, ey] = [x.disk.durableGet(logKey(i)), y.disk.durableGet(logKey(i))];
          if (!ex || !ey) continue;
          const [dx, dy] = [decodeEntry(ex), decodeEntry(ey)];
          if (dx.term === dy.term && dx.type === dy.type && Buffer.from(dx.data).equals(dy.data)) continue;
          out.push(`${x.id} and ${y.id} hold different committed entries at index ${i} (terms ${dx.term} and ${dy.term}), and neither reports it`);
          break;
        }
      }
    }
    return out;
  }

  /** Checks run after every event. */
  afterEvent(): void {
    if (!this.clients) return;
    for (const o of this.clients.overdue()) this.violations.push(`a promise did not settle in time: ${o}`);
  }

  async run(forMs: number, done?: () => boolean): Promise<boolean> {
    return this.sched.run({ forMs, afterEach: () => this.afterEvent(), ...(done ? { done } : {}) });
  }
}
