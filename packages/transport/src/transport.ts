// The Transport: one per node. Owns the listening server, one outgoing PeerLink per peer,
// the inbound peer and admin connections, the fault hook and the counters.
import { EventEmitter } from 'node:events';
import { checkId, InvalidArgumentError, type Message, type NodeId, type SnapshotMeta } from '@conclave/core';
import type { WebSocket } from 'ws';
import { AdminServerConnection, type AdminHandler } from './admin.js';
import { isLoopbackHost, parseHostPort, type HostPort } from './address.js';
import { MessageEncoder } from './codec.js';
import { CloseCode, DEFAULTS } from './constants.js';
import { ListenError, SnapshotStreamError, TransportClosedError } from './errors.js';
import { FaultInjector } from './faults.js';
import { ReplayCache } from './handshake.js';
import { HttpRoutes, type HttpHandler } from './http.js';
import { InboundPeerConnection, type SnapshotHandler } from './inbound.js';
import { PeerLink, type LinkConfig, type UnreachableReason } from './link.js';
import { toRandomSource, type RandomSource } from './random.js';
import { NodeServer, type Sweepable } from './server.js';
import { Lingering } from './sockets.js';
import { copyCounters, newCounters, type Counters, type PeerStats, type TransportStats } from './stats.js';
import { loadTls, type TlsFiles } from './tls.js';
import { messageProblem, snapshotMetaProblem } from './validate.js';

export interface TransportOptions {
  /** This node's id: 1-64 characters of [A-Za-z0-9_.-]. */
  readonly id: NodeId;
  readonly groupId: string;
  /** HOST:PORT to listen on. Port 0 picks a free port (read it back from `listenAddress`). */
  readonly listen: string;
  /** Every member's HOST:PORT; this node's own entry, if present, is ignored. */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** Cluster secret (at least 16 bytes) for the peer handshake. Required unless `listen` is loopback. */
  readonly secret?: string | Uint8Array;
  /** Admin credential for /admin (at least 16 bytes). Without it, /admin is open on loopback and disabled elsewhere. */
  readonly adminSecret?: string | Uint8Array;
  /** Serve and dial wss://; peers are verified against `caFile`. All nodes must agree. */
  readonly tls?: TlsFiles;
  /** Largest frame accepted (ws maxPayload) and sent. Default 16 MiB. */
  readonly maxPayloadBytes?: number;
  /** Per-peer bound on queued encoded bytes; past it, messages are dropped. Default 32 MiB. */
  readonly maxQueueBytes?: number;
  /** Per-peer bound on queued messages. Default 8192. */
  readonly maxQueueMessages?: number;
  /** Per-peer bytes handed to the socket and not yet written. Default 1 MiB. */
  readonly maxInFlightBytes?: number;
  /** Batched frames are sealed at about this size. Default 256 KiB. */
  readonly frameTargetBytes?: number;
  /** Ping period on each outgoing link. Default 500. */
  readonly heartbeatIntervalMs?: number;
  /** A link with no pong (or inbound connection with no ping) for this long is dead. Default 2000; at least 2x the interval. */
  readonly heartbeatTimeoutMs?: number;
  /** Deadline for connect + handshake, both directions. Default 5000. */
  readonly handshakeTimeoutMs?: number;
  /** An admin connection with nothing pending and no frame for this long is closed. Default 60000. */
  readonly adminIdleTimeoutMs?: number;
  /** First reconnect delay ceiling; doubles per failure. Default 50. */
  readonly reconnectBaseMs?: number;
  /** Reconnect delay cap. Default 2000. */
  readonly reconnectMaxMs?: number;
  /** Inbound connections (peer and admin) accepted at once. Default 256. */
  readonly maxConnections?: number;
  /** Connections not yet authenticated, at once: in total, and from one remote address. */
  readonly maxUnauthenticated?: number;
  readonly maxUnauthenticatedPerAddress?: number;
  /** Snapshot data is cut into frames of at most this many bytes. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
  /** Receiver credit: bytes of one stream buffered and not yet consumed. Default 4 MiB. */
  readonly snapshotWindowBytes?: number;
  /** A snapshot stream that makes no progress for this long fails. Default 15000. */
  readonly snapshotStallTimeoutMs?: number;
  /** Random source (or seed) for the fault hook. Default Math.random. */
  readonly faultRandom?: RandomSource | number;
  /** Random source (or seed) for reconnect jitter. Default Math.random. */
  readonly random?: RandomSource | number;
  /** false: the listening socket and the server's sweep timer do not keep the process alive (connections and links do, while open). Default true. */
  readonly keepProcessAlive?: boolean;
}

