// Shared test helpers: bounded waits, message builders, in-process clusters, child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { emptyMessage, type Entry, type Message, type NodeId } from '@conclave/core';
import { Transport, type TransportOptions } from '../src/index.js';
import { WebSocket } from 'ws';
import { decodeControl, encodeControl } from '../src/codec.js';
import { computeProof, newNonce } from '../src/handshake.js';
import { PEER_PATH, PROTOCOL_VERSION } from '../src/constants.js';

export const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..', '..');
export const fixtures = join(here, 'fixtures');
export const SECRET = 'test-cluster-secret-0123456789abcdef';
export const ADMIN_SECRET = 'test-admin-secret-0123456789abcdef';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * How long a test waits for something that must happen. Generous: it only decides how soon a
 * broken test fails, and a loaded 2-core machine stretches everything (issue 11, item 16).
 */
export const WAIT_MS = 60_000;

/**
 * Liveness timeouts for transports whose test is not about detecting a dead peer: a stall of
 * this loaded process must not look like one (the default is 2 s).
 */
export const PATIENT_HEARTBEAT_TIMEOUT_MS = 120_000;

/** Polls `cond` every few ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Races `p` against a deadline. */
export async function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function entry(index: number, dataBytes: number, fill = index & 0xff): Entry {
  return { index, term: 1, type: 'normal', data: Buffer.alloc(dataBytes, fill) };
}

export function appMessage(from: NodeId, to: NodeId, index: number, dataBytes = 16): Message {
  return { ...emptyMessage('app', from, to, 1), index, logTerm: 1, entries: [entry(index + 1, dataBytes)], commit: index };
}

export function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { ...emptyMessage('heartbeat', from, to, 1), commit };
}

export type Options = Omit<TransportOptions, 'id' | 'listen' | 'peers' | 'groupId'> & { groupId?: string };

/** Starts one transport per id on 127.0.0.1:0, then tells each the others' addresses. */
export async function startCluster(ids: NodeId[], options: Options = {}, perNode: Record<NodeId, Options> = {}): Promise<Map<NodeId, Transport>> {
  const out = new Map<NodeId, Transport>();
  for (const id of ids) {
    const patient = options.heartbeatIntervalMs === undefined && perNode[id]?.heartbeatIntervalMs === undefined ? { heartbeatTimeoutMs: PATIENT_HEARTBEAT_TIMEOUT_MS } : {};
    const t = new Transport({ groupId: 'g1', ...patient, ...options, ...perNode[id], id, listen: '127.0.0.1:0', peers: {} });
    await t.start();
    out.set(id, t);
  }
  const peers: Record<NodeId, string> = {};
  for (const [id, t] of out) peers[id] = t.listenAddress;
  for (const t of out.values()) t.setPeers(peers);
  return out;
}

export async function waitConnected(ts: Map<NodeId, Transport>, timeoutMs = WAIT_MS): Promise<void> {
  await waitFor(() => [...ts.values()].every((t) => Object.values(t.stats().peers).every((p) => p.connected && p.inboundConnected)), 'every link to connect', timeoutMs);
}

export async function closeAll(ts: Iterable<Transport>): Promise<void> {
  await Promise.all([...ts].map((t) => t.close()));
}

/** Collects every message a transport receives. */
export function collect(t: Transport): Message[] {
  const got: Message[] = [];
  t.onMessage((m) => got.push(m));
  return got;
}

// --- child processes ---------------------------------------------------------------------

export interface ChildEvent {
  event: string;
  [k: string]: unknown;
}

