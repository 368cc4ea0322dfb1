// The driver's network seam over the simulated network: a peer transport per node
// incarnation (Raft messages, snapshot streams, admin handlers) and admin connections
// for write forwarding, joining and status. Every message reaches the receiver as a copy,
// as over a socket (wire-copy.ts: what msgpack's round trip gives): the receiver never
// shares an object with the sender, and the frame limit holds. Raft messages take the network's faults; snapshot streams
// and admin requests ride a connection: lost only to a partition (then they time out) or
// a dead process (then the connection drops at once).
import { EventEmitter } from 'node:events';
import type { Message, NodeId, SnapshotMeta } from '@conclave/core';
import {
  AdminConnectionError,
  AdminRemoteError,
  AdminTimeoutError,
  DEFAULTS,
  FaultInjector,
  type AdminConnectOptions,
  type AdminHandler,
  type AdminRequestOptions,
  type SnapshotHandler,
  type TransportOptions,
  type UnreachableReason,
} from '@conclave/transport';
import type { Scheduler } from './scheduler.js';
import type { SimClock } from './sim-clock.js';
import { SimNetwork, type NetProfile } from './sim-network.js';
import { wireCopy, wireSize } from './wire-copy.js';

type Envelope =
  | { k: 'raft'; msg: Message }
  | { k: 'snap'; stream: number; meta: SnapshotMeta; chunks: Uint8Array[] }
  | { k: 'snap-done'; stream: number; error: string | null }
  | { k: 'rpc'; conn: number; id: number; method: string; params: unknown; deadline: number }
  | { k: 'rpc-res'; conn: number; id: number; ok: boolean; result?: unknown; code?: string; message?: string; data?: Record<string, unknown> };

/** A node incarnation as the wire knows it. */
interface Station {
  readonly id: NodeId;
  readonly owner: string;
  readonly clock: SimClock;
  transport: SimTransport | null;
  readonly clients: Set<SimAdminClient>;
}

/** Every node's network endpoints, by id and by address, over one SimNetwork. */
export class SimWire {
  readonly net: SimNetwork<Envelope>;
  private readonly stations = new Map<NodeId, Station>();
  private readonly byAddress = new Map<string, NodeId>();
  private nextConn = 1;
  /** Snapshot streams that reached a node (for the tests' "did it exercise that" checks). */
  snapshotsDelivered = 0;
  private readonly connections = new Map<number, SimAdminClient>();

  constructor(
    readonly sched: Scheduler,
    profile: Partial<NetProfile> = {},
  ) {
    this.net = new SimNetwork<Envelope>(sched, {
      maxMessageBytes: DEFAULTS.maxPayloadBytes,
      sizeOf: (e) => wireSize(e, DEFAULTS.maxPayloadBytes),
      // Snapshot chunks are fresh copies already (sendSnapshot copies them out of the stream).
      copy: (e) => (e.k === 'snap' ? e : wireCopy(e)),
      describe: describe,
      profile,
    });
  }

  /** A new incarnation of node `id` at `address`: what it had before is gone. */
  boot(id: NodeId, address: string, owner: string, clock: SimClock): void {
    this.down(id);
    const st: Station = { id, owner, clock, transport: null, clients: new Set() };
    this.stations.set(id, st);
    this.byAddress.set(address, id);
    this.net.attach(id, { owner, deliver: (from, e) => this.deliver(st, from, e) });
  }

  /** The incarnation died: its connections drop, nothing more reaches it. */
  down(id: NodeId): void {
    const st = this.stations.get(id);
    if (!st) return;
    this.stations.delete(id);
    this.net.detach(id);
    for (const c of st.clients) c.drop('the local process exited');
    for (const c of this.connections.values()) if (c.target === id) c.drop(`connection to ${id} reset (the process exited)`);
  }

  alive(id: NodeId): boolean {
    return this.stations.has(id);
  }

  station(id: NodeId): Station | undefined {
    return this.stations.get(id);
  }

