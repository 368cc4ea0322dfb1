// One outgoing link: the connection this node opens to one peer and sends on. It
// handshakes, batches queued messages into frames, watches the peer with ping/pong,
// reconnects with capped jittered backoff, and carries outgoing snapshot streams.
//
// States: connecting (an attempt is under way; messages queue up to the bound)
//      -> open       (messages flow)
//      -> backoff    (waiting to retry; messages are dropped at once, since a peer that is
//                     down should not accumulate stale Raft traffic)
//      -> closed     (Transport.close or the peer was removed).
import { WebSocket } from 'ws';
import type { NodeId, SnapshotMeta } from '@conclave/core';
import { InvalidArgumentError } from '@conclave/core';
import { wsUrl, type HostPort } from './address.js';
import { backoffDelayMs } from './backoff.js';
import { decodeControl, encodeControl, encodeSnapshotChunk, toBuffer } from './codec.js';
import { CloseCode, PEER_PATH, PROTOCOL_VERSION } from './constants.js';
import { SnapshotStreamError } from './errors.js';
import { causeOfCloseCode, checkChallenge, computeProof, HandshakeRejection, newNonce, proofMatches, type ProofInput } from './handshake.js';
import { OutboundQueue } from './queue.js';
import { OutgoingSnapshot } from './snapshot.js';
import { Lingering, zeroMask } from './sockets.js';
import type { Counters } from './stats.js';
import { isCount } from './validate.js';

export type UnreachableReason = 'connectFailed' | 'rejected' | 'disconnected' | 'heartbeatTimeout' | 'queueFull' | 'tooLarge';

export interface LinkConfig {
  readonly selfId: NodeId;
  readonly groupId: string;
  readonly secret: Buffer | null;
  /** CA to verify the peer's certificate against; when set the link dials wss://. */
  readonly tlsCa: Buffer | null;
  readonly maxPayloadBytes: number;
  readonly maxQueueBytes: number;
  readonly maxQueueMessages: number;
  readonly maxInFlightBytes: number;
  readonly frameTargetBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotStallTimeoutMs: number;
}

export interface LinkHost {
  readonly config: LinkConfig;
  readonly counters: Counters;
  readonly lingering: Lingering;
  /** Jitter for backoff. */
  random(): number;
  linkOpened(peer: NodeId): void;
  linkClosed(peer: NodeId, reason: string): void;
  unreachable(peer: NodeId, reason: UnreachableReason): void;
}

type LinkState = 'connecting' | 'open' | 'backoff' | 'closed';

/** Server -> client frames are only handshake and snapshot control: small. */
const CLIENT_MAX_PAYLOAD_BYTES = 64 * 1024;

interface Conn {
  readonly ws: WebSocket;
  readonly clientNonce: Buffer;
  phase: 'hello' | 'auth' | 'open' | 'dead';
  inFlightBytes: number;
  pingSentAt: number | null;
  readonly snapshots: Map<number, OutgoingSnapshot>;
}

export class PeerLink {
  private state: LinkState = 'connecting';
  private conn: Conn | null = null;
  private readonly queue: OutboundQueue;
  private flushScheduled = false;
  private attemptTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private backoffTimer: NodeJS.Timeout | null = null;
  private readonly delayTimers = new Set<NodeJS.Timeout>();
  private delayedBytes = 0;
  private delayedMessages = 0;
  /** Consecutive failed attempts, for the backoff. */
  private failures = 0;
  private everOpened = false;
  /** An 'unreachable' was raised and nothing since showed the peer reachable again. */
  private unreachableReported = false;
  private nextStreamId = 0;
  private readonly flushBound = (): void => this.flush();

  constructor(
    readonly peer: NodeId,
    private address: HostPort,
    private readonly host: LinkHost,
  ) {
    const c = host.config;
    this.queue = new OutboundQueue(c.maxQueueBytes, c.maxQueueMessages, c.frameTargetBytes);
  }

  start(): void {
    this.connect();
  }

  get addressValue(): HostPort {
    return this.address;
  }

  peerStats(): { connected: boolean; queuedMessages: number; queuedBytes: number; inFlightBytes: number; bufferedAmount: number } {
    return {
      connected: this.state === 'open',
      queuedMessages: this.queue.queuedMessages + this.delayedMessages,
      queuedBytes: this.queue.queuedBytes + this.delayedBytes,
      inFlightBytes: this.conn?.inFlightBytes ?? 0,
      bufferedAmount: this.conn?.ws.bufferedAmount ?? 0,
    };
  }

