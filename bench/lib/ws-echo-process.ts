// A raw `ws` echo server in its own process: the other end of the floor's round trip.
import { WebSocketServer } from 'ws';
import { serveIpc } from './ipc.js';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
await new Promise<void>((resolve) => server.once('listening', () => resolve()));

serveIpc(
  { port: () => (server.address() as { port: number }).port },
  () => new Promise<void>((resolve) => server.close(() => resolve())),
);
