// Prometheus metrics of one node (prom-client), served as GET /metrics on its listen address.
// The write path only bumps counters and histograms through the few hooks below; every
// gauge, and the counters the core already keeps (elections, leader changes, the
// transport's refusals), is read once per scrape from one status() and one stats().
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { InvalidArgumentError, type NodeId } from '@conclave/core';
import type { NodeContext } from './node-context.js';
import type { TransportStats } from '@conclave/transport';

/** What a scrape reads of the node: a structural slice of NodeStatus (no import of node.ts). */
export interface MetricsStatus {
  readonly term: number;
  readonly role: string;
  readonly leader: { readonly id: NodeId } | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly electableGroupSize: number;
  readonly electableGroupSizeOverride: number;
  readonly peers: readonly { readonly id: NodeId; readonly lag: number; readonly active: boolean }[];
  readonly counters: { readonly electionsWon: number; readonly electionsLost: number; readonly preVotesRejected: number; readonly leaderChanges: number };
}

export interface MetricsSource {
  readonly id: NodeId;
  status(): MetricsStatus;
  on(event: 'rollback', listener: () => void): unknown;
}

/** What metrics need of the transport: its counters, and a route for GET /metrics. */
export interface MetricsTransport {
  stats(): TransportStats;
  serveHttp(path: string, handler: () => Promise<{ status: number; contentType: string; body: string }>): void;
}

export const METRICS_PATH = '/metrics';

/**
 * Serves GET /metrics for the node (unless `metrics: false`) and gives the write path its
 * hooks. Only a transport that serves HTTP can: the WebSocket transport does.
 */
export function attachMetrics(ctx: NodeContext, source: MetricsSource): void {
  if (!ctx.opts.metrics) return;
  const t = ctx.transport as unknown as Partial<MetricsTransport>;
  if (typeof t.serveHttp !== 'function') throw new InvalidArgumentError('metrics: this transport serves no HTTP; open the node with metrics: false');
  ctx.metrics = new NodeMetrics(source, t as MetricsTransport, () => ctx.clock.nowMs());
}

/** Error codes are a fixed set of stable strings; anything past this many is counted as OTHER. */
const MAX_FAILURE_CODES = 64;
/** Seconds: a commit ack is ~1-50 ms on loopback, up to the ack timeout (5 s) under trouble. */
const COMMIT_ACK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STORAGE_SYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** prom-client's process metrics (CPU, memory, event loop lag, GC): one set per process, however many nodes it runs. */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Sets a counter to a total kept elsewhere (prom-client counters only go up: reset, then add). */
function setTotal<T extends string>(c: Counter<T>, value: number, labels?: Partial<Record<T, string>>): void {
  if (labels) c.inc(labels, Math.max(0, value));
  else c.inc(Math.max(0, value));
}

export class NodeMetrics {
  private readonly own = new Registry();
  private readonly registry: Registry;
  private readonly committed: Counter;
  private readonly failed: Counter<'code'>;
  private readonly commitAck: Histogram;
  private readonly storageSync: Histogram;
  private readonly snapshotInstalls: Counter;
  private readonly rollbacks: Counter;
  private readonly failureCodes = new Set<string>();
  /** One status() and one stats() per scrape, shared by every metric's collect. */
  private scrape: { status: MetricsStatus; transport: TransportStats } | null = null;

