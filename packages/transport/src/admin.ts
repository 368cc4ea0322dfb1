// The admin channel: request/response RPC on /admin of the node's port, authenticated with
// its own credential (the admin secret), separate from the cluster secret.
//
//   server -> client  adminChallenge { v, nonce: Ns }
//   client -> server  adminAuth      { nonce: Nc, proof: HMAC(adminSecret, client|Nc|Ns) }
//   server -> client  adminReady     { proof: HMAC(adminSecret, server|Nc|Ns) }   or close 4401
//   client -> server  req            { id, method, params, timeoutMs }
//   server -> client  res            { id, ok: true, result } | { id, ok: false, error: { code, message, data } }
//
// The credential never crosses the wire, and the client checks the server's proof too.
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { InvalidArgumentError } from '@conclave/core';
import { parseHostPort, wsUrl } from './address.js';
import { decodeControl, encodeControl, toBuffer } from './codec.js';
import { ADMIN_IDLE_CLOSE_REASON, ADMIN_PATH, CloseCode, DEFAULTS, MAX_HANDSHAKE_FRAME_BYTES, PROTOCOL_VERSION } from './constants.js';
import { adminErrorBody, remoteErrorOf, requestWeight } from './admin-batch.js';
import { AdminAuthError, AdminConnectionError, AdminConnectionRefusedError, AdminTimeoutError } from './errors.js';
import { computeAdminProof, newNonce, NONCE_BYTES, proofMatches } from './handshake.js';
import type { Lingering } from './sockets.js';
import { truncateReason, TurnWriter, zeroMask } from './sockets.js';
import type { Counters } from './stats.js';
import { isCount } from './validate.js';

export interface AdminRequestContext {
  /** Aborted when the request's deadline passes or the connection closes. */
  readonly signal: AbortSignal;
  /** Date.now() value after which the client has given up. */
  readonly deadline: number;
}

/** Returns the result (any msgpack-encodable value) or throws; a thrown error's `code` travels back. */
export type AdminHandler = (params: unknown, context: AdminRequestContext) => unknown;

export interface AdminHost {
  readonly counters: Counters;
  readonly lingering: Lingering;
  /** null: no credential is checked (loopback without an admin secret). */
  readonly adminSecret: Buffer | null;
  /** False when listening beyond loopback without an admin secret: every admin client is refused. */
  readonly adminEnabled: boolean;
  handler(method: string): AdminHandler | undefined;
  /** The client proved the admin credential: it may now send full-size requests. */
  authenticated(conn: AdminServerConnection): void;
  closed(conn: AdminServerConnection): void;
}

interface Pending {
  /** Made when the handler first reads `signal`: most never do, and one per request cost more than the request's own work. */
  controller: AbortController | null;
  readonly timer: NodeJS.Timeout;
  /** How many requests it counts for against adminMaxPendingRequests (a batch: its operations). */
  readonly weight: number;
}

export class AdminServerConnection {
  phase: 'auth' | 'open' | 'dead' = 'auth';
  readonly acceptedAt = performance.now();
  lastSeenAt = this.acceptedAt;
  private readonly serverNonce = newNonce();
  private readonly pending = new Map<number, Pending>();
  /** The weights of `pending`, summed. */
  private pendingWeight = 0;
  /** Answers of one turn leave in one write. */
  private readonly out: TurnWriter;

