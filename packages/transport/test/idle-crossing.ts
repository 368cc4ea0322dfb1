// An admin endpoint that closes each connection as idle at the moment its first request
// arrives, before serving it: the race a real endpoint runs when a request crosses its idle
// close (sweep and frame in the same turn). The endpoint's own code decides and closes.
import { performance } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';
import { AdminServerConnection } from '../src/admin.js';
import { Lingering } from '../src/sockets.js';
import { newCounters } from '../src/stats.js';

export interface IdleCrossingServer {
  readonly address: string;
  /** Requests the endpoint handed to a handler: none, if the close came first. */
  readonly served: () => number;
  /** Connections accepted. */
  readonly connections: () => number;
  close(): Promise<void>;
}

/** `servePerConnection`: requests each connection serves before the next one crosses the close. */
export async function idleCrossingServer(servePerConnection = 0): Promise<IdleCrossingServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const lingering = new Lingering();
  let served = 0;
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    let open = false;
    let frames = 0;
    const conn = new AdminServerConnection(ws, {
      counters: newCounters(),
      lingering,
      adminSecret: null,
      adminEnabled: true,
      handler: () => () => ({ found: true, value: ++served }),
      authenticated: () => {
        open = true;
      },
      closed: () => {},
    });
    // Runs before the connection reads the frame: an idle sweep that finds nothing pending.
    ws.prependListener('message', () => {
      if (open && frames++ >= servePerConnection) conn.sweep(performance.now() + 1e9, 1e9, 0);
    });
  });
  return {
    address: `127.0.0.1:${(wss.address() as { port: number }).port}`,
    served: () => served,
    connections: () => connections,
    close: async () => {
      lingering.terminateAll();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