export interface TransportEvents {
  /** The peer cannot be reached (connect failed, link lost, handshake refused) or its queue is full. Raised once per episode. */
  unreachable: [peer: NodeId, reason: UnreachableReason];
  /** The outgoing link to the peer completed its handshake. */
  peerConnected: [peer: NodeId];
  /** The outgoing link to the peer, once open, was lost. */
  peerDisconnected: [peer: NodeId, reason: string];
  /** An onMessage or onSnapshot handler threw; the transport carried on. */
  handlerError: [error: unknown];
}

export type MessageHandler = (msg: Message) => void;

const MIN_SECRET_BYTES = 16;

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function secretOption(name: string, value: string | Uint8Array | undefined): Buffer | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new InvalidArgumentError(`${name} must be a string or bytes`);
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  if (bytes.length < MIN_SECRET_BYTES) throw new InvalidArgumentError(`${name} must be at least ${MIN_SECRET_BYTES} bytes`);
  return bytes;
}

function parsePeers(selfId: NodeId, peers: Readonly<Record<NodeId, string>>): Map<NodeId, HostPort> {
  if (typeof peers !== 'object' || peers === null) throw new InvalidArgumentError('peers must be an object of id -> HOST:PORT');
  const out = new Map<NodeId, HostPort>();
  for (const [id, address] of Object.entries(peers)) {
    checkId(id, 'peer id');
    // Our own entry is never dialled (it may be port 0: see listen).
    if (id === selfId) continue;
    out.set(id, parseHostPort(address, `address of peer ${id}`));
  }
  return out;
}

/**
 * WebSocket transport for one node. Messages go out on this node's own link to each peer
 * and come in on the links peers open to it. See the package README for the protocol,
 * the close codes and the bounds.
 */
export class Transport extends EventEmitter<TransportEvents> {
  readonly id: NodeId;
  readonly groupId: string;
  /** The fault-injection hook (drop, delay, duplicate, partition). */
  readonly faults: FaultInjector;
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private closing: Promise<void> | null = null;
  private listening: Promise<void> | null = null;
  private peers: Map<NodeId, HostPort>;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Map<NodeId, InboundPeerConnection>();
  private readonly counters: Counters = newCounters();
  private readonly lingering = new Lingering();
  private readonly encoder = new MessageEncoder();
  private readonly replay = new ReplayCache();
  private readonly adminHandlers = new Map<string, AdminHandler>();
  private readonly server: NodeServer;
  private readonly linkConfig: LinkConfig;
  private readonly random: RandomSource;
  private readonly secret: Buffer | null;
  private readonly adminSecret: Buffer | null;
  private readonly adminEnabled: boolean;
  private readonly snapshotWindowBytes: number;
  private readonly handshakeTimeoutMs: number;
  private readonly adminIdleTimeoutMs: number;
  private readonly heartbeatTimeoutMs: number;
  private messageHandler: MessageHandler | null = null;
  private snapshotHandlerFn: SnapshotHandler | null = null;
  private readonly listenText: string;
  private readonly http: HttpRoutes;

