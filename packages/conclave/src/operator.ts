// The operator's actions on the group (the CLI's group and election commands, and their
// API): membership changes through the leader, leadership transfer (JE's transferMaster),
// OpenIO's election ping and leave, and why a request found no leader.
import {
  checkConfChange,
  ConfChangePendingError,
  electableIds,
  InvalidArgumentError,
  NotLeaderError,
  ProposalDroppedError,
  type ConfChange,
  type GroupMetadata,
  type Member,
  type MemberType,
  type NodeId,
} from '@conclave/core';
import { explainNoLeader, overrideHint, roleName } from './election-diagnosis.js';
import { ConfChangeError, LeaderTransferError, ReplicaConsistencyError, UnknownMemberError, WriteOutcomeUnknownError } from './errors.js';
import type { LeaderRpc } from './leader-rpc.js';
import { mostCaughtUp } from './member-choice.js';
import type { NodeContext } from './node-context.js';
import type { OverrideControl } from './override.js';
import type { ReadGate } from './read-gate.js';
import type { NodeStatus } from './status.js';

export class Operator {
  constructor(
    private readonly ctx: NodeContext,
    private readonly rpc: LeaderRpc,
    private readonly reads: ReadGate,
    private readonly override: OverrideControl,
    private readonly status: () => NodeStatus,
    private readonly address: () => string,
  ) {}

  /** See ConclaveNode.changeMembership. */
  async changeMembership(change: ConfChange, timeoutMs: number, force: boolean): Promise<GroupMetadata> {
    this.ctx.checkOpen();
    checkConfChange(change);
    if (this.ctx.raft.currentRole === 'leader') return this.changeMembershipLocal(change, timeoutMs, force);
    this.override.checkAllows(change, force);
    const res = (await this.rpc.callLeader('group.change', { change, force }, timeoutMs)) as { group: GroupMetadata };
    return res.group;
  }

  async changeMembershipLocal(change: ConfChange, timeoutMs: number, force = false): Promise<GroupMetadata> {
    const ctx = this.ctx;
    const { index } = ctx.raft.proposeConfChange(checkConfChange(change), { force });
    ctx.schedule();
    await this.reads.waitApplied(index, ctx.clock.nowMs() + timeoutMs, () => `membership change at index ${index} not applied within ${timeoutMs} ms`);
    return ctx.raft.groupMetadata;
  }

