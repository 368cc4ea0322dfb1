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
  private readonly root: string;

  constructor(location: string, options: ConclaveLevelOptions<K, V> = {}) {
    super(location, options);
    this.root = location;
  }

  protected override async openOwnNode(): Promise<ConclaveNode> {
    mkdirSync(this.root, { recursive: true });
    const ports = await freePorts(3);
    const peers = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    // A short election timeout: this process hosts every member of many groups.
    const options = (id: string): OpenNodeOptions => ({ id, dataDir: join(this.root, id), listen: peers[id]!, peers, tickMs: 20, logger: quietLogger });
    const nodes = await Promise.all(IDS.map((id) => openNode(options(id))));
    this.others = [nodes[0]!, nodes[2]!];
    // n1 campaigns at once (pre-vote first), rather than waiting out an election timeout.
    await waitFor(() => nodes[0]!.electableIds().length === 3, 5000, 'the membership applied on n1');
    nodes[0]!.pingElection();
    await waitFor(() => nodes.every((n) => n.status().leader?.id === 'n1') && nodes[1]!.status().appliedIndex >= nodes[0]!.status().commitIndex, 10_000, 'n1 to lead, known to all');
    return nodes[1]!;
  }

  protected override async closeOwnNode(node: ConclaveNode): Promise<void> {
    await Promise.all([node, ...this.others].map((n) => n.close()));
    this.others = [];
  }
}
