// A synchronous in-memory network for unit tests: persist instantly, deliver everything,
// with per-link cuts. Unlike test/sim it gives step-by-step control over each message.
import { initialGroup, RaftNode, seededRandom, type Entry, type Message, type NodeId, type RaftConfig, type Ready } from '../src/index.js';

export interface NetOptions {
  ids: string[];
  config?: Partial<RaftConfig>;
  seed?: number;
}

export class Net {
  readonly nodes = new Map<NodeId, RaftNode>();
  /** Per-node applied entries (normal and conf), in order. */
  readonly applied = new Map<NodeId, Entry[]>();
  /** Messages in flight, delivered by deliver(). */
  inflight: Message[] = [];
  /** Every message ever sent, for assertions. */
  readonly sent: Message[] = [];
  private readonly cut = new Set<string>();
  /** Ready batches taken but not yet completed (for tests of the durability ordering). */
  readonly held = new Map<NodeId, Ready>();
  private readonly asyncWrites: boolean;

  constructor(opts: NetOptions) {
    this.asyncWrites = opts.config?.asyncStorageWrites === true;
    const peers: Record<string, string> = {};
    opts.ids.forEach((id, i) => (peers[id] = `127.0.0.1:${7001 + i}`));
    const group = initialGroup('g', peers);
    opts.ids.forEach((id, i) => {
      const node = RaftNode.bootstrap({ id, random: seededRandom((opts.seed ?? 1) * 31 + i), ...opts.config }, group);
      this.nodes.set(id, node);
      this.applied.set(id, []);
    });
    this.settle();
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  add(id: NodeId, node: RaftNode): void {
    this.nodes.set(id, node);
    this.applied.set(id, []);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  healAll(): void {
    this.cut.clear();
  }

  /** Runs one Ready for `id` to completion: persist (instant), send, apply, advance. */
  processReady(id: NodeId): boolean {
    const n = this.node(id);
    if (this.held.has(id) || !n.hasReady()) return false;
    const rd = n.ready();
    this.complete(id, rd);
    return true;
  }

  /** Runs one Ready to completion like processReady, and returns it for inspection. */
  take(id: NodeId): Ready {
    const rd = this.node(id).ready();
    this.complete(id, rd);
    return rd;
  }

  /** Takes a Ready and sends only what may go before the persist; the rest waits for release(). */
  hold(id: NodeId): Ready {
    const rd = this.node(id).ready();
    for (const m of rd.messages) this.enqueue(m);
    this.held.set(id, rd);
    return rd;
  }

  release(id: NodeId): void {
    const rd = this.held.get(id);
    if (!rd) throw new Error(`nothing held for ${id}`);
    this.held.delete(id);
    for (const m of rd.messagesAfterPersist) this.enqueue(m);
    this.applyAndAdvance(id, rd);
  }

  private complete(id: NodeId, rd: Ready): void {
    for (const m of rd.messages) this.enqueue(m);
    for (const m of rd.messagesAfterPersist) this.enqueue(m);
    this.applyAndAdvance(id, rd);
  }

  private applyAndAdvance(id: NodeId, rd: Ready): void {
    this.applied.get(id)!.push(...rd.committedEntries);
    this.node(id).advance(rd);
    // asyncStorageWrites: the write is durable at once here, as every write of this net is.
    if (this.asyncWrites) this.node(id).persisted(rd);
  }

  private enqueue(m: Message): void {
    this.sent.push(m);
    if (this.cut.has(`${m.from}>${m.to}`) || !this.nodes.has(m.to)) return;
    this.inflight.push(m);
  }

  /** Delivers everything in flight (filtered), once. */
  deliver(filter: (m: Message) => boolean = () => true): number {
    const batch = this.inflight;
    this.inflight = [];
    let n = 0;
    for (const m of batch) {
      if (!filter(m)) continue;
      this.node(m.to).step(m);
      n++;
    }
    return n;
  }

  /** Alternates Ready processing and delivery until nothing moves (bounded). */
  settle(filter?: (m: Message) => boolean): void {
    for (let round = 0; round < 10_000; round++) {
      let moved = false;
      for (const id of this.nodes.keys()) while (this.processReady(id)) moved = true;
      if (this.deliver(filter) > 0) moved = true;
      if (!moved) return;
    }
    throw new Error('network did not settle within 10000 rounds');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.tick();
      this.settle();
    }
  }

  /** Makes `id` campaign now and settles; returns whether it won. */
  elect(id: NodeId): boolean {
    this.node(id).campaign();
    this.settle();
    return this.node(id).currentRole === 'leader';
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.currentRole === 'leader').map(([id]) => id);
  }

  /** Proposes a string on `id`, settles, and returns the index it was given. */
  propose(id: NodeId, value: string): number {
    const { index } = this.node(id).propose(new TextEncoder().encode(value));
    this.settle();
    return index;
  }

  appliedValues(id: NodeId): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.type === 'normal')
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export const bytes = (s: string) => new TextEncoder().encode(s);
