// Counters, by reason. Plain numbers, mutated in place; stats() returns a deep copy.
import type { NodeId } from '@conclave/core';
import { newAdmissionCounters, type AdmissionCounters } from './admission.js';
import { HANDSHAKE_REJECT_CAUSES, type HandshakeRejectCause } from './handshake.js';

export interface PeerStats {
  /** The outgoing link has completed its handshake and is open. */
  readonly connected: boolean;
  /** Authenticated connections this peer has open to us (0 or 1). */
  readonly inboundConnected: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Bytes handed to the socket whose write has not completed. */
  readonly inFlightBytes: number;
  /** `ws` bufferedAmount of the outgoing link. */
  readonly bufferedAmount: number;
}

export interface Counters {
  /** Handshakes this node refused, by cause (as a server, or as a client checking the server). */
  handshakeRejects: Record<HandshakeRejectCause, number>;
  /** Our outgoing handshakes the peer refused, by the cause its close code names. */
  rejectedByPeer: Record<HandshakeRejectCause, number>;
  /** Connections refused or evicted before authentication, by reason (each also counts as handshakeRejects.tooManyConnections when refused). */
  admission: AdmissionCounters;
  /** /admin connections refused for a wrong or missing credential. */
  adminAuthFailures: number;
  /** Frames that could not be decoded (bad msgpack, unknown kind, text frame, out of sequence). */
  malformedFrames: number;
  /** Frames that decoded into a Message/Entry/control map of the wrong shape. */
  invalidMessages: number;
  /** Frames over maxPayloadBytes (closed by `ws` with 1009). */
  oversizedFrames: number;
  /** Messages dropped because the peer's queue was at its byte or message bound. */
  droppedQueueFull: number;
  /** Messages dropped because the link was down (between reconnect attempts, or queued when it went down). */
  droppedPeerDown: number;
  /** Messages to an id that is not a peer (or to this node). */
  droppedUnknownPeer: number;
  /** Messages whose encoding exceeds maxPayloadBytes or maxQueueBytes. */
  droppedTooLarge: number;
  /** Messages dropped by the fault hook, by rule. */
  droppedByFault: { drop: number; partition: number };
  duplicatedByFault: number;
  delayedByFault: number;
  /** Outgoing links re-established after having been open. */
  reconnects: number;
  /** Outgoing connection attempts that failed (refused, timed out, rejected). */
  connectFailures: number;
  /** Connections closed because no ping or pong arrived within heartbeatTimeoutMs. */
  heartbeatTimeouts: number;
  /** Inbound connections replaced by a newer one from the same peer. */
  superseded: number;
  /** onMessage/onSnapshot handlers that threw (the transport carries on). */
  handlerErrors: number;
  messagesSent: number;
  messagesReceived: number;
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  snapshotsSent: number;
  snapshotsReceived: number;
  snapshotsFailed: number;
  adminRequests: number;
  adminErrors: number;
}

export interface TransportStats extends Counters {
  readonly peers: Record<NodeId, PeerStats>;
}

function causeCounters(): Record<HandshakeRejectCause, number> {
  const out = {} as Record<HandshakeRejectCause, number>;
  for (const c of HANDSHAKE_REJECT_CAUSES) out[c] = 0;
  return out;
}

export function newCounters(): Counters {
  return {
    handshakeRejects: causeCounters(),
    rejectedByPeer: causeCounters(),
    admission: newAdmissionCounters(),
    adminAuthFailures: 0,
    malformedFrames: 0,
    invalidMessages: 0,
    oversizedFrames: 0,
    droppedQueueFull: 0,
    droppedPeerDown: 0,
    droppedUnknownPeer: 0,
    droppedTooLarge: 0,
    droppedByFault: { drop: 0, partition: 0 },
    duplicatedByFault: 0,
    delayedByFault: 0,
    reconnects: 0,
    connectFailures: 0,
    heartbeatTimeouts: 0,
    superseded: 0,
    handlerErrors: 0,
    messagesSent: 0,
    messagesReceived: 0,
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    snapshotsSent: 0,
    snapshotsReceived: 0,
    snapshotsFailed: 0,
    adminRequests: 0,
    adminErrors: 0,
  };
}

export function copyCounters(c: Counters): Counters {
  return { ...c, handshakeRejects: { ...c.handshakeRejects }, rejectedByPeer: { ...c.rejectedByPeer }, admission: { ...c.admission }, droppedByFault: { ...c.droppedByFault } };
}
