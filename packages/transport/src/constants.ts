// Wire constants shared by both ends of a connection. Changing any of them is a
// protocol change: bump PROTOCOL_VERSION.

/** Spoken in every handshake; a peer with another version is refused (CloseCode.VersionMismatch). */
export const PROTOCOL_VERSION = 1;

/** URL paths served on the node's one port. */
export const PEER_PATH = '/peer';
export const ADMIN_PATH = '/admin';

/**
 * WebSocket close codes this transport sends, with the reason string beside them in the
 * close frame. 4000-4999 is the range RFC 6455 leaves to applications; the last three
 * digits follow the HTTP status that means the same thing, so they read naturally in logs.
 */
export const CloseCode = {
  /** Normal shutdown (Transport.close, link removed by setPeers). Standard "going away". */
  GoingAway: 1001,
  /** A frame larger than maxPayloadBytes. Sent by `ws` itself. */
  FrameTooLarge: 1009,
  /** The server already has too many connections; retry later. Standard "try again later". */
  TryAgainLater: 1013,
  /** Undecodable frame: bad msgpack, unknown frame kind, text frame, frame out of sequence. */
  MalformedFrame: 4400,
  /** /admin: wrong or missing admin credential (or the admin path is disabled). */
  AdminUnauthorized: 4401,
  /** Peer handshake: the HMAC proof over the cluster secret is wrong or missing. */
  AuthFailed: 4403,
  /** Peer handshake: the node id is not a known peer, or the dialled node is another node. */
  UnknownNode: 4404,
  /** Peer or admin handshake not completed within handshakeTimeoutMs. */
  HandshakeTimeout: 4408,
  /** Peer handshake: the group id differs. */
  WrongGroup: 4409,
  /** A newer authenticated connection from the same peer replaced this one. */
  Superseded: 4410,
  /** Peer handshake: the client nonce was seen before (a replayed hello). */
  ReplayedHandshake: 4412,
  /** A frame decoded but a Message, Entry or control field has the wrong shape or value. */
  InvalidMessage: 4422,
  /** Handshake: another protocol version. */
  VersionMismatch: 4426,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** First byte of every binary frame. */
export const FrameKind = {
  /** msgpack map with a `k` field: handshake, snapshot control, admin request/response. */
  Control: 0x01,
  /** Concatenated msgpack records, one per Message. Client (link) -> server only. */
  Messages: 0x02,
  /** u32 stream id, then raw snapshot bytes. Client (link) -> server only. */
  SnapshotChunk: 0x03,
} as const;

export const DEFAULTS = {
  maxPayloadBytes: 16 * 1024 * 1024,
  maxQueueBytes: 32 * 1024 * 1024,
  maxQueueMessages: 8192,
  /** Bytes handed to the socket whose write has not completed yet. */
  maxInFlightBytes: 1024 * 1024,
  /** Batched frames are sealed at about this size. */
  frameTargetBytes: 256 * 1024,
  heartbeatIntervalMs: 500,
  heartbeatTimeoutMs: 2000,
  handshakeTimeoutMs: 5000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 2000,
  maxConnections: 256,
  /** Connections that have not authenticated yet, in total and from one remote address (admission.ts). */
  maxUnauthenticated: 64,
  maxUnauthenticatedPerAddress: 16,
  snapshotChunkBytes: 1024 * 1024,
  snapshotWindowBytes: 4 * 1024 * 1024,
  snapshotStallTimeoutMs: 15_000,
  adminIdleTimeoutMs: 60_000,
  adminMaxPendingRequests: 64,
  adminMaxTimeoutMs: 10 * 60_000,
} as const;

/** The close reason of an admin connection the server closed as idle (see AdminConnectionError.unserved). */
export const ADMIN_IDLE_CLOSE_REASON = 'idle';
/** Largest handshake frame accepted before authentication. */
export const MAX_HANDSHAKE_FRAME_BYTES = 4096;
/** The WebSocket protocol limits close reasons to 123 bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;