  constructor(options: TransportOptions) {
    super();
    const o = options;
    checkId(o?.id, 'id');
    if (typeof o.groupId !== 'string' || o.groupId.length === 0) throw new InvalidArgumentError('groupId must be a non-empty string');
    const listen = parseHostPort(o.listen, 'listen address', { allowPortZero: true });
    this.secret = secretOption('secret', o.secret);
    this.adminSecret = secretOption('adminSecret', o.adminSecret);
    const loopback = isLoopbackHost(listen.host);
    if (!this.secret && !loopback) {
      throw new InvalidArgumentError(`a secret is required to listen on ${o.listen}, which is not a loopback address`);
    }
    this.adminEnabled = loopback || this.adminSecret !== null;
    this.http = new HttpRoutes({ adminSecret: this.adminSecret, enabled: this.adminEnabled, authFailed: () => this.counters.adminAuthFailures++ });
    this.id = o.id;
    this.groupId = o.groupId;
    this.listenText = o.listen;
    this.peers = parsePeers(o.id, o.peers);
    const tls = o.tls ? loadTls(o.tls) : null;

    const maxPayloadBytes = positiveInt('maxPayloadBytes', o.maxPayloadBytes, DEFAULTS.maxPayloadBytes);
    const heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', o.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs);
    const heartbeatTimeoutMs = positiveInt('heartbeatTimeoutMs', o.heartbeatTimeoutMs, Math.max(DEFAULTS.heartbeatTimeoutMs, 2 * heartbeatIntervalMs));
    if (heartbeatTimeoutMs < 2 * heartbeatIntervalMs) {
      throw new InvalidArgumentError(`heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be at least twice heartbeatIntervalMs (${heartbeatIntervalMs})`);
    }
    const reconnectBaseMs = positiveInt('reconnectBaseMs', o.reconnectBaseMs, DEFAULTS.reconnectBaseMs);
    const reconnectMaxMs = positiveInt('reconnectMaxMs', o.reconnectMaxMs, DEFAULTS.reconnectMaxMs);
    if (reconnectMaxMs < reconnectBaseMs) throw new InvalidArgumentError('reconnectMaxMs must be at least reconnectBaseMs');
    this.handshakeTimeoutMs = positiveInt('handshakeTimeoutMs', o.handshakeTimeoutMs, DEFAULTS.handshakeTimeoutMs);
    this.adminIdleTimeoutMs = positiveInt('adminIdleTimeoutMs', o.adminIdleTimeoutMs, DEFAULTS.adminIdleTimeoutMs);
    this.heartbeatTimeoutMs = heartbeatTimeoutMs;
    this.snapshotWindowBytes = positiveInt('snapshotWindowBytes', o.snapshotWindowBytes, DEFAULTS.snapshotWindowBytes);
    this.linkConfig = {
      selfId: o.id,
      groupId: o.groupId,
      secret: this.secret,
      tlsCa: tls?.ca ?? null,
      maxPayloadBytes,
      maxQueueBytes: positiveInt('maxQueueBytes', o.maxQueueBytes, DEFAULTS.maxQueueBytes),
      maxQueueMessages: positiveInt('maxQueueMessages', o.maxQueueMessages, DEFAULTS.maxQueueMessages),
      maxInFlightBytes: positiveInt('maxInFlightBytes', o.maxInFlightBytes, DEFAULTS.maxInFlightBytes),
      frameTargetBytes: Math.min(maxPayloadBytes, positiveInt('frameTargetBytes', o.frameTargetBytes, DEFAULTS.frameTargetBytes)),
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      reconnectBaseMs,
      reconnectMaxMs,
      snapshotChunkBytes: Math.min(maxPayloadBytes - 5, positiveInt('snapshotChunkBytes', o.snapshotChunkBytes, DEFAULTS.snapshotChunkBytes)),
      snapshotStallTimeoutMs: positiveInt('snapshotStallTimeoutMs', o.snapshotStallTimeoutMs, DEFAULTS.snapshotStallTimeoutMs),
    };
    if (this.linkConfig.snapshotChunkBytes <= 0) throw new InvalidArgumentError('maxPayloadBytes is too small to carry snapshot chunks');
    this.faults = new FaultInjector(o.faultRandom);
    this.random = toRandomSource(o.random);
    this.server = new NodeServer(
      {
        listen,
        tls,
        maxPayloadBytes,
        maxConnections: positiveInt('maxConnections', o.maxConnections, DEFAULTS.maxConnections),
        maxUnauthenticated: positiveInt('maxUnauthenticated', o.maxUnauthenticated, DEFAULTS.maxUnauthenticated),
        maxUnauthenticatedPerAddress: positiveInt('maxUnauthenticatedPerAddress', o.maxUnauthenticatedPerAddress, DEFAULTS.maxUnauthenticatedPerAddress),
        sweepIntervalMs: Math.min(heartbeatIntervalMs, 1000),
        keepProcessAlive: o.keepProcessAlive !== false,
      },
      {
        counters: this.counters,
        peerSocket: (ws) => this.acceptPeer(ws),
        adminSocket: (ws) => this.acceptAdmin(ws),
        isKnownPeer: (id) => this.peers.has(id),
        knownPeerCount: () => this.peers.size,
        httpRequest: (req, res) => this.http.handle(req, res),
      },
    );
  }

