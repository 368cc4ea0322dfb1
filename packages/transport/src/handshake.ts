// The peer handshake, run inside the WebSocket before any Message flows:
//
//   client -> server  hello     { v, group, from, to, nonce: Nc }
//   server -> client  challenge { v, group, id, nonce: Ns, proof: HMAC(secret, server|v|group|server|client|Nc|Ns) }
//   client -> server  auth      { proof: HMAC(secret, client|v|group|server|client|Nc|Ns) }
//   server -> client  welcome   {}
//
// Both sides prove they know the cluster secret, each over a nonce the other side just
// chose, so a recorded handshake is useless later: the server's fresh Ns makes an old
// client proof wrong, and a repeated Nc is refused outright (ReplayCache). The labels
// `server`/`client` keep one side's proof from being reflected as the other's.
// Without a secret (loopback only) the proofs are empty and only v/group/ids are checked.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CloseCode } from './constants.js';

export const NONCE_BYTES = 32;
const PROOF_BYTES = 32;

export type HandshakeRejectCause = 'versionMismatch' | 'wrongGroup' | 'unknownNode' | 'badHmac' | 'replayed' | 'malformed' | 'timeout' | 'tooManyConnections';

export const HANDSHAKE_REJECT_CAUSES: readonly HandshakeRejectCause[] = [
  'versionMismatch', 'wrongGroup', 'unknownNode', 'badHmac', 'replayed', 'malformed', 'timeout', 'tooManyConnections',
];

export const CLOSE_CODE_BY_CAUSE: Readonly<Record<HandshakeRejectCause, number>> = {
  versionMismatch: CloseCode.VersionMismatch,
  wrongGroup: CloseCode.WrongGroup,
  unknownNode: CloseCode.UnknownNode,
  badHmac: CloseCode.AuthFailed,
  replayed: CloseCode.ReplayedHandshake,
  malformed: CloseCode.MalformedFrame,
  timeout: CloseCode.HandshakeTimeout,
  tooManyConnections: CloseCode.TryAgainLater,
};

/** Maps a close code received while handshaking back to the cause, for the client's stats. */
export function causeOfCloseCode(code: number): HandshakeRejectCause | null {
  for (const cause of HANDSHAKE_REJECT_CAUSES) if (CLOSE_CODE_BY_CAUSE[cause] === code) return cause;
  return null;
}

export class HandshakeRejection {
  constructor(
    readonly cause: HandshakeRejectCause,
    readonly reason: string,
  ) {}
  get closeCode(): number {
    return CLOSE_CODE_BY_CAUSE[this.cause];
  }
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

export interface ProofInput {
  version: number;
  group: string;
  serverId: string;
  clientId: string;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
}

/** HMAC-SHA256 over an unambiguous encoding (JSON array) of everything both sides agreed on. */
export function computeProof(secret: Uint8Array, side: 'server' | 'client', p: ProofInput): Buffer {
  const text = JSON.stringify([
    'conclave-peer', side, p.version, p.group, p.serverId, p.clientId,
    Buffer.from(p.clientNonce).toString('hex'), Buffer.from(p.serverNonce).toString('hex'),
  ]);
  return createHmac('sha256', secret).update(text).digest();
}

/** Constant-time comparison; false for anything that is not a proof-sized byte string. */
export function proofMatches(expected: Buffer, actual: unknown): boolean {
  if (!(actual instanceof Uint8Array) || actual.length !== PROOF_BYTES || expected.length !== PROOF_BYTES) return false;
  return timingSafeEqual(expected, actual);
}

export interface Hello {
  v: number;
  group: string;
  from: string;
  to: string;
  nonce: Uint8Array;
}

/**
 * Checks a hello frame in the order that keeps the reasons meaningful: version first (a
 * future version may change everything else), then group, then ids, then the nonce.
 */
export function checkHello(
  frame: Record<string, unknown>,
  self: { version: number; group: string; id: string; isKnownPeer: (id: string) => boolean },
): Hello | HandshakeRejection {
  if (frame.k !== 'hello') return new HandshakeRejection('malformed', 'expected hello');
  if (frame.v !== self.version) {
    return new HandshakeRejection('versionMismatch', `protocol version ${String(frame.v).slice(0, 16)} not supported; this node speaks ${self.version}`);
  }
  if (typeof frame.group !== 'string') return new HandshakeRejection('malformed', 'hello without a group');
  if (frame.group !== self.group) return new HandshakeRejection('wrongGroup', `wrong group '${frame.group.slice(0, 40)}'; this node is in '${self.group.slice(0, 40)}'`);
  if (typeof frame.from !== 'string' || typeof frame.to !== 'string') return new HandshakeRejection('malformed', 'hello without from/to ids');
  if (frame.from === self.id || !self.isKnownPeer(frame.from)) return new HandshakeRejection('unknownNode', `unknown node id '${frame.from.slice(0, 64)}'`);
  if (frame.to !== self.id) return new HandshakeRejection('unknownNode', `dialled '${frame.to.slice(0, 40)}' but this is node '${self.id.slice(0, 40)}'`);
  if (!(frame.nonce instanceof Uint8Array) || frame.nonce.length !== NONCE_BYTES) return new HandshakeRejection('malformed', 'hello without a 32-byte nonce');
  return { v: frame.v, group: frame.group, from: frame.from, to: frame.to, nonce: frame.nonce };
}

/** Checks the server's challenge on the client side. */
export function checkChallenge(
  frame: Record<string, unknown>,
  self: { version: number; group: string; expectedServerId: string },
): { nonce: Uint8Array; proof: unknown } | HandshakeRejection {
  if (frame.k !== 'challenge') return new HandshakeRejection('malformed', 'expected challenge');
  if (frame.v !== self.version) return new HandshakeRejection('versionMismatch', `peer speaks protocol version ${String(frame.v).slice(0, 16)}, not ${self.version}`);
  if (frame.group !== self.group) return new HandshakeRejection('wrongGroup', `peer is in group '${String(frame.group).slice(0, 40)}', not '${self.group.slice(0, 40)}'`);
  if (frame.id !== self.expectedServerId) return new HandshakeRejection('unknownNode', `expected node '${self.expectedServerId.slice(0, 40)}' but '${String(frame.id).slice(0, 40)}' answered`);
  if (!(frame.nonce instanceof Uint8Array) || frame.nonce.length !== NONCE_BYTES) return new HandshakeRejection('malformed', 'challenge without a 32-byte nonce');
  return { nonce: frame.nonce, proof: frame.proof };
}

/**
 * Client nonces seen recently. Bounded (oldest forgotten first): forgetting one only
 * loses the early, distinct rejection of a replay, because a replayed hello still cannot
 * answer the fresh server nonce.
 */
export class ReplayCache {
  private readonly seen = new Set<string>();
  constructor(private readonly capacity = 16_384) {}

  /** Records the nonce; false if it was already there. */
  add(nonce: Uint8Array): boolean {
    const key = Buffer.from(nonce).toString('base64');
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}

/** Normalizes the secret option; throws a plain message the caller wraps. */
export function secretBytes(secret: string | Uint8Array | undefined): Buffer | null {
  if (secret === undefined) return null;
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  return bytes;
}

/** The admin channel: server sends { nonce: Ns }, client answers HMAC(credential, admin-client|Nc|Ns), server proves back. */
export function computeAdminProof(credential: Uint8Array, side: 'server' | 'client', clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  const text = JSON.stringify(['conclave-admin', side, Buffer.from(clientNonce).toString('hex'), Buffer.from(serverNonce).toString('hex')]);
  return createHmac('sha256', credential).update(text).digest();
}