  /** A new address (setPeers): drop the current connection and dial the new one. */
  setAddress(address: HostPort): void {
    this.address = address;
    if (this.state === 'closed') return;
    if (this.conn) this.lose(this.conn, 'peer address changed', 'disconnected', CloseCode.GoingAway);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    this.failures = 0;
    this.connect();
  }

  /**
   * Queues one encoded message, now or after `delayMs` (fault hook). Returns false if it
   * was dropped (and counted). `encoded` is copied before this returns.
   */
  enqueue(encoded: Uint8Array, delayMs: number): boolean {
    const c = this.host.counters;
    if (this.state === 'closed' || this.state === 'backoff') {
      c.droppedPeerDown++;
      return false;
    }
    if (encoded.length + 1 > this.host.config.maxPayloadBytes || encoded.length > this.queue.maxQueueBytes) {
      c.droppedTooLarge++;
      // Never in silence: the sender's core must stop counting on it (and it is a bug upstream).
      this.reportUnreachable('tooLarge');
      return false;
    }
    if (!this.queue.fits(encoded.length, this.delayedBytes, this.delayedMessages)) {
      c.droppedQueueFull++;
      this.reportUnreachable('queueFull');
      return false;
    }
    if (delayMs > 0) {
      const copy = Buffer.from(encoded);
      this.delayedBytes += copy.length;
      this.delayedMessages++;
      c.delayedByFault++;
      const timer = setTimeout(() => {
        this.delayTimers.delete(timer);
        this.delayedBytes -= copy.length;
        this.delayedMessages--;
        if (this.state === 'connecting' || this.state === 'open') {
          this.queue.push(copy);
          this.scheduleFlush();
        } else {
          c.droppedPeerDown++;
        }
      }, delayMs);
      this.delayTimers.add(timer);
      return true;
    }
    this.queue.push(encoded);
    this.scheduleFlush();
    return true;
  }

