// `conclave dashboard`: serves the group's live web page on loopback until Ctrl-C.
import type { Command } from 'commander';
import { InvalidArgumentError } from '@conclave/core';
import { collect, DEFAULT_ENDPOINT, ENDPOINTS_ENV, openClient, resolveEndpoints } from './common.js';
import { parseIntArg, readSecretFile } from './parse.js';

export const DEFAULT_DASHBOARD_PORT = 7000;

interface DashboardFlags {
  endpoint?: string[];
  secretFile?: string;
  port: string;
  host: string;
  intervalMs: string;
  timeout: string;
}

/** The page has operator actions and no login of its own: it is served to this machine only. */
function loopbackHost(host: string): string {
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return host;
  throw new InvalidArgumentError(`--host must be a loopback address (127.0.0.1, ::1, localhost): the dashboard's actions have no login of their own, got '${host}'`);
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve a live web page of the group: members, leader, override banners, election timelines, commit charts, operator actions')
    .option('--endpoint <host:port>', `a member to talk to (repeatable; default: $${ENDPOINTS_ENV}, else ${DEFAULT_ENDPOINT})`, collect)
    .option('--secret-file <file>', 'file holding the admin secret (also sent to /metrics as a bearer token)')
    .option('--port <port>', 'port of the page (0 picks a free one)', String(DEFAULT_DASHBOARD_PORT))
    .option('--host <host>', 'loopback address of the page', '127.0.0.1')
    .option('--interval-ms <ms>', 'how often the members are asked', '1000')
    .option('--timeout <ms>', 'deadline of each survey of the members', '2000')
    .action(async (f: DashboardFlags) => {
      const port = parseIntArg('--port', f.port, 0, 65535);
      const intervalMs = parseIntArg('--interval-ms', f.intervalMs, 100, 60_000);
      const timeoutMs = parseIntArg('--timeout', f.timeout, 1, 600_000);
      const host = loopbackHost(f.host);
      const secret = f.secretFile ? readSecretFile(f.secretFile, '--secret-file') : undefined;
      const endpoints = resolveEndpoints(f.endpoint);
      const client = await openClient({ endpoints, timeoutMs, ...(secret !== undefined ? { secret } : {}) });
      // Loaded here, not at the top: --help does not need the server or the page.
      const { DashboardServer } = await import('./dashboard-server.js');
      const server = new DashboardServer({ client, host, port, intervalMs, ...(secret !== undefined ? { secret } : {}) });
      const url = await server.start();
      console.log(`conclave dashboard: ${url}  (members: ${endpoints.join(', ')}; Ctrl-C stops it)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
      await client.close();
    });
}
