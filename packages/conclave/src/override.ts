// JE HA's ELECTABLE_GROUP_SIZE_OVERRIDE on this node: set and cleared (stored first, then
// applied), warned about while it is on, where it came from, and `--until-majority`: the
// node clears it itself once a true majority is connected and caught up.
import { overrideRefusal, validateOverride, type ConfChange, type NodeId, type OverrideChange } from '@conclave/core';
import { ConfChangeError } from './errors.js';
import { trueMajorityCaughtUp } from './member-choice.js';
import type { NodeContext } from './node-context.js';
import type { Timer } from './seams.js';
import type { NodeStatus, OverrideSource } from './status.js';

const OVERRIDE_WARNING_INTERVAL_MS = 30_000;

export type OverrideResult = { previous: number; current: number; electableGroupSize: number };

export class OverrideControl {
  private overrideTimer: Timer | null = null;
  private overrideChanges: Promise<unknown> = Promise.resolve();
  /** Set once the override changes while running; until then it came from the start option or the stored setting. */
  private overrideChangedAtRuntime = false;
  private untilMajorityTimer: Timer | null = null;

  constructor(
    private readonly ctx: NodeContext,
    /** The leader's status, here or asked of the leader (LeaderRpc.leaderStatus). */
    private readonly leaderStatus: (timeoutMs: number) => Promise<NodeStatus | null>,
  ) {}

  /**
   * Sets this node's override (0 = off). Local, persisted in this node's settings, never
   * replicated. Larger than the electable group size only with `force`.
   */
  async set(n: number, opts: { force?: boolean } = {}): Promise<OverrideResult> {
    this.ctx.checkOpen();
    // One change at a time, so that what is stored is what the core uses.
    const run = this.overrideChanges.then(() => this.change(n, opts));
    this.overrideChanges = run.catch(() => {});
    return run;
  }

  /** Stores the override, then applies it: a failed store leaves the node as it was (issue 11, item 12). */
  private async change(n: number, opts: { force?: boolean }): Promise<OverrideResult> {
    const { raft, storage, opts: o } = this.ctx;
    this.ctx.checkOpen();
    const previous = raft.electableGroupSizeOverride;
    validateOverride(n, raft.electableCount, opts.force === true);
    // The span of indexes that may commit under the override is stored with it, then
    // again once the core has applied it (the commit may have moved meanwhile).
    const previousSpan = raft.overrideSpan;
    const span = raft.overrideSpanAfter(n);
    await storage.setSettings({ electableGroupSizeOverride: n, overrideSpan: span });
    let change: OverrideChange;
    try {
      change = raft.setElectableGroupSizeOverride(n, opts);
    } catch (err) {
      // E changed while the setting was stored: put the stored values back.
      await storage.setSettings({ electableGroupSizeOverride: previous, overrideSpan: previousSpan });
      throw err;
    }
    this.noteOverrideChange();
    const applied = raft.overrideSpan;
    if (JSON.stringify(applied) !== JSON.stringify(span)) await storage.setSettings({ overrideSpan: applied });
    o.logger.warn(
      n > 0
        ? `electable group size override set to ${n} (was ${change.previous}; electable group size ${change.electableGroupSize}): quorums now come from ${n}. Two leaders are possible if the rest of the group is alive; clear it as soon as a true majority is back.`
        : `electable group size override cleared (was ${change.previous}); quorums come from the electable group size ${change.electableGroupSize}`,
    );
    if (n > 0) this.startWarnings();
    else if (this.overrideTimer) {
      this.ctx.clock.clearInterval(this.overrideTimer);
      this.overrideTimer = null;
    }
    this.ctx.schedule();
    this.ctx.emit('overrideChanged', change);
    return change;
  }

  /** A warning in the log every 30 s while the override is on. */
  startWarnings(): void {
    if (this.overrideTimer) return;
    this.overrideTimer = this.ctx.clock.setInterval(() => {
      const o = this.ctx.raft.electableGroupSizeOverride;
      if (o > 0) this.ctx.opts.logger.warn(`running with electable group size override ${o} (electable group size ${this.ctx.raft.status().electableGroupSize})`);
    }, OVERRIDE_WARNING_INTERVAL_MS);
    this.overrideTimer.unref();
  }

