// The node's one listening port: an HTTP(S) server whose upgrade requests are routed by
// path to the peer endpoint (/peer) or the admin endpoint (/admin). Counts connections
// against maxConnections and sweeps them for handshake deadlines and liveness.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { formatHostPort, type HostPort } from './address.js';
import { Admission } from './admission.js';
import { ADMIN_PATH, CloseCode, MAX_HANDSHAKE_FRAME_BYTES, PEER_PATH } from './constants.js';
import type { Counters } from './stats.js';

export interface ServerOptions {
  readonly listen: HostPort;
  readonly tls: { readonly key: Buffer; readonly cert: Buffer; readonly ca: Buffer } | null;
  readonly maxPayloadBytes: number;
  readonly maxConnections: number;
  readonly maxUnauthenticated: number;
  readonly maxUnauthenticatedPerAddress: number;
  readonly sweepIntervalMs: number;
  readonly keepProcessAlive: boolean;
}

export interface Sweepable {
  sweep(now: number): void;
  close(code: number, reason: string): void;
}

export interface ServerHandlers {
  /** A WebSocket was opened on /peer or /admin; returns the object that owns it. */
  peerSocket(ws: WebSocket): Sweepable;
  adminSocket(ws: WebSocket): Sweepable;
  isKnownPeer(id: string): boolean;
  knownPeerCount(): number;
  /** A plain HTTP request (not an upgrade), e.g. GET /metrics: http.ts. */
  httpRequest(req: IncomingMessage, res: ServerResponse): void;
  counters: Counters;
}

/** ws's receiver, whose frame limit is raised once a connection is authenticated (ws 8, pinned). */
interface WithReceiver {
  _receiver?: { _maxPayload: number };
}

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export class NodeServer {
  private readonly http: Server;
  private readonly peerWss: WebSocketServer;
  private readonly adminWss: WebSocketServer;
  readonly connections = new Set<Sweepable>();
  private readonly owners = new Map<WebSocket, Sweepable>();
  private readonly admission: Admission<WebSocket>;
  private sweepTimer: NodeJS.Timeout | null = null;
  private boundAddress: HostPort | null = null;

  constructor(
    private readonly options: ServerOptions,
    private readonly handlers: ServerHandlers,
  ) {
    this.http = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca }) : createHttpServer();
    this.admission = new Admission(options, handlers.counters.admission);
    // Until a connection is authenticated, a frame may be at most a handshake's size: ws
    // would otherwise buffer up to maxPayloadBytes for anyone who reaches the port.
    const wsOptions = { noServer: true, maxPayload: MAX_HANDSHAKE_FRAME_BYTES, perMessageDeflate: false, clientTracking: false } as const;
    this.peerWss = new WebSocketServer(wsOptions);
    this.adminWss = new WebSocketServer(wsOptions);
    this.http.on('request', (req, res) => handlers.httpRequest(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
    this.http.on('tlsClientError', () => {});
  }

  /** The bound address (port resolved when listening on port 0). */
  get address(): string {
    if (!this.boundAddress) throw new Error('the server is not listening');
    return formatHostPort(this.boundAddress.host, this.boundAddress.port);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.http.once('error', onError);
      this.http.listen(this.options.listen.port, this.options.listen.host, () => {
        this.http.off('error', onError);
        const a = this.http.address();
        const port = typeof a === 'object' && a ? a.port : this.options.listen.port;
        this.boundAddress = { host: this.options.listen.host, port };
        this.sweepTimer = setInterval(() => this.sweep(), this.options.sweepIntervalMs);
        if (!this.options.keepProcessAlive) {
          this.http.unref();
          this.sweepTimer.unref();
        }
        resolve();
      });
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      return refuse(socket, '400 Bad Request');
    }
    const wss = url.pathname === PEER_PATH ? this.peerWss : url.pathname === ADMIN_PATH ? this.adminWss : null;
    if (!wss) return refuse(socket, '404 Not Found');
    // A link names the peer it is (unverified until its handshake) to use that peer's reserved pool.
    const from = wss === this.peerWss ? url.searchParams.get('from') : null;
    const claimed = from !== null && this.handlers.isKnownPeer(from) ? from : null;
    const address = socket instanceof Object && 'remoteAddress' in socket ? String((socket as { remoteAddress?: string }).remoteAddress ?? 'unknown') : 'unknown';
    const decision = this.admission.decide(address, claimed, this.connections.size, this.handlers.knownPeerCount());
    if (!decision.admit) {
      this.handlers.counters.handshakeRejects.tooManyConnections++;
      return refuse(socket, '503 Service Unavailable');
    }
    if (decision.evict) this.owners.get(decision.evict)?.close(CloseCode.TryAgainLater, 'a newer connection claims the same peer');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const owner = wss === this.peerWss ? this.handlers.peerSocket(ws) : this.handlers.adminSocket(ws);
      this.connections.add(owner);
      this.owners.set(ws, owner);
      this.admission.add(ws, address, claimed);
      ws.once('close', () => {
        this.connections.delete(owner);
        this.owners.delete(ws);
        this.admission.remove(ws);
      });
    });
  }

  /** `ws` proved who it is: it leaves the unauthenticated pools and may send full-size frames. */
  authenticated(ws: WebSocket): void {
    this.admission.remove(ws);
    const receiver = (ws as unknown as WithReceiver)._receiver;
    if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = this.options.maxPayloadBytes;
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.connections) c.sweep(now);
  }

  /**
   * Stops listening and asks every connection to close. The returned promise resolves once
   * every socket is gone: the caller terminates the stragglers.
   */
  close(code: number, reason: string): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const c of this.connections) c.close(code, reason);
    if (!this.boundAddress) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    return closed;
  }
}