  /** A new leader (or an unapplied change) makes the core refuse membership changes for a moment: retry until the deadline. */
  private async changeMembershipWhenReady(change: ConfChange, deadline: number, force = false): Promise<GroupMetadata> {
    const clock = this.ctx.clock;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 1000 && clock.nowMs() < deadline; attempt++) {
      try {
        return await this.changeMembershipLocal(change, Math.max(1, deadline - clock.nowMs()), force);
      } catch (err) {
        lastError = err;
        if (!(err instanceof ConfChangePendingError)) throw err;
        await this.ctx.sleep(this.ctx.opts.tickMs);
      }
    }
    throw lastError ?? new ConfChangeError(`membership change ${change.op} ${change.id} not accepted before the deadline`);
  }

  private memberOrThrow(id: NodeId): Member {
    const members = this.ctx.raft.groupMetadata.members;
    const m = members.find((x) => x.id === id);
    if (!m || m.removed) {
      if (m?.removed) throw new ConfChangeError(`member ${id} was removed; a removed id can never come back`);
      throw new UnknownMemberError(id, members.filter((x) => !x.removed).map((x) => x.id));
    }
    return m;
  }

  electableIds(): NodeId[] {
    return electableIds(this.ctx.raft.groupMetadata);
  }

  /** See ConclaveNode.removeMember. */
  async removeMember(id: NodeId, opts: { transfer?: boolean; timeoutMs?: number }): Promise<{ group: GroupMetadata; removed: NodeId; transferredTo: NodeId | null }> {
    const ctx = this.ctx;
    ctx.checkOpen();
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = ctx.clock.nowMs() + timeoutMs;
    this.memberOrThrow(id);
    const transfer = opts.transfer === true;
    return this.rpc.onLeader('group.removeMember', { id, transfer, timeoutMs }, timeoutMs, async () => {
      if (id !== ctx.id) return { group: await this.changeMembershipWhenReady({ op: 'remove', id }, deadline), removed: id, transferredTo: null };
      if (!transfer) throw new ConfChangeError(`${id} is the leader: transfer leadership first (conclave group transfer-leader ID...), or pass --transfer`);
      const others = this.electableIds().filter((x) => x !== id);
      const target = mostCaughtUp(this.status(), others);
      if (!target) throw new LeaderTransferError(`cannot remove the leader ${id}: no other electable member can take over`);
      await this.transferLeaderTo([target], { timeoutMs: Math.max(1, deadline - ctx.clock.nowMs()) });
      const left = Math.max(1, deadline - ctx.clock.nowMs());
      const res = (await this.rpc.callLeader('group.removeMember', { id, transfer: false, timeoutMs: left }, left)) as { group: GroupMetadata };
      return { group: res.group, removed: id, transferredTo: target };
    });
  }

  /** See ConclaveNode.addMember. */
  async addMember(id: NodeId, address: string, type: MemberType, timeoutMs: number, opts: { force?: boolean }): Promise<{ group: GroupMetadata; change: ConfChange['op'] }> {
    const ctx = this.ctx;
    ctx.checkOpen();
    const deadline = ctx.clock.nowMs() + timeoutMs;
    const m = ctx.raft.groupMetadata.members.find((x) => x.id === id);
    let change: ConfChange;
    if (!m) change = type === 'electable' ? { op: 'addElectable', id, address } : { op: 'addSecondary', id, address };
    else if (m.removed) throw new ConfChangeError(`member ${id} was removed; a removed id can never rejoin`);
    else if (m.address !== address) throw new ConfChangeError(`member ${id} is already in the group at ${m.address}, not ${address}`);
    else if (m.type === 'secondary' && type === 'electable') change = { op: 'promote', id };
    else throw new ConfChangeError(`member ${id} is already ${m.type === 'electable' ? 'an electable member' : 'a secondary'} at ${m.address}`);
    const force = opts.force === true;
    this.override.checkAllows(change, force);
    return this.rpc.onLeader('group.addMember', { id, address, type, timeoutMs, force }, timeoutMs, async () => ({
      group: await this.changeMembershipWhenReady(change, deadline, force),
      change: change.op,
    }));
  }

  /** Hands leadership to `target` (leader only); resolves when `target` leads or the timeout passes. */
  async transferLeadership(target: NodeId, timeoutMs: number): Promise<void> {
    const ctx = this.ctx;
    ctx.checkOpen();
    ctx.raft.transferLeadership(target);
    ctx.schedule();
    const deadline = ctx.clock.nowMs() + timeoutMs;
    for (let i = 0; i < 100_000 && ctx.clock.nowMs() < deadline; i++) {
      if (ctx.raft.leaderId === target && ctx.raft.currentRole !== 'leader') return;
      await ctx.sleep(ctx.opts.tickMs / 2);
    }
    throw new ProposalDroppedError(`leadership did not move to ${target} within ${timeoutMs} ms`);
  }

  /** See ConclaveNode.transferLeaderTo. */
  async transferLeaderTo(ids: readonly NodeId[], opts: { force?: boolean; timeoutMs?: number }): Promise<{ previous: NodeId; leader: NodeId; address: string | null; alreadyLeader: boolean }> {
    const ctx = this.ctx;
    ctx.checkOpen();
    if (ids.length === 0) throw new InvalidArgumentError('name at least one member to transfer leadership to');
    for (const id of ids) {
      const m = this.memberOrThrow(id);
      if (m.type !== 'electable') throw new InvalidArgumentError(`${id} is a secondary: leadership can only go to an electable member`);
      if (m.priority === 0) throw new InvalidArgumentError(`${id} has priority 0: it never campaigns, so it cannot lead`);
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const force = opts.force === true;
    return this.rpc.onLeader('group.transferLeader', { ids, force, timeoutMs }, timeoutMs, async () => {
      const raft = ctx.raft;
      if (ids.includes(ctx.id)) return { previous: ctx.id, leader: ctx.id, address: this.address(), alreadyLeader: true };
      const pending = raft.status().leadTransferee;
      if (pending !== null && !force) throw new LeaderTransferError(`a leadership transfer to ${pending} is under way; pass --force to supersede it`);
      const deadline = ctx.clock.nowMs() + timeoutMs;
      // The core abandons a transfer after an election timeout: try again, with the then most caught-up member.
      const attemptMs = 3 * ctx.opts.tickMs * ctx.opts.electionTicks;
      let lastError: unknown = null;
      for (let attempt = 0; attempt < 100 && ctx.clock.nowMs() < deadline; attempt++) {
        const target = raft.currentRole === 'leader' ? mostCaughtUp(this.status(), ids) : null;
        if (target) {
          try {
            await this.transferLeadership(target, Math.max(1, Math.min(attemptMs, deadline - ctx.clock.nowMs())));
          } catch (err) {
            lastError = err;
          }
        }
        const now = raft.leaderId;
        if (now !== null && ids.includes(now)) return { previous: ctx.id, leader: now, address: ctx.addressOf(now), alreadyLeader: false };
        if (raft.currentRole !== 'leader') await ctx.sleep(ctx.opts.tickMs);
      }
      throw new LeaderTransferError(transferFailure(ids, timeoutMs, raft.currentRole === 'leader' ? this.status().peers : null, lastError));
    });
  }

  /** OpenIO's `election ping`: start an election now if no leader is known; never waits for its result. */
  pingElection(): { action: 'campaign' | 'none'; reason: string } {
    const ctx = this.ctx;
    ctx.checkOpen();
    const role = ctx.raft.currentRole;
    const leader = ctx.raft.leaderId;
    if (role === 'leader') return { action: 'none', reason: 'this node is the leader; check-quorum confirms it every election timeout' };
    if (leader !== null) return { action: 'none', reason: `follows ${leader}` };
    if (role !== 'follower') return { action: 'none', reason: `an election is already under way (${roleName(role)})` };
    if (!ctx.raft.status().promotable) return { action: 'none', reason: 'no leader known, and this node never campaigns (secondary, priority 0, or not a member)' };
    ctx.raft.campaign();
    ctx.schedule();
    return { action: 'campaign', reason: 'no leader known: election started (pre-vote first)' };
  }

  /** OpenIO's `election leave`: step out of the election (or leadership) and start over. */
  leaveElection(): void {
    this.ctx.checkOpen();
    this.ctx.raft.leaveElection();
    this.ctx.schedule();
  }

  /** Why a client request could not finish before its deadline, said the way an operator can act on. */
  deadlineError(what: 'write' | 'read', timeoutMs: number): Error {
    const ctx = this.ctx;
    const st = this.status();
    if (st.leader === null) {
      const peers = ctx.transport.stats().peers;
      const reachable = [ctx.id, ...Object.keys(peers).filter((id) => peers[id]!.connected && peers[id]!.inboundConnected)];
      const why = `${explainNoLeader(st, ctx.clock.nowMs())}`;
      const hint = overrideHint(st, reachable);
      if (what === 'read') return new NotLeaderError(null, `the read did not finish within ${timeoutMs} ms: ${why}${hint}`);
      // The write goes on after this answer (proposed here, or on its way to a leader that
      // may yet be elected): it may still commit.
      return new WriteOutcomeUnknownError(`the write did not finish within ${timeoutMs} ms: ${why}; it may still commit once a leader is elected${hint}`);
    }
    if (what === 'read') return new ReplicaConsistencyError(`the read was not served within ${timeoutMs} ms (leader ${st.leader.id})`);
    return new WriteOutcomeUnknownError(`the write was not acknowledged within ${timeoutMs} ms (leader ${st.leader.id}); it may or may not commit`);
  }
}

/** Why leadership did not move, once: the targets that do not answer, else the last attempt's reason. */
function transferFailure(ids: readonly NodeId[], timeoutMs: number, peers: NodeStatus['peers'] | null, lastError: unknown): string {
  const head = `leadership did not move to ${ids.length === 1 ? ids[0] : `any of ${ids.join(', ')}`} within ${timeoutMs} ms`;
  const silent = peers === null ? [] : ids.filter((id) => peers.find((p) => p.id === id)?.active !== true);
  if (silent.length > 0) return `${head}: ${silent.join(', ')} ${silent.length === 1 ? 'does' : 'do'} not answer the leader (stopped, or cut off from it)`;
  const reason = (lastError as Error | null)?.message;
  // The last attempt's error often says the same thing again: only add a different reason.
  return reason && !reason.startsWith('leadership did not move') ? `${head}: ${reason}` : head;
}