  constructor(
    private readonly source: MetricsSource,
    private readonly transport: MetricsTransport,
    /** The node's monotonic clock (seams.ts): latencies in ms. */
    private readonly nowMs: () => number,
  ) {
    const r = [this.own];
    const view = () => this.view();
    const gauge = (name: string, help: string, read: (s: MetricsStatus) => number) =>
      new Gauge({ name, help, registers: r, collect() { this.set(read(view().status)); } });
    gauge('conclave_has_leader', '1 if this node knows a leader of its current term', (s) => (s.leader ? 1 : 0));
    gauge('conclave_is_leader', '1 if this node is the leader', (s) => (s.role === 'leader' ? 1 : 0));
    gauge('conclave_term', 'current Raft term', (s) => s.term);
    gauge('conclave_commit_index', 'highest log index known committed', (s) => s.commitIndex);
    gauge('conclave_applied_index', 'highest log index applied to the state machine', (s) => s.appliedIndex);
    gauge('conclave_electable_group_size', 'E: electable members of the group', (s) => s.electableGroupSize);
    gauge('conclave_electable_group_size_override', "this node's ELECTABLE_GROUP_SIZE_OVERRIDE (0 = off); JE HA: must not stay set", (s) => s.electableGroupSizeOverride);
    new Gauge<'peer'>({
      name: 'conclave_peer_lag_entries', help: "leader only: log entries each member is behind the leader's last index", labelNames: ['peer'], registers: r,
      collect() {
        this.reset();
        for (const p of view().status.peers) this.set({ peer: p.id }, p.lag);
      },
    });
    new Gauge<'peer'>({
      name: 'conclave_peer_active', help: 'leader: 1 if the member answered within an election timeout; elsewhere: 1 if the link to it is up', labelNames: ['peer'], registers: r,
      collect() {
        this.reset();
        const st = view();
        if (st.status.role === 'leader') for (const p of st.status.peers) this.set({ peer: p.id }, p.active ? 1 : 0);
        else for (const [id, p] of Object.entries(st.transport.peers)) this.set({ peer: id }, p.connected ? 1 : 0);
      },
    });
    new Counter({
      name: 'conclave_leader_changes_total', help: 'times this node saw the leader change', registers: r,
      collect() { this.reset(); setTotal(this, view().status.counters.leaderChanges); },
    });
    new Counter<'result'>({
      name: 'conclave_elections_total', help: "this node's elections by result (won, lost, prevote_rejected)", labelNames: ['result'], registers: r,
      collect() {
        this.reset();
        const c = view().status.counters;
        setTotal(this, c.electionsWon, { result: 'won' });
        setTotal(this, c.electionsLost, { result: 'lost' });
        setTotal(this, c.preVotesRejected, { result: 'prevote_rejected' });
      },
    });
    new Counter<'cause'>({
      name: 'conclave_transport_frames_refused_total', help: 'frames and connections the transport refused, by cause', labelNames: ['cause'], registers: r,
      collect() {
        this.reset();
        const t = view().transport;
        setTotal(this, t.malformedFrames, { cause: 'malformed' });
        setTotal(this, t.invalidMessages, { cause: 'invalid_message' });
        setTotal(this, t.oversizedFrames, { cause: 'oversized' });
        setTotal(this, t.adminAuthFailures, { cause: 'admin_auth' });
        for (const [cause, n] of Object.entries(t.handshakeRejects)) setTotal(this, n, { cause: `handshake_${cause}` });
      },
    });
    new Counter<'cause'>({
      name: 'conclave_transport_messages_dropped_total', help: 'outgoing messages the transport dropped, by cause', labelNames: ['cause'], registers: r,
      collect() {
        this.reset();
        const t = view().transport;
        setTotal(this, t.droppedQueueFull, { cause: 'queue_full' });
        setTotal(this, t.droppedPeerDown, { cause: 'peer_down' });
        setTotal(this, t.droppedUnknownPeer, { cause: 'unknown_peer' });
        setTotal(this, t.droppedTooLarge, { cause: 'too_large' });
      },
    });
    this.committed = new Counter({ name: 'conclave_proposals_committed_total', help: 'writes this leader proposed that committed under their ack policy', registers: r });
    this.failed = new Counter({ name: 'conclave_proposals_failed_total', help: 'writes this leader took that failed, by error code', labelNames: ['code'], registers: r });
    this.commitAck = new Histogram({ name: 'conclave_commit_ack_seconds', help: 'leader: from taking a write to its ack (commit under the ack policy, and localSync)', buckets: COMMIT_ACK_BUCKETS, registers: r });
    this.storageSync = new Histogram({ name: 'conclave_storage_sync_seconds', help: 'time to persist one Ready (log entries and hard state; fsync under syncPolicy sync)', buckets: STORAGE_SYNC_BUCKETS, registers: r });
    this.snapshotInstalls = new Counter({ name: 'conclave_snapshot_installs_total', help: 'snapshots from the leader installed here', registers: r });
    this.rollbacks = new Counter({ name: 'conclave_rollbacks_total', help: 'rollbacks of diverged committed writes this node carried out', registers: r });
    source.on('rollback', () => this.rollbacks.inc());
    this.registry = Registry.merge([this.own, processMetrics()]);
    transport.serveHttp(METRICS_PATH, () => this.render());
  }

  private view(): { status: MetricsStatus; transport: TransportStats } {
    this.scrape ??= { status: this.source.status(), transport: this.transport.stats() };
    return this.scrape;
  }

  /** The Prometheus text exposition of this node and its process. */
  async render(): Promise<{ status: number; contentType: string; body: string }> {
    this.scrape = null;
    try {
      const body = await this.registry.metrics();
      return { status: 200, contentType: this.registry.contentType, body };
    } finally {
      this.scrape = null;
    }
  }

  // ---------------------------------------------------------------- hooks the node calls

  /** Times one write on the leader (proposeLocal) and counts its outcome. */
  async proposal<T>(write: () => Promise<T>): Promise<T> {
    const startMs = this.nowMs();
    try {
      const r = await write();
      this.committed.inc();
      this.commitAck.observe((this.nowMs() - startMs) / 1000);
      return r;
    } catch (err) {
      this.failed.inc({ code: this.failureCode(err) });
      throw err;
    }
  }

  /** Times one persist of a Ready (storage.writeReady). */
  async storageWrite<T>(write: Promise<T>): Promise<T> {
    const startMs = this.nowMs();
    const r = await write;
    this.storageSync.observe((this.nowMs() - startMs) / 1000);
    return r;
  }

  snapshotInstalled(): void {
    this.snapshotInstalls.inc();
  }

  private failureCode(err: unknown): string {
    const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'UNKNOWN';
    if (this.failureCodes.has(code)) return code;
    if (this.failureCodes.size >= MAX_FAILURE_CODES) return 'OTHER';
    this.failureCodes.add(code);
    return code;
  }
}
