// openNode() options, their defaults, and validation that names every bad value.
import { checkId, InvalidArgumentError, parseAddress, type AckPolicy, type NodeId } from '@conclave/core';
import type { SyncPolicy } from '@conclave/storage';
import { defaultLogger, isLogger, NodeLog, type Logger } from './log.js';

/**
 * JE's Durability, per write. JE's replicaSync is not offered: a replica fsyncs before it
 * acknowledges exactly when its own syncPolicy says so (always under 'sync'), and a write
 * cannot change that on the replicas, so the option is refused rather than ignored.
 */
export interface Durability {
  /**
   * The leader fsyncs its log (and everything written before it) before the write resolves,
   * whatever its syncPolicy: under 'writeNoSync' or 'noSync' that is an extra fdatasync.
   * false leaves it to the syncPolicy ('sync' fsyncs every write anyway). Default: true
   * under syncPolicy 'sync', false under the others.
   */
  readonly localSync: boolean;
  readonly replicaAck: AckPolicy;
  readonly ackTimeoutMs: number;
}

/** Where a write landed: read-your-writes anywhere with `{ atLeast: token }`. */
export interface CommitToken {
  readonly groupId: string;
  readonly term: number;
  readonly index: number;
}

export type Consistency = 'linearizable' | 'lease' | 'none' | { readonly maxLagMs: number } | { readonly atLeast: CommitToken };

export type { Logger } from './log.js';

export interface OpenNodeOptions {
  readonly id: NodeId;
  readonly dataDir: string;
  /** HOST:PORT this node listens on for peers and admin requests. */
  readonly listen: string;
  /** The initial members (id -> HOST:PORT), identical on every node; used only on an empty data directory. */
  readonly peers?: Readonly<Record<NodeId, string>>;
  /** HOST:PORT of a running member: join its group as a secondary (empty data directory only). */
  readonly join?: string;
  readonly groupId?: string;
  /** Shared cluster secret for peer links (required when listening beyond loopback). */
  readonly secret?: string;
  /** Credential for the admin endpoint (and write forwarding between members). */
  readonly adminSecret?: string;
  readonly tls?: { readonly keyFile: string; readonly certFile: string; readonly caFile: string };
  /** Initial ELECTABLE_GROUP_SIZE_OVERRIDE; a stored value from an earlier run wins unless this is given. */
  readonly electableGroupSizeOverride?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly syncPolicy?: SyncPolicy;
  readonly durability?: Partial<Durability>;
  /** Followers forward writes to the leader (default) or throw NotLeaderError. */
  readonly forwardWrites?: boolean;
  /** How long a write waits for enough electable replicas before InsufficientReplicasError. */
  readonly insufficientReplicasTimeoutMs?: number;
  /** Default deadline of reads that wait (linearizable, maxLagMs, atLeast). */
  readonly readTimeoutMs?: number;
  /** Default deadline of a write (put, delete, batch, compareAndSet), forwarded or not (default 8000). */
  readonly writeTimeoutMs?: number;
  /** openNode resolves only once the node is ready (node.ready(): a leader known, caught up). */
  readonly waitReady?: boolean;
  /**
   * false: the node's listening socket and its own timers do not keep the process alive, so
   * that it exits once nothing else is pending, as with classic-level (default true: a
   * member serves its peers until closed). Calls in progress still complete.
   */
  readonly keepProcessAlive?: boolean;
  readonly snapshotIntervalEntries?: number;
  readonly entriesKeptAfterSnapshot?: number;
  /** Snapshot also once this many bytes of log were applied since the last one (default 64 MiB). */
  readonly snapshotIntervalBytes?: number;
  /** Keep at most this many bytes of log behind a snapshot (default 64 MiB). */
  readonly bytesKeptAfterSnapshot?: number;
  /** Watch history: the changes of the latest this many revisions are kept for fromRevision (default 100,000)... */
  readonly watchHistoryRevisions?: number;
  /** ...within at most this many bytes (default 64 MiB). */
  readonly watchHistorySizeBytes?: number;
  /** Most bytes of events one watcher may have queued before it is closed with WatchOverflowError (default 4 MiB). */
  readonly watchQueueSizeBytes?: number;
  /** Most watchers open on this member at once (default 1024); more are refused. */
  readonly maxWatchers?: number;
  /** Most bytes of events all watchers of this member may have queued; past it the furthest behind is closed (default 64 MiB). */
  readonly watchBuffersSizeBytes?: number;
  /** Serve the `test.faults` admin method (partitions, drops, delays): for tests and the nemesis only. */
  readonly enableFaultInjection?: boolean;
  /** Any pino-compatible logger (called as `logger.info(fields, message)`); default: pino, JSON lines on stderr. */
  readonly logger?: Logger;
  /** Serve GET /metrics (Prometheus text) on the listen address. Default true. */
  readonly metrics?: boolean;
  /**
   * JE's TXN_ROLLBACK_LIMIT: how many committed writes this node may roll back on its own
   * when it finds it diverged from the leader (only possible after the override was used on
   * both sides of a partition). Default 10.
   */
  readonly rollbackLimit?: number;
  /** Accept a rollback of any size (the operator's answer to RollbackProhibitedError). */
  readonly acceptRollback?: boolean;
}