  /** Listens, then starts dialling every peer. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new InvalidArgumentError(`start() on a transport that is ${this.state}`);
    this.state = 'starting';
    this.listening = this.server.listen();
    try {
      await this.listening;
    } catch (err) {
      this.state = 'closed';
      throw new ListenError(this.listenText, err);
    }
    if (this.state !== 'starting') return; // close() was called meanwhile and shuts the server
    this.state = 'started';
    for (const [id, address] of this.peers) this.addLink(id, address);
  }

  /** The address actually bound (after start()), e.g. with the port chosen for port 0. */
  get listenAddress(): string {
    return this.server.address;
  }

  /**
   * Serves GET `path` (e.g. /metrics) on the listening port, behind the admin endpoint's rule:
   * the admin secret as a bearer token when set; open on loopback without one.
   */
  serveHttp(path: string, handler: HttpHandler): void {
    this.http.add(path, handler);
  }

  /** Sets the one handler for incoming Messages. Called synchronously, in arrival order per peer. */
  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  /** Sets the one handler for incoming snapshot streams; resolve once staged, throw to fail the stream. */
  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandlerFn = handler;
  }

  /**
   * Queues `msg` for `msg.to`; everything sent in one turn of the event loop leaves in one
   * frame. Returns false if the transport dropped it (unknown peer, link down, queue
   * full, too large, or closed); fault-hook drops return true, like a lossy network.
   * Throws InvalidArgumentError for a malformed message or one not `from` this node.
   */
  send(msg: Message): boolean {
    if (this.state !== 'started') {
      this.counters.droppedPeerDown++;
      return false;
    }
    const problem = messageProblem(msg, this.id, undefined, false);
    if (problem) throw new InvalidArgumentError(`cannot send an invalid message: ${problem}`);
    const link = this.links.get(msg.to);
    if (!link) {
      this.counters.droppedUnknownPeer++;
      return false;
    }
    const fate = this.faults.decide(this.id, msg.to);
    if (fate.dropped) {
      this.counters.droppedByFault[fate.dropped]++;
      return true;
    }
    if (fate.delaysMs.length > 1) this.counters.duplicatedByFault++;
    const encoded = this.encoder.encode(msg);
    let queued = false;
    for (const delayMs of fate.delaysMs) queued = link.enqueue(encoded, delayMs) || queued;
    return queued;
  }

  /**
   * Streams a snapshot to `to` with flow control, resolving once the receiver's handler has
   * consumed every chunk and returned. Rejects with SnapshotStreamError if the peer is not
   * connected, refuses, fails, stalls, or the connection drops.
   */
  async sendSnapshot(to: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.state !== 'started') throw new TransportClosedError(`cannot send a snapshot: the transport is ${this.state}`);
    const problem = snapshotMetaProblem(meta);
    if (problem) throw new InvalidArgumentError(`cannot send a snapshot: ${problem}`);
    const link = this.links.get(to);
    if (!link) throw new SnapshotStreamError(to, `cannot send a snapshot to ${to}: not a peer`);
    if (this.faults.isPartitioned(this.id, to)) {
      this.counters.snapshotsFailed++;
      throw new SnapshotStreamError(to, `cannot send a snapshot to ${to}: partitioned by the fault hook`);
    }
    return link.sendSnapshot(meta, chunks);
  }

  /** Membership change: dial new peers, drop removed ones (and their inbound connections), redial moved ones. */
  setPeers(peers: Readonly<Record<NodeId, string>>): void {
    const next = parsePeers(this.id, peers);
    this.peers = next;
    if (this.state !== 'started') return;
    for (const [id, link] of this.links) {
      if (next.has(id)) continue;
      link.close();
      this.links.delete(id);
      this.inbound.get(id)?.close(CloseCode.UnknownNode, 'removed from the peer set');
    }
    for (const [id, address] of next) {
      const link = this.links.get(id);
      if (!link) this.addLink(id, address);
      else if (link.addressValue.host !== address.host || link.addressValue.port !== address.port) link.setAddress(address);
    }
  }

  /** Registers the handler for admin `method`. Throws if one is already registered. */
  registerAdminHandler(method: string, handler: AdminHandler): void {
    if (typeof method !== 'string' || method.length === 0) throw new InvalidArgumentError('admin method must be a non-empty string');
    if (typeof handler !== 'function') throw new InvalidArgumentError('admin handler must be a function');
    if (this.adminHandlers.has(method)) throw new InvalidArgumentError(`admin method '${method}' already has a handler`);
    this.adminHandlers.set(method, handler);
  }

  unregisterAdminHandler(method: string): void {
    this.adminHandlers.delete(method);
  }

  /** A snapshot of the counters and of each peer's link. */
  stats(): TransportStats {
    const peers: Record<NodeId, PeerStats> = {};
    for (const [id, link] of this.links) peers[id] = { ...link.peerStats(), inboundConnected: this.inbound.has(id) };
    return { ...copyCounters(this.counters), peers };
  }

  /** Closes every link and connection and the listener; resolves when no socket or timer is left. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.state = 'closed';
    // A close() during start() waits for the listener, so it can shut it.
    await this.listening?.catch(() => {});
    for (const link of this.links.values()) link.close();
    this.links.clear();
    const serverClosed = this.server.close(CloseCode.GoingAway, 'shutting down');
    await this.lingering.drain(500);
    this.lingering.terminateAll();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([serverClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    this.inbound.clear();
  }

  // --- internals ------------------------------------------------------------------------

  private addLink(id: NodeId, address: HostPort): void {
    const link = new PeerLink(id, address, {
      config: this.linkConfig,
      counters: this.counters,
      lingering: this.lingering,
      random: this.random,
      linkOpened: (peer) => this.emitLater('peerConnected', peer),
      linkClosed: (peer, reason) => this.emitLater('peerDisconnected', peer, reason),
      unreachable: (peer, reason) => this.emitLater('unreachable', peer, reason),
    });
    this.links.set(id, link);
    link.start();
  }

  /** Events leave after the current call stack, so a listener never runs inside send(). */
  private emitLater<K extends keyof TransportEvents>(event: K, ...args: TransportEvents[K]): void {
    queueMicrotask(() => {
      if (this.state === 'closed') return;
      try {
        (this.emit as (e: K, ...a: TransportEvents[K]) => boolean)(event, ...args);
      } catch (err) {
        this.counters.handlerErrors++;
        if (event !== 'handlerError') this.emitLater('handlerError', err);
      }
    });
  }

  private acceptPeer(ws: WebSocket): Sweepable {
    const conn: InboundPeerConnection = new InboundPeerConnection(ws, {
      selfId: this.id,
      groupId: this.groupId,
      secret: this.secret,
      snapshotWindowBytes: this.snapshotWindowBytes,
      counters: this.counters,
      lingering: this.lingering,
      replay: this.replay,
      faults: this.faults,
      isKnownPeer: (id) => this.peers.has(id),
      authenticated: (c) => {
        this.server.authenticated(c.ws);
        const old = this.inbound.get(c.peer!);
        if (old && old !== c) {
          this.counters.superseded++;
          old.close(CloseCode.Superseded, 'superseded by a newer connection from the same peer');
        }
        this.inbound.set(c.peer!, c);
      },
      closed: (c) => {
        if (c.peer && this.inbound.get(c.peer) === c) this.inbound.delete(c.peer);
      },
      deliver: (msg) => this.deliver(msg),
      snapshotHandler: () => this.snapshotHandlerFn,
    });
    return {
      sweep: (now) => conn.sweep(now, this.handshakeTimeoutMs, this.heartbeatTimeoutMs),
      close: (code, reason) => conn.close(code, reason),
    };
  }

  private acceptAdmin(ws: WebSocket): Sweepable {
    const conn = new AdminServerConnection(ws, {
      counters: this.counters,
      lingering: this.lingering,
      adminSecret: this.adminSecret,
      adminEnabled: this.adminEnabled,
      handler: (method) => this.adminHandlers.get(method),
      authenticated: (c) => this.server.authenticated(c.ws),
      closed: () => {},
    });
    return {
      sweep: (now) => conn.sweep(now, this.handshakeTimeoutMs, this.adminIdleTimeoutMs),
      close: (code, reason) => conn.close(code, reason),
    };
  }

  private deliver(msg: Message): void {
    const handler = this.messageHandler;
    if (!handler) return;
    try {
      handler(msg);
    } catch (err) {
      this.counters.handlerErrors++;
      this.emitLater('handlerError', err);
    }
  }
}
