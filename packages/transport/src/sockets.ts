// Small helpers around `ws` sockets shared by the link, the inbound side and admin.
import { WebSocket } from 'ws';
import { MAX_CLOSE_REASON_BYTES } from './constants.js';

/** Close reasons are limited to 123 bytes; `ws` throws on longer ones. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = reason.slice(0, MAX_CLOSE_REASON_BYTES);
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  return out;
}

/**
 * Sockets that were asked to close and are waiting for the peer's close frame. Each is
 * terminated after `graceMs` at the latest; Transport.close terminates them all at once.
 */
export class Lingering {
  private readonly sockets = new Map<WebSocket, NodeJS.Timeout>();

  close(ws: WebSocket, code: number, reason: string, graceMs = 1000): void {
    if (ws.readyState === WebSocket.CLOSED || this.sockets.has(ws)) return;
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
      return;
    }
    try {
      ws.close(code, truncateReason(reason));
    } catch {
      ws.terminate();
      return;
    }
    const timer = setTimeout(() => ws.terminate(), graceMs);
    this.sockets.set(ws, timer);
    ws.once('close', () => {
      clearTimeout(timer);
      this.sockets.delete(ws);
    });
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Resolves when every lingering socket has closed, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.sockets.size > 0 && performance.now() < deadline) {
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
    }
  }

  terminateAll(): void {
    for (const [ws, timer] of this.sockets) {
      clearTimeout(timer);
      ws.terminate();
    }
    this.sockets.clear();
  }
}

/**
 * Client frames must carry a mask (RFC 6455) to protect browser-facing proxies; peers and
 * admin clients are not browsers, and an all-zero mask lets `ws` skip both the copy and the
 * XOR on each side.
 */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}


/**
 * Sends the frames of one event-loop turn in one socket write. The first send of a turn
 * corks the socket; it is uncorked once the turn's callbacks and their promise work are done
 * (setImmediate). The frames are unchanged, only the writes they leave in: at thousands of
 * admin requests a second, one writev per frame (ws's own cork covers a single frame) cost
 * more than the work each request does, and a peer that reads them one by one handles them
 * one by one (a leader proposes forwarded writes in as many Ready turns).
 */
export class TurnWriter {
  private corked = false;
  private readonly socket: { cork(): void; uncork(): void } | null;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };

  constructor(private readonly ws: WebSocket) {
    // `ws` keeps its net.Socket private; without one (never, in ws 8) frames go one by one.
    const s = (ws as unknown as { _socket?: { cork?: unknown; uncork?: unknown } })._socket;
    this.socket = s && typeof s.cork === 'function' && typeof s.uncork === 'function' ? (s as { cork(): void; uncork(): void }) : null;
  }

  /** False if this version of ws hides its socket: frames then go one write each. */
  get batching(): boolean {
    return this.socket !== null;
  }

  send(frame: Buffer): void {
    if (!this.corked && this.socket) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    this.ws.send(frame);
  }
}
