// One connection a peer opened to us: the server side of the handshake, then Message
// frames in and snapshot streams in (with credit and outcome sent back on the same socket).
// Anything malformed closes this connection only, with a close code, a reason and a counter.
import type { WebSocket } from 'ws';
import type { Message, NodeId, SnapshotMeta } from '@conclave/core';
import { decodeControl, encodeControl, MessageDecoder, SNAPSHOT_CHUNK_HEADER_BYTES } from './codec.js';
import { CloseCode, FrameKind, MAX_HANDSHAKE_FRAME_BYTES, PROTOCOL_VERSION } from './constants.js';
import { SnapshotStreamError } from './errors.js';
import type { FaultInjector } from './faults.js';
import { checkHello, computeProof, HandshakeRejection, newNonce, proofMatches, type Hello, type ProofInput, type ReplayCache } from './handshake.js';
import { ChunkStream } from './snapshot.js';
import type { Lingering } from './sockets.js';
import type { Counters } from './stats.js';
import { isCount, messageProblem, snapshotMetaProblem } from './validate.js';

/** Receives one snapshot stream; resolve once every chunk is staged, throw to fail it. */
export type SnapshotHandler = (from: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

export interface InboundHost {
  readonly selfId: NodeId;
  readonly groupId: string;
  readonly secret: Buffer | null;
  readonly snapshotWindowBytes: number;
  readonly counters: Counters;
  readonly lingering: Lingering;
  readonly replay: ReplayCache;
  readonly faults: FaultInjector;
  isKnownPeer(id: NodeId): boolean;
  /** The handshake succeeded: register (and supersede an older connection from the same peer). */
  authenticated(conn: InboundPeerConnection): void;
  closed(conn: InboundPeerConnection): void;
  deliver(msg: Message): void;
  snapshotHandler(): SnapshotHandler | null;
}

/** Concurrent incoming snapshot streams per connection; a third is refused. */
const MAX_INCOMING_SNAPSHOTS = 2;

interface IncomingSnapshot {
  readonly stream: ChunkStream;
  readonly windowBytes: number;
}

export class InboundPeerConnection {
  phase: 'hello' | 'auth' | 'open' | 'dead' = 'hello';
  /** Set once authenticated. */
  peer: NodeId | null = null;
  readonly acceptedAt = performance.now();
  lastSeenAt = this.acceptedAt;
  private hello: Hello | null = null;
  private serverNonce: Buffer | null = null;
  private decoder: MessageDecoder | null = null;
  private readonly snapshots = new Map<number, IncomingSnapshot>();

  constructor(
    readonly ws: WebSocket,
    private readonly host: InboundHost,
  ) {
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer | Buffer[] | ArrayBuffer, isBinary));
    ws.on('ping', () => {
      this.lastSeenAt = performance.now();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself after a protocol error (1009 for oversized frames).
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') host.counters.oversizedFrames++;
      else if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) host.counters.malformedFrames++;
    });
    ws.on('close', () => this.onClosed());
  }

  /** Handshake deadline and liveness; called by the server's sweep. */
  sweep(now: number, handshakeTimeoutMs: number, heartbeatTimeoutMs: number): void {
    if ((this.phase === 'hello' || this.phase === 'auth') && now - this.acceptedAt > handshakeTimeoutMs) {
      this.reject(new HandshakeRejection('timeout', `handshake not completed within ${handshakeTimeoutMs} ms`));
    } else if (this.phase === 'open' && now - this.lastSeenAt > heartbeatTimeoutMs) {
      this.host.counters.heartbeatTimeouts++;
      this.phase = 'dead';
      this.ws.terminate();
    }
  }

  close(code: number, reason: string): void {
    if (this.phase === 'dead') return;
    this.phase = 'dead';
    this.host.lingering.close(this.ws, code, reason);
    this.failSnapshots(`connection from ${this.peer ?? 'peer'} closed: ${reason}`);
  }

  private onClosed(): void {
    this.phase = 'dead';
    this.failSnapshots(`connection from ${this.peer ?? 'peer'} lost`);
    this.host.closed(this);
  }

  private onFrame(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    if (this.phase === 'dead') return;
    const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const c = this.host.counters;
    this.lastSeenAt = performance.now();
    c.framesReceived++;
    c.bytesReceived += frame.length;
    if (!isBinary || frame.length === 0) return this.malformed('text or empty frame');
    if (this.phase !== 'open') return this.onHandshakeFrame(frame);
    switch (frame[0]) {
      case FrameKind.Messages:
        return this.onMessages(frame);
      case FrameKind.SnapshotChunk:
        return this.onSnapshotChunk(frame);
      case FrameKind.Control: {
        const ctrl = decodeControl(frame);
        if (typeof ctrl === 'string') return this.malformed(ctrl);
        return this.onControl(ctrl);
      }
      default:
        return this.malformed(`unknown frame kind ${frame[0]}`);
    }
  }

  private malformed(reason: string): void {
    this.host.counters.malformedFrames++;
    this.close(CloseCode.MalformedFrame, reason);
  }

  private invalid(reason: string): void {
    this.host.counters.invalidMessages++;
    this.close(CloseCode.InvalidMessage, reason);
  }

  private reject(r: HandshakeRejection): void {
    this.host.counters.handshakeRejects[r.cause]++;
    this.close(r.closeCode, r.reason);
  }

  // --- handshake (server side) ----------------------------------------------------------

  private onHandshakeFrame(frame: Buffer): void {
    if (frame.length > MAX_HANDSHAKE_FRAME_BYTES) return this.reject(new HandshakeRejection('malformed', 'handshake frame too large'));
    const ctrl = decodeControl(frame);
    if (typeof ctrl === 'string') return this.reject(new HandshakeRejection('malformed', ctrl));
    const h = this.host;
    if (this.phase === 'hello') {
      const hello = checkHello(ctrl, { version: PROTOCOL_VERSION, group: h.groupId, id: h.selfId, isKnownPeer: (id) => h.isKnownPeer(id) });
      if (hello instanceof HandshakeRejection) return this.reject(hello);
      if (!h.replay.add(hello.nonce)) return this.reject(new HandshakeRejection('replayed', 'handshake nonce seen before (replayed hello)'));
      this.hello = hello;
      this.serverNonce = newNonce();
      this.phase = 'auth';
      const proof = h.secret ? computeProof(h.secret, 'server', this.proofInput()) : Buffer.alloc(0);
      this.ws.send(encodeControl({ k: 'challenge', v: PROTOCOL_VERSION, group: h.groupId, id: h.selfId, nonce: this.serverNonce, proof }));
      return;
    }
    // phase === 'auth'
    if (ctrl.k !== 'auth') return this.reject(new HandshakeRejection('malformed', 'expected auth'));
    if (h.secret && !proofMatches(computeProof(h.secret, 'client', this.proofInput()), ctrl.proof)) {
      return this.reject(new HandshakeRejection('badHmac', 'bad HMAC: the peer did not prove knowledge of the cluster secret'));
    }
    this.phase = 'open';
    this.peer = this.hello!.from;
    this.decoder = new MessageDecoder();
    h.authenticated(this);
    this.ws.send(encodeControl({ k: 'welcome' }));
  }

  private proofInput(): ProofInput {
    return {
      version: PROTOCOL_VERSION,
      group: this.host.groupId,
      serverId: this.host.selfId,
      clientId: this.hello!.from,
      clientNonce: this.hello!.nonce,
      serverNonce: this.serverNonce!,
    };
  }

  // --- messages -------------------------------------------------------------------------

  private onMessages(frame: Buffer): void {
    let values: unknown[];
    try {
      values = this.decoder!.decode(frame.subarray(1));
    } catch {
      return this.malformed('undecodable message frame');
    }
    const from = this.peer!;
    const self = this.host.selfId;
    // Validate the whole frame before delivering any of it.
    for (const v of values) {
      const problem = messageProblem(v, from, self, true);
      if (problem) return this.invalid(problem);
    }
    const c = this.host.counters;
    if (this.host.faults.isPartitioned(from, self)) {
      c.droppedByFault.partition += values.length;
      return;
    }
    for (const v of values) {
      if (this.phase !== 'open') return; // a handler closed us (setPeers)
      c.messagesReceived++;
      this.host.deliver(v as Message);
    }
  }

  // --- snapshots (receiving side) -------------------------------------------------------

  private onControl(ctrl: Record<string, unknown>): void {
    const id = ctrl.id;
    if (!isCount(id) || id > 0xffffffff) return this.invalid(`control frame '${String(ctrl.k).slice(0, 20)}' without a stream id`);
    switch (ctrl.k) {
      case 'snapBegin':
        return this.onSnapshotBegin(id, ctrl.meta);
      case 'snapEnd': {
        const s = this.snapshots.get(id);
        if (!s) return;
        if (ctrl.bytes !== s.stream.receivedBytes) {
          s.stream.fail(new SnapshotStreamError(this.peer!, `snapshot from ${this.peer} ended after ${s.stream.receivedBytes} bytes, sender says ${String(ctrl.bytes)}`));
        } else {
          s.stream.end();
        }
        return;
      }
      case 'snapAbort':
        this.snapshots.get(id)?.stream.fail(new SnapshotStreamError(this.peer!, `the sender ${this.peer} aborted the snapshot: ${String(ctrl.reason).slice(0, 200)}`));
        return;
      default:
        return this.invalid(`unexpected control frame '${String(ctrl.k).slice(0, 20)}'`);
    }
  }

  private onSnapshotBegin(id: number, meta: unknown): void {
    const problem = snapshotMetaProblem(meta);
    if (problem) return this.invalid(problem);
    const from = this.peer!;
    const refuse = (error: string): void => {
      this.host.counters.snapshotsFailed++;
      this.ws.send(encodeControl({ k: 'snapDone', id, ok: false, error }));
    };
    if (this.snapshots.has(id)) return this.invalid('snapshot stream id reused');
    const handler = this.host.snapshotHandler();
    if (!handler) return refuse('no snapshot handler is registered on the receiver');
    if (this.snapshots.size >= MAX_INCOMING_SNAPSHOTS) return refuse('too many concurrent snapshot streams');
    if (this.host.faults.isPartitioned(from, this.host.selfId)) return refuse('partitioned by the fault hook');
    const stream = new ChunkStream(
      (consumed) => {
        if (this.phase === 'open') this.ws.send(encodeControl({ k: 'snapAck', id, consumed }));
      },
      () => {},
    );
    const windowBytes = this.host.snapshotWindowBytes;
    this.snapshots.set(id, { stream, windowBytes });
    this.ws.send(encodeControl({ k: 'snapAck', id, consumed: 0, window: windowBytes }));
    const finish = (ok: boolean, error: string): void => {
      this.snapshots.delete(id);
      if (ok) this.host.counters.snapshotsReceived++;
      else this.host.counters.snapshotsFailed++;
      if (this.phase === 'open') this.ws.send(encodeControl(ok ? { k: 'snapDone', id, ok } : { k: 'snapDone', id, ok, error: error.slice(0, 500) }));
    };
    Promise.resolve()
      .then(() => handler(from, meta as SnapshotMeta, stream))
      .then(
        () => finish(stream.complete, stream.error?.message ?? 'the receiver stopped reading before the end of the stream'),
        (err: unknown) => finish(false, (err as Error)?.message ?? String(err)),
      );
  }

  private onSnapshotChunk(frame: Buffer): void {
    if (frame.length < SNAPSHOT_CHUNK_HEADER_BYTES) return this.malformed('short snapshot chunk frame');
    const s = this.snapshots.get(frame.readUInt32BE(1));
    // Chunks of a stream that is over (cancelled, failed) may still be on the wire: ignore.
    if (!s || s.stream.ended || s.stream.error || s.stream.cancelled) return;
    const chunk = frame.subarray(SNAPSHOT_CHUNK_HEADER_BYTES);
    if (s.stream.bufferedBytes + chunk.length > Math.max(s.windowBytes, chunk.length)) return this.invalid('snapshot sender exceeded its credit');
    s.stream.push(chunk);
  }

  private failSnapshots(reason: string): void {
    for (const s of this.snapshots.values()) s.stream.fail(new SnapshotStreamError(this.peer ?? 'unknown', reason));
  }
}
