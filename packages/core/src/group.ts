// Group metadata: pure functions over the replicated membership.
import { ConfChangeError, InvalidArgumentError } from './errors.js';
import type { ConfChange, GroupMetadata, Member, NodeId } from './types.js';

export const DEFAULT_PRIORITY = 1;

export function findMember(group: GroupMetadata, id: NodeId): Member | undefined {
  return group.members.find((m) => m.id === id);
}

/** Members that take part in replication (electable and secondary), removed ones excluded. */
export function activeMembers(group: GroupMetadata): Member[] {
  return group.members.filter((m) => !m.removed);
}

/** Non-removed electable members: the voters, and the only members that count for commit. */
export function electableIds(group: GroupMetadata): NodeId[] {
  return group.members.filter((m) => !m.removed && m.type === 'electable').map((m) => m.id);
}

/** JE HA's Electable Group Size: always derived from the metadata, never stored. */
export function electableGroupSize(group: GroupMetadata): number {
  return electableIds(group).length;
}

export function isElectable(group: GroupMetadata, id: NodeId): boolean {
  const m = findMember(group, id);
  return m !== undefined && !m.removed && m.type === 'electable';
}

const CONF_FIELDS: Readonly<Record<string, readonly string[]>> = {
  addElectable: ['op', 'id', 'address', 'priority'],
  addSecondary: ['op', 'id', 'address', 'priority'],
  promote: ['op', 'id'],
  remove: ['op', 'id'],
};

/**
 * Why `c` is not a well-formed ConfChange, or null. Every path into the log checks this
 * (proposals, the wire, storage): one malformed change in the log would stop every node
 * that tries to send or read it back.
 */
export function confChangeProblem(c: unknown): string | null {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return 'a membership change must be an object';
  const o = c as Record<string, unknown>;
  const fields = typeof o.op === 'string' ? CONF_FIELDS[o.op] : undefined;
  if (!fields) return `unknown membership change op ${JSON.stringify(o.op)?.slice(0, 40)}`;
  for (const k of Object.keys(o)) if (!fields.includes(k)) return `membership change ${o.op} has unknown field '${k.slice(0, 40)}'`;
  if (o.id === undefined) return `membership change ${o.op} has no member id`;
  if (typeof o.id !== 'string' || !NODE_ID_RE.test(o.id)) return `membership change ${o.op}: member id '${String(o.id).slice(0, 70)}' must be 1-64 characters of [A-Za-z0-9_.-]`;
  if (fields.includes('address')) {
    if (o.address === undefined) return `membership change ${o.op} ${o.id} has no address`;
    if (typeof o.address !== 'string' || ADDRESS_RE.exec(o.address) === null) return `membership change ${o.op} ${o.id}: address '${String(o.address).slice(0, 70)}' is not HOST:PORT`;
    const port = Number(ADDRESS_RE.exec(o.address)![2]);
    // Port 0: a member on an ephemeral port that nobody dials (a group of one, see initialGroup).
    if (!(port >= 0 && port <= 65535)) return `membership change ${o.op} ${o.id}: port ${port} is not from 0 to 65535`;
    if (o.priority !== undefined && !(typeof o.priority === 'number' && Number.isSafeInteger(o.priority) && o.priority >= 0)) {
      return `membership change ${o.op} ${o.id}: priority must be an integer >= 0`;
    }
  }
  return null;
}

/** Returns `c` as a ConfChange, or throws InvalidArgumentError naming what is wrong. */
export function checkConfChange(c: unknown): ConfChange {
  const problem = confChangeProblem(c);
  if (problem) throw new InvalidArgumentError(problem);
  return c as ConfChange;
}

/** Checks a change against the group; returns the reason it is refused, or null. */
export function confChangeRefusal(group: GroupMetadata, change: ConfChange): string | null {
  const m = findMember(group, change.id);
  switch (change.op) {
    case 'addElectable':
    case 'addSecondary':
      if (m?.removed) return `member ${change.id} was removed; a removed id can never rejoin`;
      if (m) return `member ${change.id} is already in the group`;
      return null;
    case 'promote':
      if (!m) return `unknown member ${change.id}`;
      if (m.removed) return `member ${change.id} was removed`;
      if (m.type === 'electable') return `member ${change.id} is already electable`;
      return null;
    case 'remove':
      if (!m) return `unknown member ${change.id}`;
      if (m.removed) return `member ${change.id} is already removed`;
      if (m.type === 'electable' && electableGroupSize(group) === 1) return `member ${change.id} is the last electable member`;
      return null;
  }
}