  /** The network seam (createTransport, connectAdmin) for the incarnation `id`. */
  seamFor(id: NodeId): { createTransport(o: TransportOptions): SimTransport; connectAdmin(address: string, o: AdminConnectOptions): Promise<SimAdminClient> } {
    return {
      createTransport: (o) => {
        const st = this.stations.get(id);
        if (!st) throw new Error(`node ${id} is not booted on the wire`);
        const t = new SimTransport(this, st, o);
        st.transport = t;
        return t;
      },
      connectAdmin: (address, o) => this.connect(id, address, o),
    };
  }

  private connect(from: NodeId, address: string, o: AdminConnectOptions): Promise<SimAdminClient> {
    const st = this.stations.get(from);
    if (!st) return new Promise(() => {}); // a dead process waits for nothing
    const target = this.byAddress.get(address);
    const timeoutMs = o.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const dest = target === undefined ? undefined : this.stations.get(target);
      if (!dest || !dest.transport?.listening) {
        // Connection refused: nothing listens there (after one round trip).
        st.clock.setTimeout(() => reject(new AdminConnectionError(`connect ECONNREFUSED ${address}`)), 1, 'admin connect refused');
        return;
      }
      if (!this.net.connected(from, dest.id) || !this.net.connected(dest.id, from)) {
        st.clock.setTimeout(() => reject(new AdminTimeoutError(`could not connect to ${address} within ${timeoutMs} ms`)), timeoutMs, 'admin connect timeout');
        return;
      }
      const c = new SimAdminClient(this, st, dest.id, this.nextConn++);
      this.connections.set(c.conn, c);
      st.clients.add(c);
      st.clock.setTimeout(() => (c.closed ? reject(new AdminConnectionError(`connection to ${address} closed`)) : resolve(c)), 1, 'admin connected');
    });
  }

  forget(c: SimAdminClient): void {
    this.connections.delete(c.conn);
  }

  /** Sends for the incarnation `st` only while it is the live one: a dead process sends nothing. */
  send(st: Station, to: NodeId, e: Envelope, reliable: boolean): boolean {
    if (this.stations.get(st.id) !== st) return false;
    return this.net.send(st.id, to, e, { reliable, chunked: e.k === 'snap' });
  }

  private deliver(st: Station, from: NodeId, e: Envelope): void {
    switch (e.k) {
      case 'raft':
        return st.transport?.receive(e.msg);
      case 'snap':
        return st.transport?.receiveSnapshot(from, e);
      case 'snap-done':
        return st.transport?.snapshotDone(e);
      case 'rpc':
        return st.transport?.serve(from, e);
      case 'rpc-res':
        return this.connections.get(e.conn)?.answer(e);
    }
  }
}

function describe(e: Envelope): string {
  switch (e.k) {
    case 'raft': {
      const m = e.msg;
      return `${m.type} t${m.term} i${m.index}${m.entries.length ? ` +${m.entries.length}` : ''}${m.commit ? ` c${m.commit}` : ''}${m.reject ? ' reject' : ''}`;
    }
    case 'snap':
      return `snapshot@${e.meta.index} (${e.chunks.length} chunks)`;
    case 'snap-done':
      return `snapshot done${e.error ? `: ${e.error}` : ''}`;
    case 'rpc':
      return `rpc ${e.method}`;
    case 'rpc-res':
      return `rpc answer ${e.ok ? 'ok' : e.code}`;
  }
}

/** A node's peer transport (the seam's PeerTransport). */
export class SimTransport extends EventEmitter {
  readonly listenAddress: string;
  readonly faults = new FaultInjector(0);
  listening = false;
  private closed = false;
  private peers: Record<NodeId, string>;
  private messageHandler: ((m: Message) => void) | null = null;
  private snapshotHandler: SnapshotHandler | null = null;
  private readonly adminHandlers = new Map<string, AdminHandler>();
  /** Peers reported unreachable and not heard of since. */
  private readonly unreachable = new Set<NodeId>();
  private readonly maxPayloadBytes: number;
  private nextStream = 1;
  private readonly streams = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(
    private readonly wire: SimWire,
    private readonly st: Station,
    o: TransportOptions,
  ) {
    super();
    this.listenAddress = o.listen;
    this.peers = { ...o.peers };
    this.maxPayloadBytes = o.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes;
  }

