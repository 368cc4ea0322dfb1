// The kernel's network for the nemesis (`--network netns`): each machine (n1, n2, ...; a
// replacement n3-2 is machine 3 again) in its own network namespace with one veth on a
// bridge; the bridge, in the nemesis' namespace, carries the clients' traffic. Nothing beyond
// these namespaces is addressed: no namespace has a default route.
//
// Faults are kernel rules inside each machine's namespace:
// - partitions and one-way cuts: nft drop rules on the peers' addresses (clients still reach
//   every node, as the transport hook's partitions leave the admin channel alone);
// - loss: nft `numgen random` drops; duplication: an nft netdev egress `dup`;
// - delay and reordering: sch_netem where the kernel has it; otherwise (this machine's
//   kernel has no netem) an HTB slow lane that nft sends a random share of the peer
//   packets through, so that they queue behind each other and arrive late, overtaken by
//   the rest.
//
// Names carry a random tag, so parallel runs do not collide; destroy() (and an exit hook,
// for a run that dies) removes every namespace and the bridge.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const COMMAND_TIMEOUT_MS = 10_000;
/** The port every node listens on, in its own namespace. */
export const NETNS_NODE_PORT = 7000;
const MAX_MACHINES = 50;

export class NetnsUnavailableError extends Error {
  readonly code = 'NETNS_UNAVAILABLE';
  constructor(why: string) {
    super(`network namespaces are not available: ${why}`);
    this.name = 'NetnsUnavailableError';
  }
}

/**
 * The system tool by absolute path: under npm, node_modules/.bin comes first in PATH, and
 * an npm package there is also called `nft`.
 */
export function systemTool(name: string): string | null {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

function tool(name: string): string {
  const path = systemTool(name);
  if (!path) throw new NetnsUnavailableError(`'${name}' is missing (apt-get install -y nftables iproute2)`);
  return path;
}

/** Why this process cannot make namespaces, or null when it can (root, with ip, tc and nft). */
export async function netnsUnavailableReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const [name, args] of [['ip', ['-V']], ['nft', ['--version']], ['tc', ['-V']]] as const) {
    const path = systemTool(name);
    if (!path) return `'${name}' is missing (apt-get install -y nftables iproute2)`;
    try {
      await run(path, [...args], { timeout: COMMAND_TIMEOUT_MS });
    } catch (err) {
      return `'${path}' does not run: ${(err as Error).message}`;
    }
  }
  return null;
}