/** Applies one committed change. Throws ConfChangeError if the change is not valid for `group`. */
export function applyConfChange(group: GroupMetadata, change: ConfChange): GroupMetadata {
  const refusal = confChangeRefusal(group, change);
  if (refusal) throw new ConfChangeError(refusal);
  switch (change.op) {
    case 'addElectable':
    case 'addSecondary': {
      const member: Member = {
        id: change.id,
        address: change.address,
        type: change.op === 'addElectable' ? 'electable' : 'secondary',
        removed: false,
        priority: change.priority ?? DEFAULT_PRIORITY,
      };
      return { groupId: group.groupId, members: [...group.members, member] };
    }
    case 'promote':
      return { groupId: group.groupId, members: group.members.map((m) => (m.id === change.id ? { ...m, type: 'electable' } : m)) };
    case 'remove':
      return { groupId: group.groupId, members: group.members.map((m) => (m.id === change.id ? { ...m, removed: true } : m)) };
  }
}

const ADDRESS_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Node and group ids: what can travel in handshakes, file names and CLI arguments. */
export const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Throws InvalidArgumentError naming `what` unless `id` is 1-64 characters of [A-Za-z0-9_.-]. */
export function checkId(id: unknown, what: string): asserts id is string {
  if (typeof id !== 'string' || !NODE_ID_RE.test(id)) throw new InvalidArgumentError(`${what} '${String(id)}' must be 1-64 characters of [A-Za-z0-9_.-]`);
}

export interface HostPort {
  /** Without brackets, as net.listen and tls want it. */
  readonly host: string;
  readonly port: number;
}

/**
 * Parses HOST:PORT ([v6]:PORT too) or throws InvalidArgumentError naming `what`.
 * `allowPortZero` is for listen addresses (pick a free port).
 */
export function parseAddress(address: string, what = 'address', opts: { allowPortZero?: boolean } = {}): HostPort {
  const m = typeof address === 'string' ? ADDRESS_RE.exec(address) : null;
  const port = m ? Number(m[2]) : NaN;
  const min = opts.allowPortZero ? 0 : 1;
  if (!m || !(port >= min && port <= 65535)) {
    throw new InvalidArgumentError(`${what} '${String(address)}' is not HOST:PORT with a port from ${min} to 65535`);
  }
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
}

/** Builds the initial metadata for a bootstrap: every listed peer is electable. */
export function initialGroup(groupId: string, peers: Readonly<Record<NodeId, string>>): GroupMetadata {
  if (!groupId) throw new InvalidArgumentError('groupId must be a non-empty string');
  const ids = Object.keys(peers);
  if (ids.length === 0) throw new InvalidArgumentError('peers must name at least one member');
  const members: Member[] = ids.map((id) => {
    checkId(id, 'member id');
    // A group of one may record port 0: it listens on an ephemeral port, and nobody dials it.
    parseAddress(peers[id]!, `address of ${id}`, { allowPortZero: ids.length === 1 });
    return { id, address: peers[id]!, type: 'electable', removed: false, priority: DEFAULT_PRIORITY };
  });
  return { groupId, members };
}

/** Validates a group read from storage or the wire; throws InvalidArgumentError on a bad shape. */
export function validateGroup(group: GroupMetadata): GroupMetadata {
  if (typeof group?.groupId !== 'string' || !Array.isArray(group.members)) {
    throw new InvalidArgumentError('group metadata must have a groupId string and a members array');
  }
  const seen = new Set<string>();
  for (const m of group.members) {
    if (typeof m?.id !== 'string' || seen.has(m.id)) throw new InvalidArgumentError(`group metadata has a bad or duplicate member id '${String(m?.id)}'`);
    seen.add(m.id);
    if (m.type !== 'electable' && m.type !== 'secondary') throw new InvalidArgumentError(`member ${m.id} has unknown type '${String(m.type)}'`);
    if (typeof m.removed !== 'boolean' || typeof m.address !== 'string' || !Number.isInteger(m.priority) || m.priority < 0) {
      throw new InvalidArgumentError(`member ${m.id} has a malformed address, removed flag or priority`);
    }
  }
  return group;
}
