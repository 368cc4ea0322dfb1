// Plain HTTP GETs on the node's listening port (GET /metrics). Everything else there is a
// WebSocket upgrade: a request for an unknown path still gets 426, as before. A route is
// guarded like /admin: the admin secret as a bearer token when the node has one, open on
// loopback without one, refused beyond loopback without one.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError } from '@conclave/core';

export interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Serves one path; a thrown error answers 500 with its message. */
export type HttpHandler = () => Promise<HttpReply> | HttpReply;

export interface HttpAuth {
  /** null: no credential is checked (loopback without an admin secret). */
  readonly adminSecret: Buffer | null;
  /** False when listening beyond loopback without an admin secret: every request is refused. */
  readonly enabled: boolean;
  /** Counts a refused credential (the admin endpoint's counter). */
  authFailed(): void;
}

/** Routes are few and fixed (one per feature); the bound keeps a caller from growing the map. */
const MAX_ROUTES = 16;

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store', ...headers });
  res.end(bytes);
}

function bearerMatches(header: string | undefined, secret: Buffer): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!.trim(), 'utf8');
  return given.length === secret.length && timingSafeEqual(given, secret);
}

export class HttpRoutes {
  private readonly routes = new Map<string, HttpHandler>();

  constructor(private readonly auth: HttpAuth) {}

  add(path: string, handler: HttpHandler): void {
    if (typeof path !== 'string' || !/^\/[a-z0-9/_-]+$/.test(path)) throw new InvalidArgumentError(`HTTP route must be a path like /metrics, got ${JSON.stringify(path)}`);
    if (path === '/peer' || path === '/admin') throw new InvalidArgumentError(`${path} is the WebSocket endpoint, not an HTTP route`);
    if (this.routes.has(path)) throw new InvalidArgumentError(`HTTP route ${path} is already served`);
    if (this.routes.size >= MAX_ROUTES) throw new InvalidArgumentError(`at most ${MAX_ROUTES} HTTP routes`);
    this.routes.set(path, handler);
  }

  remove(path: string): void {
    this.routes.delete(path);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume(); // a GET has no body worth reading; do not buffer one
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      return reply(res, 400, 'bad request URL\n');
    }
    const handler = this.routes.get(pathname);
    if (!handler) {
      res.writeHead(426, { Connection: 'close', 'Content-Length': '0' });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, `${pathname} answers GET only\n`, { Allow: 'GET, HEAD' });
    if (!this.auth.enabled) {
      return reply(res, 403, `${pathname} is disabled: this node listens beyond loopback without an admin secret (give it one, then send it as a bearer token)\n`);
    }
    const secret = this.auth.adminSecret;
    if (secret && !bearerMatches(req.headers.authorization, secret)) {
      this.auth.authFailed();
      return reply(res, 401, `${pathname} needs the admin secret: Authorization: Bearer <admin secret>\n`, { 'WWW-Authenticate': 'Bearer realm="conclave"' });
    }
    Promise.resolve()
      .then(handler)
      .then(
        (r) => {
          if (req.method === 'HEAD') {
            res.writeHead(r.status, { 'Content-Type': r.contentType, 'Cache-Control': 'no-store' });
            res.end();
            return;
          }
          reply(res, r.status, r.body, { 'Content-Type': r.contentType });
        },
        (err: unknown) => reply(res, 500, `${(err as Error)?.message ?? String(err)}\n`),
      )
      .catch(() => res.destroy());
  }
}