  /** This node's own override, checked before a change goes to the leader (which checks its own). */
  checkAllows(change: ConfChange, force: boolean): void {
    const raft = this.ctx.raft;
    const refusal = force ? null : overrideRefusal(this.ctx.id, raft.electableGroupSizeOverride, raft.electableCount, change);
    if (refusal) throw new ConfChangeError(refusal);
  }

  /** Where this node's override comes from, and whether it will clear itself (`--until-majority`). */
  origin(): { overrideSource: OverrideSource; overrideUntilMajority: boolean } {
    const o = this.ctx.raft.electableGroupSizeOverride;
    const overrideSource: OverrideSource =
      o === 0 ? 'none' : this.overrideChangedAtRuntime ? 'runtime' : this.ctx.opts.electableGroupSizeOverride !== undefined ? 'option' : 'stored';
    return { overrideSource, overrideUntilMajority: this.untilMajorityTimer !== null };
  }

  /** Every change of the override, whoever makes it, ends an `--until-majority` watch. */
  private noteOverrideChange(): void {
    this.overrideChangedAtRuntime = true;
    this.stopUntilMajority();
  }

  /**
   * `conclave override set|clear` on this node. With `untilMajority`, the node clears its own
   * override once a true majority of the electable members is connected and caught up: the
   * JE procedure's last step, automated. The watch is not persisted: a restart ends it.
   */
  async setByAdmin(n: number, opts: { untilMajority?: boolean } = {}): Promise<OverrideResult & { overrideSource: OverrideSource; overrideUntilMajority: boolean }> {
    const change = await this.set(n);
    if (opts.untilMajority === true && n > 0) this.startUntilMajority();
    return { ...change, ...this.origin() };
  }

  private stopUntilMajority(): void {
    if (this.untilMajorityTimer) this.ctx.clock.clearInterval(this.untilMajorityTimer);
    this.untilMajorityTimer = null;
  }

  private startUntilMajority(): void {
    const ctx = this.ctx;
    this.stopUntilMajority();
    const intervalMs = Math.max(100, ctx.opts.tickMs * ctx.opts.electionTicks);
    // The commit index of the previous check is the bar for "caught up", so that a member a
    // few in-flight entries behind under load still counts; the condition must hold on two
    // checks in a row, so that a member that just died (still "active" for an election
    // timeout) does not count.
    let seen: { leader: NodeId; term: number; commitIndex: number; met: boolean } | null = null;
    let busy = false;
    const timer: Timer = ctx.clock.setInterval(() => {
      if (ctx.closed) return this.stopUntilMajority();
      if (busy) return;
      busy = true;
      this.leaderStatus(intervalMs)
        .then(async (view) => {
          if (this.untilMajorityTimer !== timer) return;
          if (!view) {
            seen = null;
            return;
          }
          const prev: typeof seen = seen;
          const check = prev && prev.leader === view.id && prev.term === view.term ? trueMajorityCaughtUp(view, prev.commitIndex) : null;
          seen = { leader: view.id, term: view.term, commitIndex: view.commitIndex, met: check?.met === true };
          const override = ctx.raft.electableGroupSizeOverride;
          if (!check?.met || !prev?.met || override === 0) return;
          ctx.opts.logger.warn(
            `until-majority: clearing override ${override}: ${check.caughtUp.length} of ${check.electableGroupSize} electable members are connected and caught up (${check.caughtUp.join(', ')}), a true majority is ${check.needed}`,
          );
          await this.set(0);
        })
        .catch((err) => ctx.opts.logger.warn(`until-majority check failed: ${(err as Error).message}`))
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    timer.unref();
    this.untilMajorityTimer = timer;
    ctx.opts.logger.warn(`override ${ctx.raft.electableGroupSizeOverride} will be cleared once a true majority of the electable members is connected and caught up`);
  }

  /** Stops the warnings (the node closes). */
  close(): void {
    if (this.overrideTimer) this.ctx.clock.clearInterval(this.overrideTimer);
    this.overrideTimer = null;
  }
}
