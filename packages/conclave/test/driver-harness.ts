// A deterministic harness around one real ConclaveNode (its LevelDB storage, its Ready
// loop): the test plays the other members by stepping forged messages into the node and
// reading what it sends. The other members' addresses are free loopback ports that nobody
// listens on, and the tick is slow, so no timer decides anything while a test runs.
import { emptyMessage, initialGroup, type Entry, type Message, type MessageType, type NodeId, type RaftNode, type SnapshotMeta } from '@conclave/core';
import { encodeCommand, NodeStorage } from '@conclave/storage';
import { openNode, type ConclaveNode, type OpenNodeOptions } from '../src/index.js';
import { freePorts, quietLogger, tempDir, waitFor } from './helpers.js';

export const GROUP_ID = 'harness';

/** The private parts of ConclaveNode a harness reaches into: its NodeContext and its Ready loop (node-rooms.ts). */
interface NodeRooms {
  ctx: { raft: RaftNode; storage: NodeStorage; transport: { send(m: Message): void } };
  rooms: {
    loop: {
      loopRunning: Promise<void> | null;
      loopScheduled: boolean;
      busy: boolean;
      onMessage(m: Message): void;
      receiveSnapshot(from: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
    };
  };
}

/** The same, as one view. */
interface NodeInternals {
  raft: RaftNode;
  storage: NodeStorage;
  transport: { send(m: Message): void };
  loopRunning: Promise<void> | null;
  loopScheduled: boolean;
  /** A log write or an apply is under way (the loop hands them off: log-writer.ts). */
  busy: boolean;
  onMessage(m: Message): void;
  receiveSnapshot(from: NodeId, index: number, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
}

export class DriverHarness {
  readonly sent: Message[] = [];
  private constructor(
    readonly node: ConclaveNode,
    readonly peers: Record<string, string>,
    readonly options: OpenNodeOptions,
    private readonly dir: { path: string; remove: () => void },
  ) {
    // Record what the node sends instead of sending it: nobody listens on the other ports.
    this.internals.transport.send = (m: Message) => {
      this.sent.push(m);
    };
  }

  /** Opens `self` of the group n1, n2, n3. */
  static async open(self: NodeId = 'n1', extra: Partial<OpenNodeOptions> = {}): Promise<DriverHarness> {
    const ports = await freePorts(3);
    const peers: Record<string, string> = { n1: `127.0.0.1:${ports[0]}`, n2: `127.0.0.1:${ports[1]}`, n3: `127.0.0.1:${ports[2]}` };
    const dir = tempDir('harness');
    const options: OpenNodeOptions = { id: self, groupId: GROUP_ID, dataDir: dir.path, listen: peers[self]!, peers, tickMs: 1000, logger: quietLogger, ...extra };
    const node = await openNode(options);
    const h = new DriverHarness(node, peers, options, dir);
    await h.idle(); // the bootstrap entries (the group's members) are applied
    return h;
  }

  get internals(): NodeInternals {
    const { ctx, rooms } = this.node as unknown as NodeRooms;
    const loop = rooms.loop;
    return {
      raft: ctx.raft,
      storage: ctx.storage,
      transport: ctx.transport,
      get loopRunning() {
        return loop.loopRunning;
      },
      get loopScheduled() {
        return loop.loopScheduled;
      },
      get busy() {
        return loop.busy;
      },
      onMessage: (m) => loop.onMessage(m),
      receiveSnapshot: (from, _index, meta, chunks) => loop.receiveSnapshot(from, meta, chunks),
    };
  }

  get raft(): RaftNode {
    return this.internals.raft;
  }

  get storage(): NodeStorage {
    return this.internals.storage;
  }

  /** A message to this node, from `from`, in the node's current term unless given. */
  message(type: MessageType, from: NodeId, fields: Partial<Message> = {}): Message {
    return { ...emptyMessage(type, from, this.node.id, this.raft.currentTerm), ...fields };
  }

  deliver(m: Message): void {
    this.internals.onMessage(m);
  }

  /** Waits until the Ready loop has nothing left to do. */
  async idle(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => !this.internals.loopRunning && !this.internals.loopScheduled && !this.internals.busy && !this.raft.hasReady(), timeoutMs, 'the Ready loop to go idle');
  }

  /** Makes this node the leader with n2's votes and has n2 acknowledge the leader's first entry. */
  async electSelf(): Promise<void> {
    await this.winElection();
    this.ack('n2', this.raft.status().lastIndex);
    await this.idle();
  }

  /** Campaigns (leaving whatever leader it follows) and wins with n2's pre-vote and vote. */
  async winElection(): Promise<void> {
    const term = this.raft.currentTerm;
    if (this.raft.leaderId !== null) this.node.leaveElection();
    this.node.pingElection();
    await this.idle();
    this.deliver(this.message('preVoteResp', 'n2', { term: term + 1 }));
    await this.idle();
    this.deliver(this.message('voteResp', 'n2'));
    await this.idle();
    if (!this.node.isLeader) throw new Error(`the harness node did not become leader (role ${this.raft.currentRole})`);
  }

  /** `from` acknowledges having the leader's log up to `index`. */
  ack(from: NodeId, index: number): void {
    this.deliver(this.message('appResp', from, { index }));
  }

  async close(): Promise<void> {
    await this.node.close().catch(() => {});
    this.dir.remove();
  }

  /** Reopens the node on the same data directory (a restart). */
  async reopen(): Promise<DriverHarness> {
    await this.node.close();
    const node = await openNode(this.options);
    return new DriverHarness(node, this.peers, this.options, this.dir);
  }
}

/** A leader's snapshot of `count` puts in `term`: its meta and its chunks, as the transport would hand them over. */
export async function leaderSnapshot(peers: Record<string, string>, count: number, term: number, prefix = 'k'): Promise<{ meta: SnapshotMeta; chunks: Uint8Array[] }> {
  // Small chunks, so that a snapshot of a few keys comes in several.
  const s = await NodeStorage.open({ path: `leader-${prefix}-${term}`, backend: 'memory', snapshotChunkMaxBytes: 64 });
  try {
    await s.initializeGroup(initialGroup(GROUP_ID, peers));
    const entries: Entry[] = [];
    for (let i = 1; i <= count; i++) entries.push({ index: i, term, type: 'normal', data: encodeCommand({ op: 'put', key: `${prefix}${i}`, value: i }) });
    await s.writeReady({ hardState: { term, vote: 'n2', commit: count }, entries });
    await s.applyEntries(entries);
    const stream = await s.openSnapshot();
    const chunks: Uint8Array[] = [];
    for await (const c of stream) chunks.push(c);
    await stream.close();
    return { meta: stream.meta, chunks };
  } finally {
    await s.close();
  }
}

/** Chunks as an async iterable whose next chunk waits for `gate` (if given) before it comes. */
export async function* chunksOf(chunks: readonly Uint8Array[], gate?: (i: number) => Promise<void>): AsyncIterable<Uint8Array> {
  for (let i = 0; i < chunks.length; i++) {
    if (gate) await gate(i);
    yield chunks[i]!;
  }
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
