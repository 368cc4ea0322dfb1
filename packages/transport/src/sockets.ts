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

