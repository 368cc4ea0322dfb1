// `conclave cluster up`: a local development group of node processes on loopback.
import type { Command } from 'commander';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_ENDPOINT, openClient } from './common.js';
import { DEFAULT_DASHBOARD_PORT } from './commands-dashboard.js';
import { parseIntArg } from './parse.js';

const STOP_TIMEOUT_MS = 10_000;

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('local development groups');
  cluster
    .command('up')
    .description('start a local group of node processes; Ctrl-C stops them cleanly')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--base-port <port>', 'first port; node i listens on base-port + i - 1', '7001')
    .option('--data <dir>', 'data directory root (node i uses <dir>/n<i>)', './data')
    .option('--tick-ms <ms>', 'tick interval', '100')
    .option('--dashboard-port <port>', 'port of the live dashboard on 127.0.0.1 (0 picks a free one)', String(DEFAULT_DASHBOARD_PORT))
    .option('--no-dashboard', 'do not serve the dashboard')
    .action(async (f: { nodes: string; basePort: string; data: string; tickMs: string; dashboardPort: string; dashboard: boolean }) => {
      const count = parseIntArg('--nodes', f.nodes, 1, 9);
      const base = parseIntArg('--base-port', f.basePort, 1, 65535 - count);
      const tickMs = parseIntArg('--tick-ms', f.tickMs, 1, 60_000);
      const dashboardPort = parseIntArg('--dashboard-port', f.dashboardPort, 0, 65535);
      const root = resolve(f.data);
      const peers = Array.from({ length: count }, (_, i) => [`n${i + 1}`, `127.0.0.1:${base + i}`] as const);
      const peerSpec = peers.map(([id, a]) => `${id}=${a}`).join(',');
      // Each node is this same program with the same node flags: the compiled CLI when
      // installed, the source through tsx (bin/conclave.mjs or `--import tsx`) in the repository.
      const self = process.argv[1] ?? 'conclave';
      const children = new Map<string, ChildProcess>();
      let stopping = false;
      for (const [id, address] of peers) {
        const dir = resolve(root, id);
        mkdirSync(dir, { recursive: true });
        const child = spawn(
          process.execPath,
          [...process.execArgv, self, 'node', 'start', '--id', id, '--data', dir, '--listen', address, '--peers', peerSpec, '--tick-ms', String(tickMs)],
          { stdio: ['ignore', 'inherit', 'inherit'] },
        );
        child.on('exit', (code, signal) => {
          children.delete(id);
          if (!stopping) console.error(`${id} exited (${signal ?? code}); the others keep running`);
        });
        children.set(id, child);
      }
      console.log(`conclave: ${count} nodes, data under ${root}`);
      for (const [id, address] of peers) console.log(`  ${id}  ${address}`);
      const endpointHint = peers[0]![1] === DEFAULT_ENDPOINT ? '' : ` --endpoint ${peers[0]![1]}`;
      console.log(`Try: npx conclave put a 1${endpointHint}   (Ctrl-C here stops the group)`);
      const client = await openClient({ endpoints: peers.map(([, a]) => a), timeoutMs: 2000 });
      let dashboard: { close(): Promise<void> } | null = null;
      if (f.dashboard) {
        const { DashboardServer } = await import('./dashboard-server.js');
        const server = new DashboardServer({ client, host: '127.0.0.1', port: dashboardPort, intervalMs: 1000 });
        try {
          console.log(`conclave: dashboard at ${await server.start()}`);
          dashboard = server;
        } catch (err) {
          console.error(`conclave: no dashboard: ${(err as Error).message} (pick another with --dashboard-port)`);
        }
      }
      const leaderWatch = (async () => {
        for (let i = 0; i < 200 && !stopping; i++) {
          try {
            const st = await client.status();
            if (st.leader) {
              console.log(`conclave: leader is ${st.leader.id} (${st.leader.address}), term ${st.term}`);
              return;
            }
          } catch {
            // not up yet
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await new Promise<void>((done) => {
        const stop = () => done();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const check = setInterval(() => {
          if (children.size === 0) {
            clearInterval(check);
            done();
          }
        }, 200);
      });
      stopping = true;
      await leaderWatch;
      await dashboard?.close();
      await client.close();
      console.log('conclave: stopping the group');
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise<void>((r) => {
              const killer = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
              c.once('exit', () => {
                clearTimeout(killer);
                r();
              });
              c.kill('SIGTERM');
            }),
        ),
      );
      console.log('conclave: stopped');
    });
}
