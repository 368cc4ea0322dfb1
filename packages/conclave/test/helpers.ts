// Test helpers: free loopback ports, temp data directories, groups of in-process nodes,
// and bounded waits.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNode, type ConclaveNode, type OpenNodeOptions } from '../src/index.js';

/**
 * Ports for loopback listeners, chosen below the kernel's ephemeral range. A port from the
 * ephemeral range (what listen(0) gives) can be taken by any outgoing connection of a parallel
 * test between this probe and the real listen, most often while a spawned node is still
 * starting; below the range only another listener can take it.
 */
export async function freePorts(n: number): Promise<number[]> {
  const [low, high] = listenerPortRange();
  const ports: number[] = [];
  for (let attempt = 0; ports.length < n; attempt++) {
    if (attempt >= 200 + n * 20) throw new Error(`no ${n} free loopback ports in ${low}-${high} after ${attempt} attempts`);
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port) || ports.includes(port)) continue;
    if (await canListen(port)) ports.push(port);
  }
  for (const p of ports) handedOut.add(p);
  return ports;
}

/** Ports this process has handed out already: never handed out twice. */
const handedOut = new Set<number>();

function listenerPortRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: assume the default range.
  }
  const high = Math.min(ephemeralLow, 65536);
  return [Math.max(1024, high - 12_000), high];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function tempDir(label: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `conclave-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const quietLogger = { info: () => {}, warn: () => {}, error: () => {} };

export interface LocalGroup {
  nodes: Map<string, ConclaveNode>;
  peers: Record<string, string>;
  dirs: Record<string, string>;
  options: (id: string) => OpenNodeOptions;
  leader(): ConclaveNode | null;
  waitForLeader(timeoutMs?: number): Promise<ConclaveNode>;
  close(): Promise<void>;
}

export async function startGroup(size: number, extra: Partial<OpenNodeOptions> = {}): Promise<LocalGroup> {
  const ports = await freePorts(size);
  const root = tempDir('group');
  const peers: Record<string, string> = {};
  const dirs: Record<string, string> = {};
  ports.forEach((p, i) => {
    peers[`n${i + 1}`] = `127.0.0.1:${p}`;
    dirs[`n${i + 1}`] = join(root.path, `n${i + 1}`);
  });
  // tickMs 50: a 500 ms election timeout, since every member shares this one (maybe loaded) process.
  const options = (id: string): OpenNodeOptions => ({ id, dataDir: dirs[id]!, listen: peers[id]!, peers, tickMs: 50, logger: quietLogger, ...extra });
  const nodes = new Map<string, ConclaveNode>();
  await Promise.all(Object.keys(peers).map(async (id) => nodes.set(id, await openNode(options(id)))));
  const group: LocalGroup = {
    nodes,
    peers,
    dirs,
    options,
    leader: () => [...nodes.values()].find((n) => n.isLeader) ?? null,
    // Generous: a deadline only bounds a failure, and a loaded machine (a second test run) slows elections.
    waitForLeader: async (timeoutMs = 30_000) => {
      const l = await waitFor(() => group.leader(), timeoutMs, 'a leader');
      return l;
    },
    close: async () => {
      await Promise.all([...nodes.values()].map((n) => n.close()));
      root.remove();
    },
  };
  return group;
}

/** Polls `probe` until it returns a truthy value; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Settles to 'ok' or the error's code, never throws. */
export function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code?: string; message?: string }) => e.code ?? `uncoded: ${e.message}`,
  );
}

/** Bounded wait for a promise that must settle: rejects naming `what` after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}
