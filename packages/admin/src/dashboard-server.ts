// `conclave dashboard`: a web page of the group on loopback. One poller surveys the members
// (node.status) and scrapes the leader's /metrics every interval; the page reads the view
// as JSON and asks for operator actions by POST, each confirmed in the page first.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '@conclave/core';
import type { AdminClient } from './client.js';
import { DashboardState } from './dashboard-state.js';
import { DASHBOARD_HTML } from './dashboard-page.js';

export interface DashboardOptions {
  readonly client: AdminClient;
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  /** The admin secret, sent to /metrics as a bearer token. */
  readonly secret?: string;
}

/** A POST body is one small JSON object. */
const MAX_BODY_BYTES = 4096;
/** The page sends this header; a cross-site form cannot, so no other page can act through the dashboard. */
export const ACTION_HEADER = 'x-conclave-action';

type Action = { action: 'transfer-leader'; node: string } | { action: 'leave-election'; node: string } | { action: 'clear-override'; node: string };

function parseAction(body: unknown): Action {
  const b = body as { action?: unknown; node?: unknown } | null;
  if (typeof b !== 'object' || b === null) throw new InvalidArgumentError('the action must be a JSON object');
  if (typeof b.node !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(b.node)) throw new InvalidArgumentError(`node must be a member id, got ${JSON.stringify(b.node)}`);
  if (b.action === 'transfer-leader' || b.action === 'leave-election' || b.action === 'clear-override') return { action: b.action, node: b.node };
  throw new InvalidArgumentError(`action must be transfer-leader, leave-election or clear-override, got ${JSON.stringify(b.action)}`);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(bytes);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new InvalidArgumentError(`the request body is over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export class DashboardServer {
  private readonly http: Server;
  private readonly state = new DashboardState();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  private readonly assets: Record<string, { type: string; body: Buffer }>;

  constructor(private readonly opts: DashboardOptions) {
    const require = createRequire(import.meta.url);
    const uplotDir = require.resolve('uplot/dist/uPlot.iife.min.js');
    this.assets = {
      '/': { type: 'text/html; charset=utf-8', body: Buffer.from(DASHBOARD_HTML, 'utf8') },
      '/uplot.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(uplotDir) },
      '/uplot.css': { type: 'text/css; charset=utf-8', body: readFileSync(uplotDir.replace(/uPlot\.iife\.min\.js$/, 'uPlot.min.css')) },
    };
    this.http = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => send(res, 500, 'application/json', JSON.stringify({ ok: false, error: { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) } })));
    });
  }

  /** Listens; resolves with the page's URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port, this.opts.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    this.polling = this.poll();
    this.schedule();
    const a = this.http.address();
    const port = typeof a === 'object' && a ? a.port : this.opts.port;
    return `http://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${port}/`;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      // One poll at a time: a slow member stretches the interval rather than piling up polls.
      this.polling = (this.polling ?? Promise.resolve()).then(() => this.poll()).finally(() => this.schedule());
    }, this.opts.intervalMs);
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    try {
      const survey = await this.opts.client.survey();
      const leader = survey.probes.map((p) => p.status).find((s) => s?.state === 'leader') ?? null;
      const metrics = leader ? await this.scrape(leader.address) : null;
      this.state.update(survey, metrics, Date.now());
    } catch (err) {
      // A survey that finds nobody: the view says so and the poll goes on.
      this.state.noAnswer(`no member answers: ${(err as Error).message}`, Date.now());
    }
  }

  private async scrape(address: string): Promise<string | null> {
    try {
      const res = await fetch(`http://${address}/metrics`, {
        headers: this.opts.secret ? { Authorization: `Bearer ${this.opts.secret}` } : {},
        signal: AbortSignal.timeout(Math.max(500, this.opts.intervalMs)),
      });
      return res.ok ? await res.text() : null;
    } catch {
      return null; // the latency chart skips this sample
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && path === '/api/state') return send(res, 200, 'application/json', JSON.stringify(this.state.current));
    if (req.method === 'GET' && this.assets[path]) return send(res, 200, this.assets[path]!.type, this.assets[path]!.body);
    if (req.method === 'POST' && path === '/api/action') return this.act(req, res);
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }

  private async act(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => send(res, status, 'application/json', JSON.stringify(body));
    if (req.headers[ACTION_HEADER] !== '1' || !(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply(403, { ok: false, error: { code: 'FORBIDDEN', message: `actions need Content-Type: application/json and ${ACTION_HEADER}: 1 (sent by the dashboard page)` } });
    }
    let action: Action;
    try {
      action = parseAction(JSON.parse(await readBody(req)));
    } catch (err) {
      return reply(400, { ok: false, error: { code: 'INVALID_ARGUMENT', message: (err as Error).message } });
    }
    const c = this.opts.client;
    try {
      const result =
        action.action === 'transfer-leader' ? await c.transferLeader([action.node]) : action.action === 'leave-election' ? await c.leaveElection([action.node]) : await c.clearOverride([action.node]);
      reply(200, { ok: (result as { ok?: boolean }).ok !== false, result });
      // Show the outcome at once rather than after the next interval.
      this.polling = (this.polling ?? Promise.resolve()).then(() => this.poll());
    } catch (err) {
      const e = err as { code?: string; message?: string };
      reply(502, { ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(err) } });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling?.catch(() => {});
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}
