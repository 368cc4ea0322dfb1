// Typed errors of the transport. Each has a stable `code` (ConclaveError).
import { ConclaveError } from '@conclave/core';

/** The transport was closed; nothing more can be sent or awaited on it. */
export class TransportClosedError extends ConclaveError {
  constructor(message = 'the transport is closed') {
    super('TRANSPORT_CLOSED', message);
  }
}

/** A snapshot stream failed or was interrupted; reported to both the sender and the receiver. */
export class SnapshotStreamError extends ConclaveError {
  readonly peer: string;
  constructor(peer: string, message: string, options?: { cause?: unknown }) {
    super('SNAPSHOT_STREAM_FAILED', message);
    this.peer = peer;
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** /admin refused the credential (close code 4401). The CLI maps it to OpenIO status 401. */
export class AdminAuthError extends ConclaveError {
  constructor(message = 'admin authentication failed') {
    super('ADMIN_AUTH_FAILED', message);
  }
}

/** Nothing listens at the admin address (ECONNREFUSED). The CLI maps it to OpenIO status 2. */
export class AdminConnectionRefusedError extends ConclaveError {
  readonly address: string;
  constructor(address: string) {
    super('CONNECTION_REFUSED', `connection refused by ${address}`);
    this.address = address;
  }
}

/** An admin connect or request passed its deadline. The CLI maps it to OpenIO status 7. */
export class AdminTimeoutError extends ConclaveError {
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/**
 * Any other admin connection failure: TLS verification, reset, closed while a request was
 * pending. `unserved`: the server closed the connection as idle, which it does only with
 * nothing pending and after which it reads nothing, so a request that crossed that close was
 * never served and is safe to send again.
 */
export class AdminConnectionError extends ConclaveError {
  readonly unserved: boolean;
  constructor(message: string, options?: { cause?: unknown; unserved?: boolean }) {
    super('CONNECTION_FAILED', message);
    this.unserved = options?.unserved === true;
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * An admin handler on the server threw. `code` is the code of the error the handler threw
 * ('INTERNAL' when it had none; 'UNKNOWN_METHOD', 'DEADLINE_EXCEEDED', 'TOO_MANY_REQUESTS'
 * from the admin server itself); `data` holds its other plain fields (e.g. leaderHint).
 */
export class AdminRemoteError extends ConclaveError {
  readonly data: Record<string, unknown>;
  constructor(code: string, message: string, data: Record<string, unknown> = {}) {
    super(code, message);
    this.data = data;
  }
}

/** start() could not bind the listen address (in use, not local, no permission). */
export class ListenError extends ConclaveError {
  readonly address: string;
  constructor(address: string, cause: unknown) {
    super('LISTEN_FAILED', `cannot listen on ${address}: ${(cause as Error)?.message ?? String(cause)}`);
    this.address = address;
    (this as { cause?: unknown }).cause = cause;
  }
}
