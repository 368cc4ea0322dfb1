// TurnWriter: the admin frames of one event-loop turn leave in one socket write.
import test from 'ava';
import { WebSocket, WebSocketServer } from 'ws';
import { TurnWriter } from '../src/sockets.js';

/** A stand-in for ws: records each frame with whether its socket was corked when it went. */
function fakeWs(): { ws: WebSocket; log: string[] } {
  const log: string[] = [];
  let corks = 0;
  const socket = {
    cork: () => {
      corks++;
      log.push('cork');
    },
    uncork: () => {
      corks--;
      log.push('uncork');
    },
  };
  const ws = { _socket: socket, send: (frame: Buffer) => log.push(`${frame.toString()}${corks > 0 ? ' corked' : ''}`) };
  return { ws: ws as unknown as WebSocket, log };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('frames sent in one turn, from callbacks and promise work alike, go out corked once and are uncorked after the turn', async (t) => {
  const { ws, log } = fakeWs();
  const out = new TurnWriter(ws);
  out.send(Buffer.from('a'));
  await Promise.resolve();
  out.send(Buffer.from('b'));
  queueMicrotask(() => out.send(Buffer.from('c')));
  await nextTurn();
  t.deepEqual(log, ['cork', 'a corked', 'b corked', 'c corked', 'uncork']);
  out.send(Buffer.from('d'));
  await nextTurn();
  t.deepEqual(log.slice(5), ['cork', 'd corked', 'uncork'], 'the next turn corks again');
});

test('without a socket to cork, frames are still sent', (t) => {
  const log: string[] = [];
  const out = new TurnWriter({ send: (f: Buffer) => log.push(f.toString()) } as unknown as WebSocket);
  out.send(Buffer.from('x'));
  t.deepEqual(log, ['x']);
});

test('the installed ws exposes the socket TurnWriter corks, on both ends of a connection', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const served = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const server = await served;
  t.true(new TurnWriter(client).batching);
  t.true(new TurnWriter(server).batching);
  client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});
