// Test helpers: free loopback ports, temp data directories, groups of in-process nodes,
// and bounded waits.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNode, type ConclaveNode, type OpenNodeOptions } from '../src/index.js';

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
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
    waitForLeader: async (timeoutMs = 5000) => {
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