  constructor(
    readonly ws: WebSocket,
    private readonly host: AdminHost,
  ) {
    this.out = new TurnWriter(ws);
    ws.on('message', (data, isBinary) => this.onFrame(toBuffer(data as Buffer), isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') host.counters.oversizedFrames++;
      else if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) host.counters.malformedFrames++;
    });
    ws.on('close', () => {
      this.abortAll();
      this.phase = 'dead';
      host.closed(this);
    });
    ws.send(encodeControl({ k: 'adminChallenge', v: PROTOCOL_VERSION, nonce: this.serverNonce }));
  }

  sweep(now: number, handshakeTimeoutMs: number, idleTimeoutMs: number): void {
    if (this.phase === 'auth' && now - this.acceptedAt > handshakeTimeoutMs) {
      this.host.counters.handshakeRejects.timeout++;
      this.close(CloseCode.HandshakeTimeout, `admin handshake not completed within ${handshakeTimeoutMs} ms`);
    } else if (this.phase === 'open' && this.pending.size === 0 && now - this.lastSeenAt > idleTimeoutMs) {
      this.close(1000, ADMIN_IDLE_CLOSE_REASON);
    }
  }

  close(code: number, reason: string): void {
    if (this.phase === 'dead') return;
    this.phase = 'dead';
    this.abortAll();
    this.host.lingering.close(this.ws, code, reason);
  }

  private abortAll(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.controller?.abort();
    }
    this.pending.clear();
    this.pendingWeight = 0;
  }

  private onFrame(frame: Buffer, isBinary: boolean): void {
    if (this.phase === 'dead') return;
    this.lastSeenAt = performance.now();
    const c = this.host.counters;
    if (this.phase === 'auth' && frame.length > MAX_HANDSHAKE_FRAME_BYTES) {
      c.malformedFrames++;
      return this.close(CloseCode.MalformedFrame, 'admin handshake frame too large');
    }
    const ctrl = isBinary ? decodeControl(frame) : 'text frame';
    if (typeof ctrl === 'string') {
      c.malformedFrames++;
      return this.close(CloseCode.MalformedFrame, ctrl);
    }
    if (this.phase === 'auth') {
      const nonce = ctrl.nonce;
      if (ctrl.k !== 'adminAuth' || !(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) {
        c.malformedFrames++;
        return this.close(CloseCode.MalformedFrame, 'expected adminAuth with a 32-byte nonce');
      }
      const secret = this.host.adminSecret;
      const ok = this.host.adminEnabled && (!secret || proofMatches(computeAdminProof(secret, 'client', nonce, this.serverNonce), ctrl.proof));
      if (!ok) {
        c.adminAuthFailures++;
        return this.close(CloseCode.AdminUnauthorized, this.host.adminEnabled ? 'admin authentication failed' : 'admin disabled: no admin secret configured');
      }
      this.phase = 'open';
      this.host.authenticated(this);
      this.ws.send(encodeControl({ k: 'adminReady', proof: secret ? computeAdminProof(secret, 'server', nonce, this.serverNonce) : Buffer.alloc(0) }));
      return;
    }
    if (ctrl.k !== 'req' || !isCount(ctrl.id) || typeof ctrl.method !== 'string' || !isCount(ctrl.timeoutMs)) {
      c.invalidMessages++;
      return this.close(CloseCode.InvalidMessage, 'expected req with id, method and timeoutMs');
    }
    this.onRequest(ctrl.id, ctrl.method, ctrl.params, ctrl.timeoutMs);
  }

  private onRequest(id: number, method: string, params: unknown, timeoutMs: number): void {
    const c = this.host.counters;
    c.adminRequests++;
    if (this.pending.has(id)) return this.respondError(id, 'INVALID_ARGUMENT', `request id ${id} is already in use`, {});
    const limit = DEFAULTS.adminMaxPendingRequests;
    if (this.pendingWeight >= limit) return this.respondError(id, 'TOO_MANY_REQUESTS', 'too many admin requests in flight on this connection', {});
    const handler = this.host.handler(method);
    if (!handler) return this.respondError(id, 'UNKNOWN_METHOD', `unknown admin method '${method.slice(0, 64)}'`, {});
    const weight = requestWeight(handler, params);
    if (this.pendingWeight + weight > limit) {
      return this.respondError(id, 'TOO_MANY_REQUESTS', `${method} carries ${weight} operations; ${this.pendingWeight} of the ${limit} this connection may have in flight are taken`, { weight, limit });
    }
    const boundedMs = Math.min(timeoutMs, DEFAULTS.adminMaxTimeoutMs);
    const pending: Pending = {
      controller: null,
      timer: setTimeout(() => {
        if (this.pending.get(id) !== pending) return;
        this.forget(id, pending);
        pending.controller?.abort();
        this.respondError(id, 'DEADLINE_EXCEEDED', `${method} did not finish within ${boundedMs} ms`, {});
      }, boundedMs),
      weight,
    };
    this.pending.set(id, pending);
    this.pendingWeight += weight;
    const requests = this.pending;
    const context: AdminRequestContext = {
      get signal(): AbortSignal {
        pending.controller ??= new AbortController();
        // Asked for after the deadline or the close: the request is over already.
        if (requests.get(id) !== pending && !pending.controller.signal.aborted) pending.controller.abort();
        return pending.controller.signal;
      },
      deadline: Date.now() + boundedMs,
    };
    const done = (): boolean => {
      const p = this.pending.get(id);
      if (!p) return false; // timed out or closed: the answer is no longer wanted
      clearTimeout(p.timer);
      this.forget(id, p);
      return true;
    };
    Promise.resolve()
      .then(() => handler(params, context))
      .then(
        (result) => {
          if (!done()) return;
          let frame: Buffer;
          try {
            frame = encodeControl({ k: 'res', id, ok: true, result: result ?? null });
          } catch (err) {
            return this.respondError(id, 'INTERNAL', `result of ${method} cannot be encoded: ${(err as Error).message}`, {});
          }
          if (this.phase === 'open') this.out.send(frame);
        },
        (err: unknown) => {
          if (!done()) return;
          const e = adminErrorBody(err);
          this.respondError(id, e.code, e.message, e.data);
        },
      );
  }

  private forget(id: number, p: Pending): void {
    this.pending.delete(id);
    this.pendingWeight -= p.weight;
  }

  private respondError(id: number, code: string, message: string, data: Record<string, unknown>): void {
    this.host.counters.adminErrors++;
    if (this.phase === 'open') this.out.send(encodeControl({ k: 'res', id, ok: false, error: { code, message, data } }));
  }
}