/** A transport in a child process (test/fixtures/peer-process.ts) driven over stdin/stdout. */
export class ChildPeer {
  readonly events: ChildEvent[] = [];
  exited = false;
  /** The child's listen address, from its 'ready' event. */
  address = '';
  private constructor(readonly proc: ChildProcess) {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as ChildEvent);
      } catch {
        // not ours (a warning): ignore
      }
    });
    proc.stderr!.on('data', (d: Buffer) => process.stderr.write(`[child ${proc.pid}] ${d.toString()}`));
    proc.on('exit', () => {
      this.exited = true;
    });
  }

  static async spawn(config: Record<string, unknown>, timeoutMs = WAIT_MS): Promise<ChildPeer> {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(fixtures, 'peer-process.ts'), JSON.stringify(config)], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const child = new ChildPeer(proc);
    try {
      child.address = (await child.next('ready', timeoutMs)).address as string;
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
    return child;
  }

  command(cmd: Record<string, unknown>): void {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  /** Waits for the next event named `name` not yet consumed. */
  async next(name: string, timeoutMs = WAIT_MS): Promise<ChildEvent> {
    let found: ChildEvent | undefined;
    await waitFor(() => {
      const i = this.events.findIndex((e) => e.event === name);
      if (i < 0) return false;
      found = this.events.splice(i, 1)[0];
      return true;
    }, `child event '${name}'`, timeoutMs);
    return found!;
  }

  async stats(timeoutMs = WAIT_MS): Promise<Record<string, unknown>> {
    this.command({ cmd: 'stats' });
    return (await this.next('stats', timeoutMs)).stats as Record<string, unknown>;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = WAIT_MS): Promise<void> {
    if (this.exited) return;
    this.proc.kill(signal);
    await waitFor(() => this.exited, `child ${this.proc.pid} to exit`, timeoutMs);
  }
}

// --- raw WebSocket clients, to speak (or break) the protocol by hand ----------------------


export interface Closed {
  code: number;
  reason: string;
}

export class RawClient {
  readonly frames: Buffer[] = [];
  closed: Closed | null = null;
  /** Re-checked on every frame and on close: waits are event-driven, not polled. */
  private readonly checks = new Set<() => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.frames.push(d as Buffer);
      this.poke();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.poke();
    });
    ws.on('error', () => {});
  }

  static async open(address: string, path = PEER_PATH, timeoutMs = WAIT_MS): Promise<RawClient> {
    const ws = new WebSocket(`ws://${address}${path}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const c = new RawClient(ws);
    await within(new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(new Error('closed before open')));
    }), timeoutMs, `raw connect to ${address}`);
    return c;
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Resolves once `cond` holds (checked now and after each frame or close, and when poked). */
  until(cond: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.checks.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.checks.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.checks.add(check);
    });
  }

  /** Re-runs pending until() checks (for conditions outside this client). */
  poke(): void {
    for (const check of [...this.checks]) check();
  }

  async nextFrame(timeoutMs = WAIT_MS): Promise<Record<string, unknown>> {
    await this.until(() => this.frames.length > 0 || this.closed !== null, 'a frame', timeoutMs);
    const f = this.frames.shift();
    if (!f) throw new Error(`closed instead: ${JSON.stringify(this.closed)}`);
    const ctrl = decodeControl(f);
    if (typeof ctrl === 'string') throw new Error(ctrl);
    return ctrl;
  }

  async waitClosed(timeoutMs = WAIT_MS): Promise<Closed> {
    await this.until(() => this.closed !== null, 'the server to close the connection', timeoutMs);
    return this.closed!;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export interface HandshakeParams {
  from: string;
  to: string;
  group: string;
  secret?: string | null;
  version?: number;
  nonce?: Buffer;
}

/** Runs the client side of the peer handshake by hand; returns what was sent, for replays. */
export async function rawHandshake(c: RawClient, p: HandshakeParams): Promise<{ hello: Buffer; auth: Buffer | null; welcome: boolean }> {
  const nonce = p.nonce ?? newNonce();
  const version = p.version ?? PROTOCOL_VERSION;
  const hello = encodeControl({ k: 'hello', v: version, group: p.group, from: p.from, to: p.to, nonce });
  c.send(hello);
  await c.until(() => c.frames.length > 0 || c.closed !== null, 'challenge or close');
  if (c.closed) return { hello, auth: null, welcome: false };
  const challenge = await c.nextFrame();
  const proof = p.secret
    ? computeProof(Buffer.from(p.secret), 'client', { version, group: p.group, serverId: p.to, clientId: p.from, clientNonce: nonce, serverNonce: challenge.nonce as Uint8Array })
    : Buffer.alloc(0);
  const auth = encodeControl({ k: 'auth', proof });
  c.send(auth);
  await c.until(() => c.frames.length > 0 || c.closed !== null, 'welcome or close');
  if (c.closed) return { hello, auth, welcome: false };
  const welcome = await c.nextFrame();
  return { hello, auth, welcome: welcome.k === 'welcome' };
}