export const DEFAULT_DURABILITY: Durability = { localSync: true, replicaAck: 'simpleMajority', ackTimeoutMs: 5000 };

/** A node's default durability: localSync follows its syncPolicy, so a default write costs no extra fsync. */
export function defaultDurability(syncPolicy: SyncPolicy): Durability {
  return { ...DEFAULT_DURABILITY, localSync: syncPolicy === 'sync' };
}

export interface ResolvedOptions {
  readonly id: NodeId;
  readonly dataDir: string;
  readonly listen: string;
  readonly peers: Readonly<Record<NodeId, string>> | null;
  readonly join: string | null;
  readonly groupId: string;
  readonly secret: string | undefined;
  readonly adminSecret: string | undefined;
  readonly tls: OpenNodeOptions['tls'];
  readonly electableGroupSizeOverride: number | undefined;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly syncPolicy: SyncPolicy;
  readonly durability: Durability;
  readonly forwardWrites: boolean;
  readonly insufficientReplicasTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly waitReady: boolean;
  readonly keepProcessAlive: boolean;
  readonly snapshotIntervalEntries: number | undefined;
  readonly entriesKeptAfterSnapshot: number | undefined;
  readonly snapshotIntervalBytes: number | undefined;
  readonly bytesKeptAfterSnapshot: number | undefined;
  readonly watchHistoryRevisions: number | undefined;
  readonly watchHistorySizeBytes: number | undefined;
  readonly watchQueueSizeBytes: number;
  readonly maxWatchers: number;
  readonly watchBuffersSizeBytes: number;
  readonly enableFaultInjection: boolean;
  readonly logger: NodeLog;
  readonly metrics: boolean;
  readonly rollbackLimit: number;
  readonly acceptRollback: boolean;
}

const ACK_POLICIES: readonly AckPolicy[] = ['simpleMajority', 'all', 'none'];
const SYNC_POLICIES: readonly SyncPolicy[] = ['sync', 'writeNoSync', 'noSync'];