  async start(): Promise<void> {
    this.listening = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    for (const s of this.streams.values()) s.reject(new Error('transport closed'));
    this.streams.clear();
  }

  onMessage(handler: (m: Message) => void): void {
    this.messageHandler = handler;
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  setPeers(peers: Readonly<Record<NodeId, string>>): void {
    this.peers = { ...peers };
  }

  registerAdminHandler(method: string, handler: AdminHandler): void {
    this.adminHandlers.set(method, handler);
  }

  unregisterAdminHandler(method: string): void {
    this.adminHandlers.delete(method);
  }

  stats(): { peers: Record<NodeId, { connected: boolean; inboundConnected: boolean }> } {
    const peers: Record<NodeId, { connected: boolean; inboundConnected: boolean }> = {};
    for (const id of Object.keys(this.peers)) {
      if (id === this.st.id) continue;
      const up = this.wire.alive(id);
      peers[id] = { connected: up && this.wire.net.connected(this.st.id, id), inboundConnected: up && this.wire.net.connected(id, this.st.id) };
    }
    return { peers };
  }

  send(msg: Message): boolean {
    if (this.closed) return false;
    const to = msg.to;
    if (!(to in this.peers) || to === this.st.id) return false;
    const e: Envelope = { k: 'raft', msg };
    if (wireSize(e, this.maxPayloadBytes) > this.maxPayloadBytes) {
      this.reportUnreachable(to, 'tooLarge');
      return false;
    }
    if (!this.wire.alive(to) || !this.wire.net.connected(this.st.id, to)) {
      this.reportUnreachable(to, this.wire.alive(to) ? 'heartbeatTimeout' : 'connectFailed');
      return false;
    }
    this.unreachable.delete(to);
    return this.wire.send(this.st, to, e, false);
  }

  /** Once per episode, never inside send(). */
  private reportUnreachable(peer: NodeId, reason: UnreachableReason): void {
    if (reason !== 'tooLarge' && this.unreachable.has(peer)) return;
    this.unreachable.add(peer);
    this.st.clock.setImmediate(() => {
      if (!this.closed) this.emit('unreachable', peer, reason);
    });
  }

  receive(msg: Message): void {
    if (this.closed || !this.messageHandler) return;
    try {
      this.messageHandler(msg);
    } catch (err) {
      this.emit('handlerError', err);
    }
  }

  async sendSnapshot(to: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.closed) throw new Error('transport closed');
    const all: Uint8Array[] = [];
    for await (const c of chunks) all.push(Buffer.from(c));
    if (!this.wire.alive(to) || !this.wire.net.connected(this.st.id, to)) throw new Error(`peer ${to} cannot be reached`);
    const stream = this.nextStream++;
    return new Promise<void>((resolve, reject) => {
      const timer = this.st.clock.setTimeout(
        () => {
          this.streams.delete(stream);
          reject(new Error(`snapshot to ${to} stalled for ${DEFAULTS.snapshotStallTimeoutMs} ms`));
        },
        DEFAULTS.snapshotStallTimeoutMs,
        'snapshot stall',
      );
      this.streams.set(stream, {
        resolve: () => {
          this.st.clock.clear(timer);
          resolve();
        },
        reject: (e) => {
          this.st.clock.clear(timer);
          reject(e);
        },
      });
      this.wire.send(this.st, to, { k: 'snap', stream, meta, chunks: all }, true);
    });
  }

