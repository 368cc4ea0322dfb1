// Whether this node can hope for a leader soon (issue 22, item 2): with none known and too few
// electable members reachable to elect one, a call that needs a leader fails at once, with
// the quorum explanation, instead of waiting out its deadline.
import { explainNoLeader, overrideHint } from './election-diagnosis.js';
import type { NodeContext } from './node-context.js';

/** Electable members this node is connected to both ways, itself included. */
export function reachableIds(ctx: NodeContext): string[] {
  const peers = ctx.transport.stats().peers;
  return [ctx.id, ...Object.keys(peers).filter((id) => peers[id]!.connected && peers[id]!.inboundConnected)];
}

/** Why no leader is known, in an operator's words: the election state, the quorum, who is reachable. */
export function explainMissingLeader(ctx: NodeContext): string {
  if (!ctx.status) return 'no leader known';
  const st = ctx.status();
  return `${explainNoLeader(st, ctx.clock.nowMs())}${overrideHint(st, reachableIds(ctx))}`;
}

/**
 * Null while a leader is known or may be elected; else why none can be: no leader known, and
 * fewer electable members reachable than an election needs. Right after start the links are
 * still forming: until this node campaigned or two election timeouts passed, it hopes.
 */
export function noLeaderPossible(ctx: NodeContext): string | null {
  const raft = ctx.raft;
  if (raft.leaderId !== null) return null;
  const electionMs = ctx.opts.tickMs * ctx.opts.electionTicks;
  const campaigned = raft.currentRole === 'preCandidate' || raft.currentRole === 'candidate';
  if (!campaigned && ctx.clock.nowMs() - ctx.startedAtMs < 2 * electionMs) return null;
  if (!ctx.status) return null;
  const st = ctx.status();
  const electable = new Set(st.members.filter((m) => m.type === 'electable' && !m.removed).map((m) => m.id));
  const reachable = reachableIds(ctx).filter((id) => electable.has(id));
  if (reachable.length >= st.electionQuorum) return null;
  return `${explainMissingLeader(ctx)}; reachable electable members: ${reachable.join(', ') || 'none'} (${reachable.length}, an election needs ${st.electionQuorum})`;
}
