// JE's hard recovery, as this node lives it: a leader exposed committed entries of ours it
// does not have. Decide once per divergence (rollback.ts): roll back (the report saved
// first), or stay out until an operator accepts; say so in the status and by events.
import { InvalidArgumentError, type SnapshotMeta } from '@conclave/core';
import type { DivergedWithoutOverrideError, RollbackProhibitedError } from './errors.js';
import { asError, type NodeContext } from './node-context.js';
import { decideRollback, describeLoss, type RollbackReport } from './rollback.js';
import type { RollbackStatus } from './status.js';

type RollbackState =
  | { state: 'none' }
  | { state: 'prohibited'; report: RollbackReport; error: RollbackProhibitedError }
  | { state: 'divergedWithoutOverride'; report: RollbackReport; error: DivergedWithoutOverrideError }
  | { state: 'rollingBack'; report: RollbackReport; file: string };

export class RollbackKeeper {
  private rollback: RollbackState = { state: 'none' };
  private divergenceTask: Promise<void> | null = null;

  constructor(private readonly ctx: NodeContext) {}

  /** A snapshot staged now replaces diverged state (storage stages it so). */
  get rollingBack(): boolean {
    return this.rollback.state === 'rollingBack';
  }

  /**
   * Before a Ready's hard state is written: the core's override span (which grows as this
   * node commits entries under a leader's override) is stored first, so a crash never keeps
   * a commit and forgets that it came under an override; the rollback decision reads it.
   */
  storeOverrideSpan(): Promise<unknown> | null {
    const { raft, storage } = this.ctx;
    const span = raft.overrideSpan;
    const stored = storage.settings.overrideSpan;
    // Unchanged (nearly always): no write, and no await in the Ready loop.
    if (span === stored || (span !== null && stored !== null && span.from === stored.from && span.to === stored.to)) return null;
    return storage.setSettings({ overrideSpan: span });
  }

  /** After each Ready: a divergence the core found is decided once, in the background. */
  checkDivergence(): void {
    const raft = this.ctx.raft;
    const d = raft.currentDivergence;
    if (!d || this.divergenceTask || this.rollback.state !== 'none' || raft.status().rollbackRequested) return;
    this.divergenceTask = this.onDivergence(false)
      .catch((err) => this.ctx.fail(asError(err)))
      .finally(() => {
        this.divergenceTask = null;
      });
  }

  /** The Ready that installed `snapshot` was written: a rollback under way is done. */
  onSnapshotInstalled(snapshot: SnapshotMeta): void {
    if (this.rollback.state !== 'rollingBack') return;
    const { report, file } = this.rollback;
    this.rollback = { state: 'none' };
    this.ctx.opts.logger.warn('rollback', `rolled back to the leader's state at index ${snapshot.index}; ${report.lostWriteCount} lost writes are listed in ${file}`, { lostWriteCount: report.lostWriteCount, fromIndex: report.fromIndex, toIndex: report.toIndex, leader: report.leader, file });
    this.ctx.emit('rollback', { ...report, file });
  }

  private async onDivergence(accepted: boolean): Promise<void> {
    const ctx = this.ctx;
    const d = ctx.raft.currentDivergence;
    if (!d) return;
    const report = await describeLoss(ctx.storage, d, ctx.id, ctx.groupId, ctx.raft.overrideSpan, ctx.clock.wallNowMs());
    const decision = decideRollback(report, { rollbackLimit: ctx.opts.acceptRollback ? Infinity : ctx.opts.rollbackLimit, accepted });
    if (decision.action !== 'rollBack') {
      const err = decision.error;
      this.rollback = decision.action === 'prohibit' ? { state: 'prohibited', report, error: decision.error } : { state: 'divergedWithoutOverride', report, error: decision.error };
      ctx.raft.noteRollbackRefused(`${err.code}: ${report.exact ? '' : 'up to '}${report.lostWriteCount} committed writes [${report.fromIndex}, ${report.toIndex}] differ from leader ${d.leader}`);
      ctx.opts.logger.error(decision.action === 'prohibit' ? 'rollback_prohibited' : 'diverged_without_override', err.message, { code: err.code });
      if (decision.action === 'prohibit') ctx.emit('rollbackProhibited', decision.error);
      else ctx.emit('divergedWithoutOverride', decision.error);
      return;
    }
    // The record for the operator goes to disk before anything is lost.
    const file = await ctx.seams.reports.saveRollbackReport(ctx.opts.dataDir, report);
    ctx.opts.logger.warn(
      'rollback_started',
      `diverged from leader ${d.leader} at index ${d.index}${d.exact ? '' : ' or later'}: rolling back ${report.exact ? '' : 'up to '}${report.lostWriteCount} committed writes [${d.index}, ${d.committed}] to follow it; they are saved in ${file}`,
    );
    this.rollback = { state: 'rollingBack', report, file };
    ctx.core(() => ctx.raft.requestRollback());
    ctx.schedule();
  }

  /** The operator's answer to RollbackProhibitedError or DivergedWithoutOverrideError: roll back whatever the size. */
  async accept(): Promise<{ lostWriteCount: number; fromIndex: number; toIndex: number; file: string }> {
    const id = this.ctx.id;
    if (this.rollback.state !== 'prohibited' && this.rollback.state !== 'divergedWithoutOverride') {
      throw new InvalidArgumentError(`node ${id} has no prohibited rollback to accept (rollback state: ${this.rollback.state})`);
    }
    this.rollback = { state: 'none' };
    await this.onDivergence(true);
    const r = this.rollback as RollbackState;
    if (r.state !== 'rollingBack') throw new InvalidArgumentError(`node ${id} no longer has diverged entries to roll back`);
    return { lostWriteCount: r.report.lostWriteCount, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, file: r.file };
  }

  status(): RollbackStatus {
    const r = this.rollback;
    if (r.state === 'prohibited') {
      return { state: 'prohibited', lostWriteCount: r.report.lostWriteCount, rollbackLimit: this.ctx.opts.rollbackLimit, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, leader: r.report.leader, exact: r.report.exact };
    }
    if (r.state === 'divergedWithoutOverride') {
      return { state: 'divergedWithoutOverride', lostWriteCount: r.report.lostWriteCount, fromIndex: r.report.fromIndex, toIndex: r.report.toIndex, leader: r.report.leader, message: r.error.message };
    }
    if (r.state === 'rollingBack') return { state: 'rollingBack', lostWriteCount: r.report.lostWriteCount, file: r.file, leader: r.report.leader };
    return { state: 'none' };
  }
}
