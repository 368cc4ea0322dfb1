// What the dashboard page shows, built from one survey of the members (node.status of each)
// and the leader's /metrics: members, leader, E, overrides with their age, election
// histories, and a bounded series of commit rate and commit-ack latency.
import type { NodeStatus } from 'conclave';
import type { Survey } from './member-survey.js';

export interface MemberView {
  readonly id: string;
  readonly address: string;
  readonly type: string | null;
  readonly reachable: boolean;
  readonly error: string | null;
  readonly state: string | null;
  readonly term: number | null;
  readonly leader: string | null;
  readonly commitIndex: number | null;
  readonly appliedIndex: number | null;
  /** Entries behind the leader's last index (the leader's view), null when the leader did not say. */
  readonly lag: number | null;
  readonly override: number;
  readonly overrideSource: string | null;
  /** ms the override has been set: from the member's own history, else since the dashboard first saw it. */
  readonly overrideForMs: number | null;
  readonly history: readonly { atMs: number; from: string; event: string; to: string; term: number; detail: string }[];
}

export interface Sample {
  readonly atMs: number;
  /** Commits per second since the previous sample (leader's commit index). */
  readonly commitsPerSecond: number | null;
  /** Mean commit-ack latency of the writes acknowledged since the previous sample, ms. */
  readonly ackMs: number | null;
}

export interface DashboardView {
  readonly atMs: number;
  readonly groupId: string | null;
  readonly leader: { id: string; address: string | null; term: number } | null;
  readonly electableGroupSize: number | null;
  readonly members: readonly MemberView[];
  readonly samples: readonly Sample[];
  readonly message: string | null;
}

/** Ten minutes at one sample a second: the charts' window, and the memory bound. */
export const MAX_SAMPLES = 600;
/** Election events shown per member (the node keeps more; the timeline needs the recent ones). */
const MAX_HISTORY_PER_MEMBER = 40;

/** The sum and count of conclave_commit_ack_seconds in a Prometheus text exposition. */
export function commitAckTotals(metricsText: string): { sumSeconds: number; count: number } | null {
  const sum = /^conclave_commit_ack_seconds_sum(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(metricsText);
  const count = /^conclave_commit_ack_seconds_count(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(metricsText);
  if (!sum || !count) return null;
  return { sumSeconds: Number(sum[1]), count: Number(count[1]) };
}

export class DashboardState {
  private readonly samples: Sample[] = [];
  private previous: { atMs: number; leader: string; commitIndex: number; ack: { sumSeconds: number; count: number } | null } | null = null;
  /** When the dashboard first saw each member's current override (a fallback for its age). */
  private readonly overrideSeen = new Map<string, { value: number; sinceMs: number }>();
  private view: DashboardView = { atMs: 0, groupId: null, leader: null, electableGroupSize: null, members: [], samples: [], message: 'waiting for the first answer' };

  get current(): DashboardView {
    return this.view;
  }

  /** A poll that reached nobody: the view says why, the charts keep their window. */
  noAnswer(message: string, nowMs: number): DashboardView {
    this.previous = null;
    this.view = { ...this.view, atMs: nowMs, leader: null, members: this.view.members.map((m) => ({ ...m, reachable: false })), message };
    return this.view;
  }

  /** Folds one survey (and the leader's metrics text, when it answered) into the view. */
  update(survey: Survey, leaderMetrics: string | null, nowMs: number): DashboardView {
    const answered = survey.probes.map((p) => p.status).filter((s): s is NodeStatus => s !== null);
    const leaderStatus = answered.filter((s) => s.state === 'leader').sort((a, b) => b.term - a.term)[0] ?? null;
    const members = survey.probes.map((p) => this.member(p, leaderStatus, nowMs));
    if (leaderStatus) this.sample(leaderStatus, leaderMetrics, nowMs);
    else this.previous = null;
    this.view = {
      atMs: nowMs,
      groupId: survey.group?.groupId ?? null,
      leader: leaderStatus ? { id: leaderStatus.id, address: leaderStatus.address, term: leaderStatus.term } : null,
      electableGroupSize: leaderStatus?.electableGroupSize ?? answered[0]?.electableGroupSize ?? null,
      members,
      samples: [...this.samples],
      message: answered.length === 0 ? 'no member answers' : leaderStatus ? null : 'no leader: the group cannot commit writes',
    };
    return this.view;
  }

  private member(p: Survey['probes'][number], leader: NodeStatus | null, nowMs: number): MemberView {
    const st = p.status;
    const override = st?.electableGroupSizeOverride ?? 0;
    let overrideForMs: number | null = null;
    if (override > 0 && st) {
      const seen = this.overrideSeen.get(p.id);
      if (!seen || seen.value !== override) this.overrideSeen.set(p.id, { value: override, sinceMs: nowMs });
      const set = st.history.find((h) => h.event === 'OVERRIDE_SET');
      overrideForMs = set && set.detail.includes(`-> ${override} `) ? Math.max(0, st.nowMs - set.at) : nowMs - this.overrideSeen.get(p.id)!.sinceMs;
    } else if (st) this.overrideSeen.delete(p.id);
    const peer = leader?.peers.find((x) => x.id === p.id);
    return {
      id: p.id,
      address: p.address,
      type: p.member?.type ?? null,
      reachable: st !== null,
      error: p.error ? `${p.error.code ?? 'ERROR'}: ${p.error.message}` : null,
      state: st?.state ?? null,
      term: st?.term ?? null,
      leader: st?.leader?.id ?? null,
      commitIndex: st?.commitIndex ?? null,
      appliedIndex: st?.appliedIndex ?? null,
      lag: leader === null ? null : leader.id === p.id ? 0 : (peer?.lag ?? null),
      override,
      overrideSource: st?.overrideSource ?? null,
      overrideForMs,
      // The member's clock -> ms ago -> the dashboard's clock, so that timelines line up.
      history: (st?.history ?? []).slice(0, MAX_HISTORY_PER_MEMBER).map((h) => ({ atMs: nowMs - Math.max(0, st!.nowMs - h.at), from: h.from, event: h.event, to: h.to, term: h.term, detail: h.detail })),
    };
  }

  private sample(leader: NodeStatus, metricsText: string | null, nowMs: number): void {
    const ack = metricsText === null ? null : commitAckTotals(metricsText);
    const prev = this.previous;
    let commitsPerSecond: number | null = null;
    let ackMs: number | null = null;
    // Rates only between two samples of the same leader: a new leader's counters start over.
    if (prev && prev.leader === leader.id && nowMs > prev.atMs) {
      commitsPerSecond = Math.max(0, ((leader.commitIndex - prev.commitIndex) * 1000) / (nowMs - prev.atMs));
      if (ack && prev.ack && ack.count > prev.ack.count) ackMs = ((ack.sumSeconds - prev.ack.sumSeconds) * 1000) / (ack.count - prev.ack.count);
      else if (ack && prev.ack) ackMs = 0;
    }
    this.previous = { atMs: nowMs, leader: leader.id, commitIndex: leader.commitIndex, ack };
    this.samples.push({ atMs: nowMs, commitsPerSecond, ackMs });
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
  }
}
