// A ConclaveLevel on a member of its own fresh 3-member group, for the group run of
// abstract-level's suite: opening it starts the group in this process, and closing it
// stops all three. The database's member is a follower, so that writes are forwarded and
// linearizable reads confirm a read index with the leader.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConclaveLevel, openNode, type ConclaveLevelOptions, type ConclaveNode, type OpenNodeOptions } from '../../src/index.js';
import { freePorts, quietLogger, waitFor } from '../helpers.js';

const IDS = ['n1', 'n2', 'n3'];

export class GroupMemberLevel<K = string, V = string> extends ConclaveLevel<K, V> {
  private others: ConclaveNode[] = [];
  private peers: Record<string, string> | null = null;
  private readonly root: string;

  constructor(location: string, options: ConclaveLevelOptions<K, V> = {}) {
    super(location, options);
    this.root = location;
  }

  /** The group's other members (the leader among them, unless leadership moved). */
  get otherNodes(): readonly ConclaveNode[] {
    return this.others;
  }

  protected override async openOwnNode(): Promise<ConclaveNode> {
    mkdirSync(this.root, { recursive: true });
    // A reopen restarts the same group: its members know each other by these addresses.
    if (this.peers === null) {
      const ports = await freePorts(3);
      this.peers = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    }
    const peers = this.peers;
    // A short election timeout: this process hosts every member of many groups.
    const options = (id: string): OpenNodeOptions => ({ id, dataDir: join(this.root, id), listen: peers[id]!, peers, tickMs: 20, logger: quietLogger });
    const nodes = await Promise.all(IDS.map((id) => openNode(options(id))));
    // n1 campaigns as soon as the links are up (pre-vote first), rather than waiting out an
    // election timeout; votes asked for before would be lost. The links are the transport's
    // (the node context's, private: a test may look).
    const connected = (n: ConclaveNode): boolean => {
      const peers = (n as unknown as { ctx: { transport: { stats(): { peers: Record<string, { connected: boolean }> } } } }).ctx.transport.stats().peers;
      return Object.values(peers).filter((p) => p.connected).length === 2;
    };
    await waitFor(() => nodes[0]!.electableIds().length === 3 && nodes.every(connected), 15_000, 'the membership applied on n1, and every link up');
    if (!nodes.some((n) => n.status().leader !== null)) nodes[0]!.pingElection();
    const leader = await waitFor(() => {
      const l = nodes.find((n) => n.isLeader);
      return l && nodes.every((n) => n.status().leader?.id === l.id) ? l : null;
    }, 15_000, 'a leader known to all');
    const member = nodes.find((n) => n !== leader)!;
    await waitFor(() => member.status().appliedIndex >= leader.status().commitIndex, 15_000, 'the member to catch up');
    this.others = nodes.filter((n) => n !== member);
    return member;
  }

  protected override async closeOwnNode(node: ConclaveNode): Promise<void> {
    await Promise.all([node, ...this.others].map((n) => n.close()));
    this.others = [];
  }
}