// --- client ------------------------------------------------------------------------------

export interface AdminConnectOptions {
  /** The admin secret of the node. Omit only for a loopback node without an admin secret. */
  readonly credential?: string | Uint8Array;
  /** Dial wss:// and verify the node's certificate against this CA (PEM file or contents). */
  readonly tls?: { readonly caFile?: string; readonly ca?: string | Uint8Array };
  /** Deadline for TCP connect, TLS, upgrade and authentication together. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Abandons the attempt (its socket and timer) at once, e.g. once another endpoint answered. */
  readonly signal?: AbortSignal;
}

export interface AdminRequestOptions {
  /** Default 5000. The server aborts the handler at the same deadline. */
  readonly timeoutMs?: number;
}

type PendingRequest = { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout };

function isConnectionRefused(err: unknown): boolean {
  const e = err as { code?: unknown; errors?: unknown[] };
  if (e?.code === 'ECONNREFUSED') return true;
  // Node's happy-eyeballs connect reports an AggregateError of every address it tried.
  return Array.isArray(e?.errors) && e.errors.length > 0 && e.errors.every((x) => (x as { code?: unknown })?.code === 'ECONNREFUSED');
}

/** A connection to one node's /admin endpoint. */
export class AdminRpcClient {
  private nextId = 0;
  private readonly pending = new Map<number, PendingRequest>();
  private closedError: Error | null = null;
  /** Requests of one turn leave in one write. */
  private readonly out: TurnWriter;

  private constructor(
    private readonly ws: WebSocket,
    readonly address: string,
  ) {
    this.out = new TurnWriter(ws);
    ws.on('message', (data) => this.onFrame(toBuffer(data as Buffer)));
    ws.on('close', (code, reason) => {
      const why = reason.toString();
      const unserved = code === 1000 && why === ADMIN_IDLE_CLOSE_REASON;
      this.onClose(new AdminConnectionError(`admin connection to ${address} closed (${code}${why.length ? ` ${why}` : ''})`, { unserved }));
    });
  }