  receiveSnapshot(from: NodeId, e: { stream: number; meta: SnapshotMeta; chunks: Uint8Array[] }): void {
    if (this.closed || !this.snapshotHandler) return;
    this.wire.snapshotsDelivered++;
    async function* stream(): AsyncGenerator<Uint8Array> {
      for (const c of e.chunks) yield c;
    }
    this.snapshotHandler(from, e.meta, stream()).then(
      () => this.wire.send(this.st, from, { k: 'snap-done', stream: e.stream, error: null }, true),
      (err: unknown) => this.wire.send(this.st, from, { k: 'snap-done', stream: e.stream, error: (err as Error)?.message ?? String(err) }, true),
    );
  }

  snapshotDone(e: { stream: number; error: string | null }): void {
    const s = this.streams.get(e.stream);
    if (!s) return;
    this.streams.delete(e.stream);
    if (e.error === null) s.resolve();
    else s.reject(new Error(`the peer refused the snapshot: ${e.error}`));
  }

  /** Runs an admin request from another node's client and sends the answer back. */
  serve(from: NodeId, e: { conn: number; id: number; method: string; params: unknown; deadline: number }): void {
    if (this.closed) return;
    const reply = (r: Omit<Extract<Envelope, { k: 'rpc-res' }>, 'k' | 'conn' | 'id'>): void => {
      this.wire.send(this.st, from, { k: 'rpc-res', conn: e.conn, id: e.id, ...r }, true);
    };
    const handler = this.adminHandlers.get(e.method);
    if (!handler) return reply({ ok: false, code: 'UNKNOWN_METHOD', message: `unknown method ${e.method}` });
    const ac = new AbortController();
    const left = e.deadline - this.st.clock.wallNowMs();
    const timer = this.st.clock.setTimeout(() => ac.abort(), Math.max(0, left), 'admin deadline');
    Promise.resolve()
      .then(() => handler(e.params, { signal: ac.signal, deadline: e.deadline }))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => {
          const x = err as { code?: unknown; message?: unknown };
          const data: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(err as object)) if (k !== 'code' && k !== 'message' && k !== 'stack' && (v === null || typeof v !== 'object')) data[k] = v;
          reply({ ok: false, code: typeof x?.code === 'string' ? x.code : 'INTERNAL', message: String(x?.message ?? err), data });
        },
      )
      .finally(() => this.st.clock.clear(timer));
  }
}

/** An admin connection from one node to another (the seam's LeaderRpcClient). */
export class SimAdminClient {
  closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: unknown }>();

  constructor(
    private readonly wire: SimWire,
    private readonly st: Station,
    readonly target: NodeId,
    readonly conn: number,
  ) {}

  request(method: string, params: unknown, options: AdminRequestOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new AdminConnectionError('connection closed'));
    const timeoutMs = options.timeoutMs ?? 5000;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = this.st.clock.setTimeout(
        () => {
          this.pending.delete(id);
          reject(new AdminTimeoutError(`${method} to ${this.target} timed out after ${timeoutMs} ms`));
        },
        timeoutMs,
        `rpc ${method} timeout`,
      );
      this.pending.set(id, { resolve, reject, timer });
      // A request across a partition is lost (the connection stalls), and then it times out.
      this.wire.send(this.st, this.target, { k: 'rpc', conn: this.conn, id, method, params, deadline: this.st.clock.wallNowMs() + timeoutMs }, true);
    });
  }

  answer(e: { id: number; ok: boolean; result?: unknown; code?: string; message?: string; data?: Record<string, unknown> }): void {
    const p = this.pending.get(e.id);
    if (!p) return;
    this.pending.delete(e.id);
    this.st.clock.clear(p.timer);
    if (e.ok) p.resolve(e.result);
    else p.reject(new AdminRemoteError(e.code ?? 'INTERNAL', e.message ?? '', e.data ?? {}));
  }

  /** The connection broke: every pending request may or may not have run. */
  drop(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.wire.forget(this);
    this.st.clients.delete(this);
    for (const p of this.pending.values()) {
      this.st.clock.clear(p.timer);
      p.reject(new AdminConnectionError(why));
    }
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.drop('closed');
  }
}
