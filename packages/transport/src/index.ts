// @conclave/transport: WebSocket transport between conclave nodes, plus the admin RPC channel.
export { Transport, type TransportOptions, type TransportEvents, type MessageHandler } from './transport.js';
export type { UnreachableReason } from './link.js';
export type { SnapshotHandler } from './inbound.js';
export { AdminRpcClient, type AdminConnectOptions, type AdminRequestOptions, type AdminHandler, type AdminRequestContext } from './admin.js';
export { weighedAdminHandler, adminErrorBody, remoteErrorOf, type AdminErrorBody } from './admin-batch.js';
export { FaultInjector, type LinkFaults } from './faults.js';
export { seededRandom, type RandomSource } from './random.js';
export type { TransportStats, PeerStats, Counters } from './stats.js';
export type { HttpHandler, HttpReply } from './http.js';
export type { HandshakeRejectCause } from './handshake.js';
export type { TlsFiles } from './tls.js';
export { CloseCode, PROTOCOL_VERSION, PEER_PATH, ADMIN_PATH, DEFAULTS } from './constants.js';
export {
  TransportClosedError,
  SnapshotStreamError,
  ListenError,
  AdminAuthError,
  AdminConnectionRefusedError,
  AdminTimeoutError,
  AdminConnectionError,
  AdminRemoteError,
} from './errors.js';