  /**
   * Connects and authenticates. Rejects with AdminConnectionRefusedError, AdminTimeoutError,
   * AdminAuthError (close code 4401), or AdminConnectionError for anything else.
   */
  static connect(address: string, options: AdminConnectOptions = {}): Promise<AdminRpcClient> {
    const hp = parseHostPort(address, 'admin address');
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const credential = options.credential === undefined ? null : typeof options.credential === 'string' ? Buffer.from(options.credential) : Buffer.from(options.credential);
    let ca: Buffer | undefined;
    if (options.tls) {
      if (options.tls.ca !== undefined) ca = Buffer.from(options.tls.ca);
      else if (options.tls.caFile !== undefined) {
        try {
          ca = readFileSync(options.tls.caFile);
        } catch (err) {
          throw new InvalidArgumentError(`cannot read tls.caFile '${options.tls.caFile}': ${(err as Error).message}`);
        }
      }
    }
    return new Promise<AdminRpcClient>((resolve, reject) => {
      const ws = new WebSocket(wsUrl(hp, options.tls !== undefined, ADMIN_PATH), {
        perMessageDeflate: false,
        maxPayload: DEFAULTS.maxPayloadBytes,
        // Our own deadline (below) fires first and reports the timeout; this is a backstop.
        handshakeTimeout: connectTimeoutMs + 1000,
        generateMask: zeroMask,
        followRedirects: false,
        ...(ca ? { ca } : {}),
      });
      let settled = false;
      let lastError: unknown = null;
      // A caller's signal often outlives many connects (an AdminClient's): its listener goes once this one settles.
      let abandon: (() => void) | null = null;
      const unlisten = (): void => {
        if (abandon) options.signal?.removeEventListener('abort', abandon);
      };
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        unlisten();
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.on('error', () => {});
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new AdminTimeoutError(`connecting to ${address} timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const signal = options.signal;
      if (signal) {
        abandon = () => fail(new AdminConnectionError(`connecting to ${address} was abandoned`));
        if (signal.aborted) abandon();
        else signal.addEventListener('abort', abandon, { once: true });
      }
      const clientNonce = newNonce();
      let serverNonce: Uint8Array | null = null;
      ws.on('error', (err) => {
        lastError = err;
      });
      ws.on('close', (code, reason) => {
        if (code === CloseCode.AdminUnauthorized) fail(new AdminAuthError(`admin authentication failed at ${address}: ${reason.toString() || 'wrong credential'}`));
        else if (isConnectionRefused(lastError)) fail(new AdminConnectionRefusedError(address));
        else fail(new AdminConnectionError(`cannot connect to ${address}: ${(lastError as Error | null)?.message ?? `closed (${code} ${reason.toString()})`}`, { cause: lastError ?? undefined }));
      });
      ws.on('message', (data) => {
        const ctrl = decodeControl(toBuffer(data as Buffer));
        if (typeof ctrl === 'string') return fail(new AdminConnectionError(`bad frame from ${address}: ${ctrl}`));
        if (serverNonce === null) {
          if (ctrl.k !== 'adminChallenge' || !(ctrl.nonce instanceof Uint8Array) || ctrl.nonce.length !== NONCE_BYTES) return fail(new AdminConnectionError(`${address} did not send an admin challenge`));
          if (ctrl.v !== PROTOCOL_VERSION) return fail(new AdminConnectionError(`${address} speaks protocol version ${String(ctrl.v)}, not ${PROTOCOL_VERSION}`));
          serverNonce = ctrl.nonce;
          const proof = credential ? computeAdminProof(credential, 'client', clientNonce, serverNonce) : Buffer.alloc(0);
          ws.send(encodeControl({ k: 'adminAuth', nonce: clientNonce, proof }));
          return;
        }
        if (ctrl.k !== 'adminReady') return fail(new AdminConnectionError(`${address} answered the admin handshake with '${String(ctrl.k).slice(0, 20)}'`));
        if (credential && !proofMatches(computeAdminProof(credential, 'server', clientNonce, serverNonce), ctrl.proof)) {
          return fail(new AdminAuthError(`${address} did not prove knowledge of the admin credential`));
        }
        settled = true;
        unlisten();
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        resolve(new AdminRpcClient(ws, address));
      });
    });
  }

  /** Sends one request. Rejects with AdminTimeoutError, AdminRemoteError (remote `code`) or AdminConnectionError. */
  request<T = unknown>(method: string, params: unknown = null, options: AdminRequestOptions = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!isCount(timeoutMs) || timeoutMs === 0) return Promise.reject(new InvalidArgumentError(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`));
    this.nextId = (this.nextId % Number.MAX_SAFE_INTEGER) + 1;
    const id = this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AdminTimeoutError(`admin request ${method} to ${this.address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.out.send(encodeControl({ k: 'req', id, method, params, timeoutMs }));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new AdminConnectionError(`cannot send ${method} to ${this.address}: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Closes the connection; pending requests reject with AdminConnectionError. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => this.ws.terminate(), 1000);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.ws.close(1000, truncateReason('client done'));
    });
  }

  private onFrame(frame: Buffer): void {
    const ctrl = decodeControl(frame);
    if (typeof ctrl === 'string' || ctrl.k !== 'res' || !isCount(ctrl.id)) return;
    const p = this.pending.get(ctrl.id);
    if (!p) return; // timed out already
    this.pending.delete(ctrl.id);
    clearTimeout(p.timer);
    if (ctrl.ok === true) return p.resolve(ctrl.result);
    p.reject(remoteErrorOf(ctrl.error));
  }

  private onClose(err: Error): void {
    if (!this.closedError) this.closedError = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