  /** Streams a snapshot on this link; see snapshot.ts for the protocol. */
  async sendSnapshot(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const conn = this.conn;
    if (!conn || conn.phase !== 'open') throw new SnapshotStreamError(this.peer, `peer ${this.peer} is not connected`);
    const c = this.host.config;
    this.nextStreamId = (this.nextStreamId % 0xffffffff) + 1;
    const s = new OutgoingSnapshot(this.nextStreamId, this.peer, c.snapshotStallTimeoutMs);
    conn.snapshots.set(s.id, s);
    try {
      this.sendOn(conn, encodeControl({ k: 'snapBegin', id: s.id, meta }));
      await s.until(() => s.windowBytes !== null, 'the receiver to accept');
      for await (const chunk of chunks) {
        if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError('snapshot chunks must be Uint8Array');
        for (let off = 0; off < chunk.length; off += c.snapshotChunkBytes) {
          const piece = chunk.subarray(off, off + c.snapshotChunkBytes);
          // Receiver credit, and our own socket drained below maxInFlightBytes so that Raft
          // messages queued meanwhile are not stuck behind megabytes of snapshot.
          await s.until(
            () => s.sentBytes - s.consumedBytes + piece.length <= Math.max(s.windowBytes!, piece.length) && conn.inFlightBytes < c.maxInFlightBytes,
            'credit',
          );
          this.sendOn(conn, encodeSnapshotChunk(s.id, piece));
          s.sentBytes += piece.length;
        }
        if (s.failure) throw s.failure;
      }
      this.sendOn(conn, encodeControl({ k: 'snapEnd', id: s.id, bytes: s.sentBytes }));
      await s.until(() => s.finished, 'the receiver to finish');
      this.host.counters.snapshotsSent++;
    } catch (err) {
      this.host.counters.snapshotsFailed++;
      const failure =
        err instanceof SnapshotStreamError ? err : new SnapshotStreamError(this.peer, `snapshot stream to ${this.peer} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      // Tell the receiver unless it is the one that failed, or the connection is gone.
      if (!s.receiverDone && conn.phase === 'open') this.sendOn(conn, encodeControl({ k: 'snapAbort', id: s.id, reason: failure.message.slice(0, 200) }));
      s.fail(failure);
      throw failure;
    } finally {
      conn.snapshots.delete(s.id);
    }
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const t of [this.attemptTimer, this.heartbeatTimer, this.backoffTimer]) if (t) clearTimeout(t);
    this.attemptTimer = this.heartbeatTimer = this.backoffTimer = null;
    for (const t of this.delayTimers) clearTimeout(t);
    this.delayTimers.clear();
    this.delayedBytes = this.delayedMessages = 0;
    this.queue.clear();
    const conn = this.conn;
    if (conn) {
      this.conn = null;
      conn.phase = 'dead';
      this.failSnapshots(conn, 'the transport closed the link');
      this.host.lingering.close(conn.ws, CloseCode.GoingAway, 'going away');
    }
  }

  // --- connection ---------------------------------------------------------------------

  private connect(): void {
    this.backoffTimer = null;
    this.state = 'connecting';
    const c = this.host.config;
    // ?from= puts the handshake in our reserved pool on the server (admission.ts); it proves nothing.
    const ws = new WebSocket(`${wsUrl(this.address, c.tlsCa !== null, PEER_PATH)}?from=${encodeURIComponent(c.selfId)}`, {
      perMessageDeflate: false,
      maxPayload: CLIENT_MAX_PAYLOAD_BYTES,
      // attemptTimer (below) covers upgrade and handshake; this is a backstop.
      handshakeTimeout: c.handshakeTimeoutMs + 1000,
      generateMask: zeroMask,
      followRedirects: false,
      ...(c.tlsCa ? { ca: c.tlsCa } : {}),
    });
    const conn: Conn = { ws, clientNonce: newNonce(), phase: 'hello', inFlightBytes: 0, pingSentAt: null, snapshots: new Map() };
    this.conn = conn;
    this.attemptTimer = setTimeout(() => {
      this.host.counters.handshakeRejects.timeout++;
      this.lose(conn, 'handshake timed out', 'connectFailed', CloseCode.HandshakeTimeout);
    }, c.handshakeTimeoutMs);
    ws.on('open', () => {
      this.sendOn(conn, encodeControl({ k: 'hello', v: PROTOCOL_VERSION, group: c.groupId, from: c.selfId, to: this.peer, nonce: conn.clientNonce }));
    });
    ws.on('message', (data, isBinary) => this.onFrame(conn, toBuffer(data as Buffer), isBinary));
    ws.on('pong', () => {
      conn.pingSentAt = null;
    });
    ws.on('error', () => {
      // Always followed by 'close'; the cause shows in the close code (1006).
    });
    ws.on('close', (code, reason) => {
      if (conn.phase === 'dead') return;
      const cause = conn.phase !== 'open' ? causeOfCloseCode(code) : null;
      if (cause) this.host.counters.rejectedByPeer[cause]++;
      const text = `closed by peer (${code}${reason.length ? ` ${reason.toString()}` : ''})`;
      this.lose(conn, text, conn.phase === 'open' ? 'disconnected' : cause ? 'rejected' : 'connectFailed', null);
    });
  }

  private onFrame(conn: Conn, frame: Buffer, isBinary: boolean): void {
    if (conn.phase === 'dead') return;
    this.host.counters.framesReceived++;
    this.host.counters.bytesReceived += frame.length;
    const ctrl = isBinary ? decodeControl(frame) : 'text frame';
    if (typeof ctrl === 'string') {
      this.host.counters.malformedFrames++;
      this.lose(conn, ctrl, 'connectFailed', CloseCode.MalformedFrame);
      return;
    }
    const c = this.host.config;
    if (conn.phase === 'hello') {
      const r = checkChallenge(ctrl, { version: PROTOCOL_VERSION, group: c.groupId, expectedServerId: this.peer });
      if (r instanceof HandshakeRejection) return this.reject(conn, r);
      const input: ProofInput = { version: PROTOCOL_VERSION, group: c.groupId, serverId: this.peer, clientId: c.selfId, clientNonce: conn.clientNonce, serverNonce: r.nonce };
      if (c.secret && !proofMatches(computeProof(c.secret, 'server', input), r.proof)) {
        return this.reject(conn, new HandshakeRejection('badHmac', `peer ${this.peer} did not prove knowledge of the cluster secret`));
      }
      conn.phase = 'auth';
      this.sendOn(conn, encodeControl({ k: 'auth', proof: c.secret ? computeProof(c.secret, 'client', input) : Buffer.alloc(0) }));
      return;
    }
    if (conn.phase === 'auth') {
      if (ctrl.k !== 'welcome') return this.reject(conn, new HandshakeRejection('malformed', 'expected welcome'));
      this.opened(conn);
      return;
    }
    this.onControl(conn, ctrl);
  }

  private onControl(conn: Conn, ctrl: Record<string, unknown>): void {
    const s = typeof ctrl.id === 'number' ? conn.snapshots.get(ctrl.id) : undefined;
    if (ctrl.k === 'snapAck' && isCount(ctrl.consumed) && (ctrl.window === undefined || (isCount(ctrl.window) && ctrl.window > 0))) {
      s?.ack(ctrl.consumed, ctrl.window as number | undefined);
    } else if (ctrl.k === 'snapDone' && typeof ctrl.ok === 'boolean') {
      s?.done(ctrl.ok, typeof ctrl.error === 'string' ? ctrl.error : 'no reason given');
    } else {
      this.host.counters.invalidMessages++;
      this.lose(conn, `unexpected control frame '${String(ctrl.k).slice(0, 20)}'`, 'disconnected', CloseCode.InvalidMessage);
    }
  }

  private reject(conn: Conn, r: HandshakeRejection): void {
    this.host.counters.handshakeRejects[r.cause]++;
    this.lose(conn, r.reason, 'rejected', r.closeCode);
  }

  private opened(conn: Conn): void {
    if (this.attemptTimer) clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
    conn.phase = 'open';
    this.state = 'open';
    if (this.everOpened) this.host.counters.reconnects++;
    this.everOpened = true;
    this.failures = 0;
    this.unreachableReported = false;
    this.heartbeatTimer = setInterval(() => this.heartbeat(conn), this.host.config.heartbeatIntervalMs);
    this.host.linkOpened(this.peer);
    this.scheduleFlush();
  }

  private heartbeat(conn: Conn): void {
    if (conn.phase !== 'open') return;
    const now = performance.now();
    if (conn.pingSentAt === null) {
      conn.pingSentAt = now;
      conn.ws.ping();
    } else if (now - conn.pingSentAt >= this.host.config.heartbeatTimeoutMs) {
      this.host.counters.heartbeatTimeouts++;
      this.lose(conn, `no pong within ${this.host.config.heartbeatTimeoutMs} ms`, 'heartbeatTimeout', null);
    }
  }

  /**
   * The connection is over, for whatever reason: account for it now, close the socket
   * with `closeCode` (null: it is already closed or about to be terminated), and schedule
   * the next attempt.
   */
  private lose(conn: Conn, reason: string, why: UnreachableReason, closeCode: number | null): void {
    if (conn.phase === 'dead' || this.conn !== conn) return;
    const wasOpen = conn.phase === 'open';
    conn.phase = 'dead';
    this.conn = null;
    if (this.attemptTimer) clearTimeout(this.attemptTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.attemptTimer = this.heartbeatTimer = null;
    if (closeCode !== null) this.host.lingering.close(conn.ws, closeCode, reason);
    else if (conn.ws.readyState !== WebSocket.CLOSED) conn.ws.terminate();
    this.failSnapshots(conn, `connection to ${this.peer} lost: ${reason}`);
    if (!wasOpen) this.host.counters.connectFailures++;
    this.host.counters.droppedPeerDown += this.queue.clear();
    if (wasOpen) this.host.linkClosed(this.peer, reason);
    this.reportUnreachable(why);
    if (this.state === 'closed') return;
    this.state = 'backoff';
    this.failures++;
    const delayMs = backoffDelayMs(this.failures, this.host.config.reconnectBaseMs, this.host.config.reconnectMaxMs, this.host.random);
    this.backoffTimer = setTimeout(() => this.connect(), delayMs);
  }

  private failSnapshots(conn: Conn, reason: string): void {
    for (const s of conn.snapshots.values()) s.fail(new SnapshotStreamError(this.peer, reason));
  }

  private reportUnreachable(why: UnreachableReason): void {
    if (this.unreachableReported) return;
    this.unreachableReported = true;
    this.host.unreachable(this.peer, why);
  }

  // --- sending --------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== 'open') return;
    this.flushScheduled = true;
    // Everything sent in this turn of the event loop leaves in one frame.
    queueMicrotask(this.flushBound);
  }

  private flush(): void {
    this.flushScheduled = false;
    const conn = this.conn;
    if (!conn || conn.phase !== 'open') return;
    const max = this.host.config.maxInFlightBytes;
    // Two limits: our own count of bytes whose write has not completed, and ws's view of
    // what it has buffered. A reader that stops reading stops the writes completing, so
    // the queue fills and its bound starts dropping; nothing grows past the bounds.
    while (!this.queue.empty && conn.inFlightBytes < max && conn.ws.bufferedAmount < max) {
      const frame = this.queue.shift()!;
      const c = this.host.counters;
      c.framesSent++;
      c.messagesSent += frame.messages;
      this.sendOn(conn, frame.data);
    }
    if (this.queue.empty && this.unreachableReported && this.state === 'open') this.unreachableReported = false;
  }

  /** Sends one frame on `conn`, counting it in flight until the socket write completes. */
  private sendOn(conn: Conn, data: Buffer): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    const len = data.length;
    conn.inFlightBytes += len;
    this.host.counters.bytesSent += len;
    conn.ws.send(data, { binary: true }, () => {
      conn.inFlightBytes -= len;
      if (conn === this.conn && !this.queue.empty) this.scheduleFlush();
      for (const s of conn.snapshots.values()) s.wake();
    });
  }
}