function int(name: string, v: unknown, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v) ?? String(v)}`);
  return v;
}

export function resolveDurability(d: Partial<Durability> | undefined, base: Durability, what = 'durability'): Durability {
  if (d === undefined) return base;
  if (typeof d !== 'object' || d === null) throw new InvalidArgumentError(`${what} must be an object`);
  for (const k of Object.keys(d)) {
    if (k === 'replicaSync') {
      throw new InvalidArgumentError(`${what}.replicaSync is not supported: each replica fsyncs before acknowledging as its own syncPolicy says (always under 'sync'); nothing was written`);
    }
    if (!['localSync', 'replicaAck', 'ackTimeoutMs'].includes(k)) throw new InvalidArgumentError(`${what} has unknown field '${k}'`);
  }
  const out = { ...base, ...d };
  if (typeof out.localSync !== 'boolean') throw new InvalidArgumentError(`${what}.localSync must be a boolean`);
  if (!ACK_POLICIES.includes(out.replicaAck)) throw new InvalidArgumentError(`${what}.replicaAck must be one of ${ACK_POLICIES.join(', ')}, got ${JSON.stringify(out.replicaAck)}`);
  int(`${what}.ackTimeoutMs`, out.ackTimeoutMs, 0, 1);
  return out;
}


export function resolveOptions(o: OpenNodeOptions): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('openNode needs an options object');
  checkId(o.id, 'id');
  if (typeof o.dataDir !== 'string' || o.dataDir.length === 0) throw new InvalidArgumentError('dataDir must be a non-empty path');
  if (typeof o.listen !== 'string') throw new InvalidArgumentError('listen must be HOST:PORT');
  // Port 0 (an ephemeral port each open) suits a group of one only: nobody needs its address.
  const alone = o.join === undefined && (o.peers === undefined || (typeof o.peers === 'object' && o.peers !== null && Object.keys(o.peers).length === 1));
  parseAddress(o.listen, 'listen', { allowPortZero: alone });
  let peers: Record<NodeId, string> | null = null;
  if (o.peers !== undefined) {
    if (typeof o.peers !== 'object' || o.peers === null || Array.isArray(o.peers)) throw new InvalidArgumentError('peers must be an object of id -> HOST:PORT');
    peers = {};
    const seenAddr = new Map<string, string>();
    for (const [id, addr] of Object.entries(o.peers)) {
      checkId(id, 'peer id');
      if (typeof addr !== 'string') throw new InvalidArgumentError(`address of ${id} must be HOST:PORT`);
      parseAddress(addr, `address of ${id}`, { allowPortZero: alone });
      const dup = seenAddr.get(addr);
      if (dup) throw new InvalidArgumentError(`peers ${dup} and ${id} have the same address ${addr}`);
      seenAddr.set(addr, id);
      peers[id] = addr;
    }
    if (!(o.id in peers)) throw new InvalidArgumentError(`this node's id '${o.id}' is missing from peers (${Object.keys(peers).join(', ') || 'empty'})`);
    if (peers[o.id] !== o.listen) throw new InvalidArgumentError(`peers gives ${o.id} the address ${peers[o.id]}, but listen is ${o.listen}`);
  }
  if (o.join !== undefined) {
    if (typeof o.join !== 'string') throw new InvalidArgumentError('join must be HOST:PORT');
    parseAddress(o.join, 'join');
    if (peers) throw new InvalidArgumentError('give either peers (bootstrap a new group) or join (join a running one), not both');
  }
  const groupId = o.groupId ?? 'conclave';
  checkId(groupId, 'groupId');
  const electionTicks = int('electionTicks', o.electionTicks, 10, 2);
  const heartbeatTicks = int('heartbeatTicks', o.heartbeatTicks, 1, 1);
  if (heartbeatTicks >= electionTicks) throw new InvalidArgumentError(`heartbeatTicks (${heartbeatTicks}) must be smaller than electionTicks (${electionTicks})`);
  if (o.syncPolicy !== undefined && !SYNC_POLICIES.includes(o.syncPolicy)) {
    throw new InvalidArgumentError(`syncPolicy must be one of ${SYNC_POLICIES.join(', ')}, got ${JSON.stringify(o.syncPolicy)}`);
  }
  if (o.electableGroupSizeOverride !== undefined) int('electableGroupSizeOverride', o.electableGroupSizeOverride, 0, 0);
  if (o.forwardWrites !== undefined && typeof o.forwardWrites !== 'boolean') throw new InvalidArgumentError('forwardWrites must be a boolean');
  if (o.enableFaultInjection !== undefined && typeof o.enableFaultInjection !== 'boolean') throw new InvalidArgumentError('enableFaultInjection must be a boolean');
  if (o.metrics !== undefined && typeof o.metrics !== 'boolean') throw new InvalidArgumentError('metrics must be a boolean');
  if (o.logger !== undefined && !isLogger(o.logger)) throw new InvalidArgumentError('logger must have info, warn and error methods (any pino-compatible logger)');
  return {
    id: o.id,
    dataDir: o.dataDir,
    listen: o.listen,
    peers,
    join: o.join ?? null,
    groupId,
    secret: o.secret,
    adminSecret: o.adminSecret,
    tls: o.tls,
    electableGroupSizeOverride: o.electableGroupSizeOverride,
    tickMs: int('tickMs', o.tickMs, 100, 1),
    electionTicks,
    heartbeatTicks,
    syncPolicy: o.syncPolicy ?? 'sync',
    durability: resolveDurability(o.durability, defaultDurability(o.syncPolicy ?? 'sync')),
    forwardWrites: o.forwardWrites ?? true,
    insufficientReplicasTimeoutMs: int('insufficientReplicasTimeoutMs', o.insufficientReplicasTimeoutMs, 1000, 0),
    readTimeoutMs: int('readTimeoutMs', o.readTimeoutMs, 5000, 1),
    writeTimeoutMs: int('writeTimeoutMs', o.writeTimeoutMs, 8000, 1),
    waitReady: (() => {
      if (o.waitReady !== undefined && typeof o.waitReady !== 'boolean') throw new InvalidArgumentError('waitReady must be a boolean');
      return o.waitReady ?? false;
    })(),
    keepProcessAlive: (() => {
      if (o.keepProcessAlive !== undefined && typeof o.keepProcessAlive !== 'boolean') throw new InvalidArgumentError('keepProcessAlive must be a boolean');
      return o.keepProcessAlive ?? true;
    })(),
    snapshotIntervalEntries: o.snapshotIntervalEntries === undefined ? undefined : int('snapshotIntervalEntries', o.snapshotIntervalEntries, 0, 1),
    entriesKeptAfterSnapshot: o.entriesKeptAfterSnapshot === undefined ? undefined : int('entriesKeptAfterSnapshot', o.entriesKeptAfterSnapshot, 0, 0),
    snapshotIntervalBytes: o.snapshotIntervalBytes === undefined ? undefined : int('snapshotIntervalBytes', o.snapshotIntervalBytes, 0, 1),
    bytesKeptAfterSnapshot: o.bytesKeptAfterSnapshot === undefined ? undefined : int('bytesKeptAfterSnapshot', o.bytesKeptAfterSnapshot, 0, 0),
    watchHistoryRevisions: o.watchHistoryRevisions === undefined ? undefined : int('watchHistoryRevisions', o.watchHistoryRevisions, 0, 1),
    watchHistorySizeBytes: o.watchHistorySizeBytes === undefined ? undefined : int('watchHistorySizeBytes', o.watchHistorySizeBytes, 0, 1),
    watchQueueSizeBytes: int('watchQueueSizeBytes', o.watchQueueSizeBytes, 4 * 1024 * 1024, 1024),
    maxWatchers: int('maxWatchers', o.maxWatchers, 1024, 1),
    watchBuffersSizeBytes: int('watchBuffersSizeBytes', o.watchBuffersSizeBytes, 64 * 1024 * 1024, 1024),
    enableFaultInjection: o.enableFaultInjection ?? false,
    logger: new NodeLog(o.logger ?? defaultLogger(), o.id),
    metrics: o.metrics ?? true,
    rollbackLimit: int('rollbackLimit', o.rollbackLimit, 10, 0),
    acceptRollback: (() => {
      if (o.acceptRollback !== undefined && typeof o.acceptRollback !== 'boolean') throw new InvalidArgumentError('acceptRollback must be a boolean');
      return o.acceptRollback ?? false;
    })(),
  };
}

export function validateConsistency(c: unknown): Consistency {
  if (c === 'linearizable' || c === 'lease' || c === 'none') return c;
  if (typeof c === 'object' && c !== null) {
    if ('maxLagMs' in c) {
      const v = (c as { maxLagMs: unknown }).maxLagMs;
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return { maxLagMs: v };
      throw new InvalidArgumentError(`consistency.maxLagMs must be a non-negative number, got ${JSON.stringify(v)}`);
    }
    if ('atLeast' in c) {
      const t = (c as { atLeast: Partial<CommitToken> | null }).atLeast;
      if (t && typeof t.index === 'number' && Number.isSafeInteger(t.index) && t.index >= 0 && typeof t.groupId === 'string' && typeof t.term === 'number') {
        return { atLeast: { groupId: t.groupId, term: t.term, index: t.index } };
      }
      throw new InvalidArgumentError('consistency.atLeast must be a commit token { groupId, term, index } returned by a write');
    }
  }
  throw new InvalidArgumentError(`consistency must be 'linearizable', 'lease', 'none', { maxLagMs } or { atLeast: token }, got ${JSON.stringify(c)}`);
}
