// A node's start: open its storage, then bootstrap a new group, join a running one, or
// restore from the data directory; then start the transport, the ticks and the Ready loop.
import { initialGroup, InvalidArgumentError, RaftNode, seededRandom } from '@conclave/core';
import { addressesOf, type NodeContext } from './node-context.js';
import type { LeaderRpc } from './leader-rpc.js';
import type { OverrideControl } from './override.js';
import type { ReadyLoop } from './ready-loop.js';
import { checkSizeLimits, SIZE_LIMITS } from './size-limits.js';

/** Opens the node's storage (ctx.storage). */
export async function openNodeStorage(ctx: NodeContext): Promise<void> {
  const o = ctx.opts;
  ctx.storage = await ctx.seams.openStorage({
    path: o.dataDir,
    groupId: o.groupId,
    syncPolicy: o.syncPolicy,
    // Applies and commit-only hard states ride with the next log write: the log is durable,
    // so a crash only re-applies them; this takes two fsyncs off every commit (bench/README.md).
    deferApplyWrites: true,
    timers: ctx.clock,
    // A failed background flush stops the node at once, not at its next write.
    onFailure: (err) => ctx.fail(err),
    ...(o.snapshotIntervalEntries !== undefined ? { snapshotIntervalEntries: o.snapshotIntervalEntries } : {}),
    ...(o.watchHistoryRevisions !== undefined ? { watchHistoryRevisions: o.watchHistoryRevisions } : {}),
    ...(o.watchHistorySizeBytes !== undefined ? { watchHistorySizeBytes: o.watchHistorySizeBytes } : {}),
    ...(o.entriesKeptAfterSnapshot !== undefined ? { entriesKeptAfterSnapshot: o.entriesKeptAfterSnapshot } : {}),
    ...(o.snapshotIntervalBytes !== undefined ? { snapshotIntervalBytes: o.snapshotIntervalBytes } : {}),
    ...(o.bytesKeptAfterSnapshot !== undefined ? { bytesKeptAfterSnapshot: o.bytesKeptAfterSnapshot } : {}),
  });
}

export interface BootRooms {
  readonly loop: ReadyLoop;
  readonly override: OverrideControl;
  readonly rpc: LeaderRpc;
  /** Registers the admin methods on the transport, before it starts. */
  readonly registerAdmin: () => void;
}

/** With storage open: the core (ctx.raft), the transport (ctx.transport), ticks, and the first Ready. */
export async function bootWithStorage(ctx: NodeContext, rooms: BootRooms): Promise<void> {
  const o = ctx.opts;
  const storage = ctx.storage;
  const loaded = await storage.load();
  let override = loaded.settings.electableGroupSizeOverride;
  if (o.electableGroupSizeOverride !== undefined && o.electableGroupSizeOverride !== override) {
    override = o.electableGroupSizeOverride;
    await storage.setSettings({ electableGroupSizeOverride: override });
  }
  checkSizeLimits(SIZE_LIMITS);
  const raftConfig = {
    id: o.id,
    maxMsgBytes: SIZE_LIMITS.maxMsgBytes,
    maxProposalBytes: SIZE_LIMITS.maxProposalBytes,
    electionTicks: o.electionTicks,
    heartbeatTicks: o.heartbeatTicks,
    random: seededRandom(ctx.seams.random.bytes(4).readUInt32LE(0)),
    electableGroupSizeOverride: override,
    overrideSpan: loaded.settings.overrideSpan,
    nowMs: ctx.clock.nowMs(),
    // Half the election timeout: margin for the heartbeat's transit and clock drift.
    leaseMs: Math.floor((o.tickMs * o.electionTicks) / 2),
    // The Ready loop hands log writes off and reports them durable later (log-writer.ts).
    asyncStorageWrites: true,
  };
  // A directory whose group has no member and no log never got past its first write.
  const fresh = loaded.group === null || (loaded.group.members.length === 0 && loaded.lastIndex === 0);
  let joining = false;
  if (fresh) {
    if (o.peers) {
      const group = initialGroup(o.groupId, o.peers);
      // Unsynced: the first Ready (the bootstrap entries and hard state, synced) follows at
      // once; a crash before it leaves a directory that is bootstrapped again.
      if (loaded.group === null) await storage.initializeGroup({ groupId: o.groupId, members: [] }, { sync: false });
      ctx.raft = RaftNode.bootstrap(raftConfig, group);
    } else if (o.join) {
      if (loaded.group === null) await storage.initializeGroup({ groupId: o.groupId, members: [] });
      ctx.raft = RaftNode.join(raftConfig, o.groupId);
      joining = true;
    } else {
      throw new InvalidArgumentError(`data directory ${o.dataDir} is empty: give peers to bootstrap a new group, or join to join a running one`);
    }
  } else {
    if (o.join) o.logger.info('join_ignored', `data directory ${o.dataDir} already belongs to group ${loaded.group!.groupId}; join is ignored`);
    ctx.raft = RaftNode.restore(raftConfig, {
      hardState: loaded.hardState,
      group: loaded.group!,
      compactedIndex: loaded.compacted.index,
      compactedTerm: loaded.compacted.term,
      entries: loaded.entries,
      applied: loaded.applied,
    });
  }
  const peers = fresh && o.peers ? o.peers : addressesOf(ctx.raft.groupMetadata);
  ctx.transport = ctx.seams.network.createTransport({
    id: o.id,
    groupId: o.groupId,
    listen: o.listen,
    peers,
    ...(o.secret !== undefined ? { secret: o.secret } : {}),
    ...(o.adminSecret !== undefined ? { adminSecret: o.adminSecret } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    maxPayloadBytes: SIZE_LIMITS.maxPayloadBytes,
    keepProcessAlive: o.keepProcessAlive,
  });
  rooms.loop.attachTransport();
  rooms.registerAdmin();
  await ctx.transport.start();
  rooms.loop.startTicking(o.keepProcessAlive);
  if (override > 0) rooms.override.startWarnings();
  const span = ctx.raft.overrideSpan;
  if (JSON.stringify(span) !== JSON.stringify(loaded.settings.overrideSpan)) await storage.setSettings({ overrideSpan: span });
  ctx.schedule();
  if (joining) await rooms.rpc.requestJoin(o.join!);
  const address = ctx.transport.listenAddress;
  o.logger.info('node_started', `listening on ${address}, group ${ctx.groupId}, data ${o.dataDir}`, { address, groupId: ctx.groupId, dataDir: o.dataDir });
}