async function sh(name: string, args: readonly string[], input?: string): Promise<string> {
  const cmd = tool(name);
  try {
    if (input === undefined) return (await run(cmd, [...args], { timeout: COMMAND_TIMEOUT_MS })).stdout;
    return await new Promise<string>((resolve, reject) => {
      const child = execFile(cmd, [...args], { timeout: COMMAND_TIMEOUT_MS }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin!.end(input);
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** The machine a member id runs on: n3 and its replacement n3-2 are both machine 3. */
export function machineOf(id: string): number {
  const m = /^n(\d+)(?:-\d+)?$/.exec(id);
  if (!m) throw new Error(`member id '${id}' does not name a machine (n<number>)`);
  return Number(m[1]);
}

export interface LinkFaults {
  /** Percent of peer packets dropped. */
  readonly lossPercent?: number;
  /** Percent of packets sent twice. */
  readonly duplicatePercent?: number;
  /** Percent of peer packets held back (netem delay, or the slow lane): late and reordered. */
  readonly delayPercent?: number;
  readonly delayMs?: number;
}

export class NetnsNetwork {
  private destroyed = false;
  private readonly onExit = () => this.destroySync();
  /** Whether the kernel has sch_netem; else delays use the HTB slow lane. */
  private netem = false;

  private constructor(
    readonly tag: string,
    /** The first three octets of the private /24 that only these namespaces use. */
    private readonly prefix: string,
    readonly machines: number,
  ) {}

  /** Makes the bridge and one namespace per machine (1..machines). */
  static async create(machines: number): Promise<NetnsNetwork> {
    if (machines < 1 || machines > MAX_MACHINES) throw new Error(`machines must be 1..${MAX_MACHINES}, got ${machines}`);
    const why = await netnsUnavailableReason();
    if (why) throw new NetnsUnavailableError(why);
    const used = await sh('ip', ['-4', '-o', 'addr', 'show']);
    let prefix = '';
    for (let i = 0; i < 100 && !prefix; i++) {
      const b = randomBytes(2);
      const candidate = `10.${200 + (b[0]! % 50)}.${b[1]!}`;
      if (!used.includes(` ${candidate}.`)) prefix = candidate;
    }
    if (!prefix) throw new NetnsUnavailableError('no free private /24 for the bridge');
    const net = new NetnsNetwork(randomBytes(3).toString('hex'), prefix, machines);
    process.once('exit', net.onExit);
    try {
      await net.build();
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  get bridge(): string {
    return `cvb${this.tag}`;
  }

  namespace(machine: number): string {
    return `conclave-${this.tag}-m${machine}`;
  }

  private hostVeth(machine: number): string {
    return `cv${this.tag}m${machine}`;
  }

  /** The node address of a member (same for n3 and n3-2). */
  host(id: string): string {
    const m = machineOf(id);
    if (m > this.machines) throw new Error(`member ${id}: machine ${m} beyond the ${this.machines} made`);
    return `${this.prefix}.${m}`;
  }

  address(id: string): string {
    return `${this.host(id)}:${NETNS_NODE_PORT}`;
  }

  /** The command line that runs `cmd args` inside the member's namespace. */
  wrap(id: string, cmd: string, args: readonly string[]): { cmd: string; args: string[] } {
    return { cmd: tool('ip'), args: ['netns', 'exec', this.namespace(machineOf(id)), cmd, ...args] };
  }

  private async build(): Promise<void> {
    await sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${this.prefix}.254/24`, 'dev', this.bridge]);
    await sh('ip', ['link', 'set', this.bridge, 'up']);
    for (let m = 1; m <= this.machines; m++) {
      const ns = this.namespace(m);
      await sh('ip', ['netns', 'add', ns]);
      await sh('ip', ['link', 'add', this.hostVeth(m), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await sh('ip', ['link', 'set', this.hostVeth(m), 'master', this.bridge]);
      await sh('ip', ['link', 'set', this.hostVeth(m), 'up']);
      await sh('ip', ['-n', ns, 'addr', 'add', `${this.prefix}.${m}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await this.nft(m, this.baseRuleset());
    }
    this.netem = await this.tryNetem();
    if (!this.netem) for (let m = 1; m <= this.machines; m++) await this.slowLane(m);
  }

  private async nft(machine: number, script: string): Promise<void> {
    await sh('ip', ['netns', 'exec', this.namespace(machine), tool('nft'), '-f', '-'], script);
  }

  private peersOf(machine: number): string {
    const peers = [];
    for (let m = 1; m <= this.machines; m++) if (m !== machine) peers.push(`${this.prefix}.${m}`);
    return peers.join(', ');
  }

  /** Empty chains: `cut` (partitions), `link` (loss, slow lane), and netdev `dup`. */
  private baseRuleset(): string {
    return `table inet conclave {
  chain input { type filter hook input priority 0; policy accept; jump cut_in; }
  chain output { type filter hook output priority 0; policy accept; jump cut_out; jump link; }
  chain cut_in {}
  chain cut_out {}
  chain link {}
}
table netdev conclave_dup {
  chain egress { type filter hook egress device "eth0" priority 0; policy accept; }
}
`;
  }

  private async tryNetem(): Promise<boolean> {
    try {
      await sh('ip', ['netns', 'exec', this.namespace(1), tool('tc'), 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '0ms']);
      await sh('ip', ['netns', 'exec', this.namespace(1), tool('tc'), 'qdisc', 'del', 'dev', 'eth0', 'root']);
      return true;
    } catch {
      return false;
    }
  }

  /** HTB: 1:10 at line rate (the default), 1:20 a slow lane at 1 Mbit/s. */
  private async slowLane(machine: number): Promise<void> {
    const tc = (...a: string[]) => sh('ip', ['netns', 'exec', this.namespace(machine), tool('tc'), ...a]);
    await tc('qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '10');
    await tc('class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit');
    await tc('class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '1mbit', 'ceil', '1mbit', 'burst', '2k', 'cburst', '2k');
  }

  get delayMechanism(): 'netem' | 'htb-slow-lane' {
    return this.netem ? 'netem' : 'htb-slow-lane';
  }

  /** Sides of member ids: no packet crosses from one side to another (members on no side keep every link). */
  async partition(sides: readonly (readonly string[])[]): Promise<void> {
    const sideOf = new Map<number, number>();
    sides.forEach((s, i) => s.forEach((id) => sideOf.set(machineOf(id), i)));
    await Promise.all(
      [...sideOf].map(([m, side]) => {
        const others = [...sideOf].filter(([, s]) => s !== side).map(([o]) => `${this.prefix}.${o}`);
        return others.length === 0 ? Promise.resolve() : this.cut(m, others, others);
      }),
    );
  }

  /** Packets from `from` to `to` are dropped; the other direction still flows. */
  async oneWay(from: string, to: string): Promise<void> {
    await this.cut(machineOf(from), [this.host(to)], []);
    await this.cut(machineOf(to), [], [this.host(from)]);
  }

  private async cut(machine: number, outTo: readonly string[], inFrom: readonly string[]): Promise<void> {
    const rules = [
      ...(outTo.length ? [`add rule inet conclave cut_out ip daddr { ${outTo.join(', ')} } drop`] : []),
      ...(inFrom.length ? [`add rule inet conclave cut_in ip saddr { ${inFrom.join(', ')} } drop`] : []),
    ];
    await this.nft(machine, rules.join('\n') + '\n');
  }

  /** Loss, duplication and delay on every machine's links to its peers. */
  async degrade(f: LinkFaults): Promise<void> {
    for (let m = 1; m <= this.machines; m++) {
      const peers = this.peersOf(m);
      const rules: string[] = [];
      if (f.lossPercent) rules.push(`add rule inet conclave link ip daddr { ${peers} } numgen random mod 100 < ${Math.round(f.lossPercent)} drop`);
      if (f.delayPercent && !this.netem) rules.push(`add rule inet conclave link ip daddr { ${peers} } numgen random mod 100 < ${Math.round(f.delayPercent)} meta priority set 1:20`);
      if (f.duplicatePercent) rules.push(`add rule netdev conclave_dup egress ip daddr { ${peers} } numgen random mod 100 < ${Math.round(f.duplicatePercent)} dup to "eth0"`);
      if (rules.length) await this.nft(m, rules.join('\n') + '\n');
      if (f.delayPercent && this.netem) {
        await sh('ip', ['netns', 'exec', this.namespace(m), tool('tc'), 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', `${f.delayMs ?? 50}ms`, `${Math.round((f.delayMs ?? 50) / 2)}ms`, 'reorder', `${100 - f.delayPercent}%`]);
      }
    }
  }

  /** Clears every cut and link fault. */
  async heal(): Promise<void> {
    for (let m = 1; m <= this.machines; m++) {
      await this.nft(m, 'flush chain inet conclave cut_in\nflush chain inet conclave cut_out\nflush chain inet conclave link\nflush chain netdev conclave_dup egress\n');
      if (this.netem) await sh('ip', ['netns', 'exec', this.namespace(m), tool('tc'), 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => {});
    }
  }

  /** Removes the namespaces (their veths go with them) and the bridge; safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    for (let m = 1; m <= this.machines; m++) await sh('ip', ['netns', 'del', this.namespace(m)]).catch(() => {});
    // A namespace lives on while a process is still in it (a node being killed), and with it
    // the veth pair: delete the host ends ourselves, which takes the pairs down at once.
    for (let m = 1; m <= this.machines; m++) await sh('ip', ['link', 'del', this.hostVeth(m)]).catch(() => {});
    await sh('ip', ['link', 'del', this.bridge]).catch(() => {});
    for (let i = 0; i < 100 && (await NetnsNetwork.leftovers(this.tag)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (let m = 1; m <= this.machines; m++) {
      try {
        execFileSync(tool('ip'), ['netns', 'del', this.namespace(m)], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
      } catch {
        /* already gone */
      }
    }
    for (const link of [...Array.from({ length: this.machines }, (_, i) => this.hostVeth(i + 1)), this.bridge]) {
      try {
        execFileSync(tool('ip'), ['link', 'del', link], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
      } catch {
        /* already gone */
      }
    }
  }

  /** Namespaces and links of this run that still exist (for the test that checks cleanup). */
  static async leftovers(tag: string): Promise<string[]> {
    const ns = (await sh('ip', ['netns', 'list'])).split('\n').filter((l) => l.includes(`conclave-${tag}-`));
    const links = (await sh('ip', ['-o', 'link', 'show'])).split('\n').filter((l) => l.includes(`cvb${tag}`) || l.includes(`cv${tag}m`));
    return [...ns, ...links].map((l) => l.trim());
  }
}
