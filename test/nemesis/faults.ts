// The nemesis: one fault at a time, held for a few seconds, then healed. Kinds are drawn
// from a seeded permutation, so every kind comes up once before any comes up twice.
//
// Partitions go through each node's own fault hook (the `test.faults` admin method), or with
// `network` (--network netns) through the kernel: nft rules in each machine's namespace,
// and then the nodes run without the hook. Either way the admin channel itself is not cut,
// so clients keep reaching every node and a minority member keeps forwarding writes to the
// majority's leader.
//
// "Remove a member, then add it back": a removed id can never rejoin, so the machine comes
// back under a new id (n3 -> n3-2) at the same address, with an empty data directory, joins
// as a secondary, catches up, and is promoted to electable.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt, type RandomSource } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { waitFor } from '../cluster/harness.js';
import type { NemesisCluster } from './cluster.js';
import type { NetnsNetwork } from './netns.js';
import { BEYOND_RATE, MAX_STEP_S, withinRate, type ClockControl } from './clock.js';
import { DISK_FAULTS, type DiskControl } from './disk.js';
import { AdminRpcClient } from '@conclave/transport';

/** The kinds drawn by default (the clock and disk kinds come with their modes). */
export const FAULT_KINDS = ['kill', 'pause', 'partition-majority', 'partition-bridge', 'partition-leader', 'partition-one-way', 'transfer', 'membership', 'lossy-links', 'long-delay'] as const;
/** Every kind, for --faults. */
export const ALL_FAULT_KINDS = [...FAULT_KINDS, 'clock-step', 'clock-rate', 'clock-slow-leader', 'disk-error'] as const;
export type FaultKind = (typeof ALL_FAULT_KINDS)[number];

/** Loss, duplication and delay of lossy links in netns mode (percent of peer packets). */
const NETNS_LOSSY = { lossPercent: 20, duplicatePercent: 10, delayPercent: 30, delayMs: 50 };

export interface FaultRecord {
  readonly kind: FaultKind;
  detail: string;
  readonly startMs: number;
  endMs: number;
  /** Set when the fault could not be applied or healed as planned. */
  error?: string;
}

export interface NemesisOptions {
  readonly random: RandomSource;
  readonly holdMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** Cut links in the kernel instead of through the nodes' fault hook. */
  readonly network?: NetnsNetwork;
  /** The nodes' fake clocks: 'within' drifts and steps them all along; 'beyond' adds clock-slow-leader. */
  readonly clock?: ClockControl;
  /** Nodes under libfiu: adds disk-error. */
  readonly disk?: DiskControl;
  /** The kinds to draw from (default: FAULT_KINDS, plus clock-slow-leader in the beyond clock mode, disk-error with disk). */
  readonly kinds?: readonly FaultKind[];
}

/** A long delay holds the leader's traffic for at least this long: well past the lease and an election timeout. */
const LONG_DELAY_MIN_MS = 3000;
/** Reads queued on the stopped leader: enough bytes to fill its socket buffers, bounded. */
const LONG_DELAY_QUEUED_READS = 400;
const LONG_DELAY_KEY_BYTES = 2048;
/** A disk fault holds at least this long: a member under constant client load syncs many times in it, even on a loaded machine. */
const DISK_FAULT_MIN_HOLD_MS = 2000;

/** libfaketime re-reads its file every second (FAKETIME_CACHE_DURATION): time for a change to apply. */
const FAKETIME_REREAD_MS = 1200;
/**
 * The slow leader's stop, then its time resumed but cut off: together well within its lease
 * on its slowed clock (250 ms at 0.02x is 12.5 s), long enough for an election and writes.
 */
const SLOW_LEADER_STOP_MS: readonly [number, number] = [3000, 4000];
const SLOW_LEADER_SERVE_MS = 2500;
/** Pause between two clock changes of the within mode. */
const CLOCK_CHANGE_MS: readonly [number, number] = [500, 2000];

const STEP_TIMEOUT_MS = 30_000;

function shuffle<T>(items: readonly T[], random: RandomSource): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(random, 0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  private queue: FaultKind[] = [];
  private generation = new Map<string, number>();
  private diskFaultsInjected = 0;

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly opts: NemesisOptions,
  ) {}

  private hold(): number {
    return randomInt(this.opts.random, this.opts.holdMs[0], this.opts.holdMs[1] + 1);
  }

  private kinds(): readonly FaultKind[] {
    if (this.opts.kinds) return this.opts.kinds;
    return [...FAULT_KINDS, ...(this.opts.clock?.mode === 'beyond' ? (['clock-slow-leader'] as const) : []), ...(this.opts.disk ? (['disk-error'] as const) : [])];
  }

  private nextKind(): FaultKind {
    if (this.queue.length === 0) this.queue = shuffle(this.kinds(), this.opts.random);
    return this.queue.shift()!;
  }

  /** Injects faults until `stopAtMs` (the clock of opts.now), then heals everything. */
  async run(stopAtMs: number, stopped: () => boolean = () => false): Promise<void> {
    const drift = this.opts.clock?.mode === 'within' && !this.opts.kinds ? this.driftClocks(stopAtMs, stopped) : Promise.resolve();
    for (let i = 0; i < 100_000 && this.opts.now() < stopAtMs && !stopped(); i++) {
      await sleep(randomInt(this.opts.random, this.opts.quietMs[0], this.opts.quietMs[1] + 1));
      if (this.opts.now() >= stopAtMs || stopped()) break;
      await this.inject(this.nextKind(), stopAtMs);
    }
    await drift;
    await this.healAll();
  }

  /** Within the bound, alongside the other faults: a node's wall clock steps or changes rate. */
  private async driftClocks(stopAtMs: number, stopped: () => boolean): Promise<void> {
    for (let i = 0; i < 100_000 && this.opts.now() < stopAtMs && !stopped(); i++) {
      await sleep(randomInt(this.opts.random, CLOCK_CHANGE_MS[0], CLOCK_CHANGE_MS[1] + 1));
      if (this.opts.now() >= stopAtMs || stopped()) break;
      // Only wall-stepping clocks change at run time (drifting ones keep their start rate).
      if (this.opts.clock!.adjustable(this.cluster.ids().filter((id) => this.cluster.alive(id))).length === 0) continue;
      await this.inject(this.opts.random() < 0.5 ? 'clock-step' : 'clock-rate', stopAtMs);
    }
  }

  async inject(kind: FaultKind, stopAtMs = Infinity): Promise<void> {
    const record: FaultRecord = { kind, detail: '', startMs: this.opts.now(), endMs: 0 };
    this.faults.push(record);
    const holdMs = Math.max(500, Math.min(this.hold(), stopAtMs - this.opts.now()));
    try {
      await this.apply(kind, record, holdMs);
    } catch (err) {
      record.error = (err as Error).message;
      this.opts.log(`fault ${kind} ${record.detail}: ${record.error}`);
      await this.healAll();
    } finally {
      record.endMs = this.opts.now();
    }
    this.opts.log(`${(record.startMs / 1000).toFixed(1)}s ${kind} ${record.detail} (${((record.endMs - record.startMs) / 1000).toFixed(1)} s)${record.error ? ` ERROR ${record.error}` : ''}`);
  }

  private pick<T>(items: readonly T[]): T {
    return items[randomInt(this.opts.random, 0, items.length)]!;
  }

  /** The leader, or a random running member when there is none. */
  private async leaderOrAny(): Promise<string> {
    return (await this.cluster.leader()) ?? this.pick(this.cluster.ids().filter((id) => this.cluster.running(id)));
  }

  private async apply(kind: FaultKind, record: FaultRecord, holdMs: number): Promise<void> {
    const ids = this.cluster.ids();
    const set = (detail: string) => (record.detail = detail);
    const clock = this.opts.clock;
    switch (kind) {
      case 'clock-step': {
        if (!clock) throw new Error('clock faults need --clock');
        const adjustable = clock.adjustable(ids.filter((id) => this.cluster.alive(id)));
        if (adjustable.length === 0) throw new Error('no running node with a wall-stepping clock');
        const target = this.pick(adjustable);
        // Keep each clock within a few steps of true time: step towards it when far off.
        const skew = clock.skewS(target);
        const size = 0.2 + this.opts.random() * (MAX_STEP_S - 0.2);
        const delta = Math.abs(skew) > 2 * MAX_STEP_S ? -Math.sign(skew) * size : this.opts.random() < 0.5 ? -size : size;
        set(`${target} ${delta >= 0 ? '+' : ''}${delta.toFixed(2)} s (wall clock)`);
        clock.step(target, delta);
        return;
      }
      case 'clock-rate': {
        if (!clock) throw new Error('clock faults need --clock');
        const adjustable = clock.adjustable(ids.filter((id) => this.cluster.alive(id)));
        if (adjustable.length === 0) throw new Error('no running node with a wall-stepping clock');
        const target = this.pick(adjustable);
        const rate = withinRate(this.opts.random());
        set(`${target} x${rate} (wall clock)`);
        clock.setRate(target, rate);
        return;
      }
      case 'clock-slow-leader': {
        // The leader's clocks (the monotonic one the lease runs on) at BEYOND_RATE, far past
        // the lease's 2x margin; then the leader cut off from its peers (clients still reach
        // it) and stopped while the others elect another leader and commit writes, the
        // clients' requests queuing on it; then resumed, still cut off. Its clock saw a few
        // tens of milliseconds, its ticks and quorum check run 50x slow: it answers the
        // queued reads, and later ones, from its lease, with values the new leader has
        // overwritten. Stopped rather than only cut off, so that reads reach it after the
        // new leader's writes: a client's write to it hangs, and one stays on the client.
        if (!clock) throw new Error('clock faults need --clock');
        const leader = await this.leaderOrAny();
        const stopMs = Math.min(Math.max(holdMs, SLOW_LEADER_STOP_MS[0]), SLOW_LEADER_STOP_MS[1]);
        set(`${leader} x${BEYOND_RATE}, cut off, stopped ${stopMs} ms, resumed cut off for ${SLOW_LEADER_SERVE_MS} ms`);
        clock.setRate(leader, BEYOND_RATE);
        try {
          // The rate applies, and the leader's next (slow) heartbeat renews its lease.
          await sleep(FAKETIME_REREAD_MS + 500);
          const sides = [[leader], ids.filter((id) => id !== leader)];
          if (this.opts.network) await this.opts.network.partition(sides);
          else await this.everyNode({ action: 'partition', sides });
          this.cluster.pause(leader);
          await sleep(stopMs);
          this.cluster.resume(leader);
          await sleep(SLOW_LEADER_SERVE_MS);
        } finally {
          this.cluster.resume(leader);
          // Seconds at 0.02x: the clock is well behind true time, so the reset steps it forward.
          clock.reset(leader);
          await this.healLinks();
        }
        await sleep(FAKETIME_REREAD_MS);
        return;
      }
      case 'long-delay': {
        // The leader stops; peers and clients keep sending to it until its socket buffers
        // fill (the nemesis queues a bounded burst of reads too); then everything held is
        // delivered at once. A lease trusted across the stop would answer stale reads.
        const leader = await this.leaderOrAny();
        const ms = Math.max(holdMs, LONG_DELAY_MIN_MS);
        set(`${leader} held ${ms} ms, ${LONG_DELAY_QUEUED_READS} reads queued`);
        let conn: AdminRpcClient | null = null;
        try {
          conn = await AdminRpcClient.connect(this.cluster.address(leader), { connectTimeoutMs: 2000, ...this.cluster.clientOptions() });
        } catch {
          record.detail += ' (could not connect to queue reads)';
        }
        this.cluster.pause(leader);
        const burst: Promise<unknown>[] = [];
        for (let i = 0; i < LONG_DELAY_QUEUED_READS && conn; i++) {
          burst.push(conn.request('kv.get', { key: `delay:${'x'.repeat(LONG_DELAY_KEY_BYTES)}${i}`, consistency: 'lease' }, { timeoutMs: ms + 10_000 }).catch(() => {}));
        }
        try {
          await sleep(ms);
        } finally {
          this.cluster.resume(leader);
        }
        await Promise.race([Promise.all(burst), sleep(10_000)]);
        await conn?.close().catch(() => {});
        return;
      }
      case 'disk-error': {
        const disk = this.opts.disk;
        if (!disk) throw new Error('disk faults need --disk');
        // A member in the group and replicating (it answers and knows the leader), so that it
        // writes and syncs while the fault holds: one still starting after an earlier fault
        // (the CLI compiles for seconds under load) may not touch its disk in time.
        const serving: string[] = [];
        for (const id of ids) if ((await this.cluster.status(id))?.leader) serving.push(id);
        if (serving.length === 0) {
          set('skipped: no member answers with a leader');
          return;
        }
        const target = this.pick(serving);
        const pid = this.cluster.members.get(target)?.proc?.pid;
        if (pid === undefined) throw new Error(`${target} has no process`);
        // In turn, so that each failure point comes up in a short run.
        const f = DISK_FAULTS[this.diskFaultsInjected++ % DISK_FAULTS.length]!;
        set(`${target} ${f.point} ${f.errno}`);
        await disk.enable(pid, f);
        // Held long enough to be met even when the run's end clips the hold.
        await sleep(Math.max(holdMs, DISK_FAULT_MIN_HOLD_MS));
        if (this.cluster.alive(target)) {
          await disk.disable(pid, f);
          record.detail += ': kept running';
        } else {
          const out = (this.cluster.output.get(target) ?? '').trim().split('\n');
          record.detail += `: stopped, last line: ${out[out.length - 1]?.slice(0, 300) ?? '(none)'}`;
          this.cluster.spawn(target); // a healthy disk again: it must catch up
        }
        return;
      }
      case 'kill': {
        const target = this.opts.random() < 0.5 ? await this.leaderOrAny() : this.pick(ids);
        set(target);
        await this.cluster.kill(target);
        await sleep(holdMs);
        this.cluster.spawn(target);
        return;
      }
      case 'pause': {
        const target = this.opts.random() < 0.5 ? await this.leaderOrAny() : this.pick(ids);
        set(target);
        this.cluster.pause(target);
        await sleep(holdMs);
        this.cluster.resume(target);
        return;
      }
      case 'partition-majority': {
        const s = shuffle(ids, this.opts.random);
        const cut = Math.floor(s.length / 2);
        const sides = [s.slice(0, cut), s.slice(cut)];
        set(sides.map((x) => x.join(',')).join(' | '));
        await this.partition(sides, holdMs);
        return;
      }
      case 'partition-bridge': {
        // Two halves that cannot talk, and one node in the middle that talks to both.
        const s = shuffle(ids, this.opts.random);
        const bridge = s.shift()!;
        const half = Math.floor(s.length / 2);
        const sides = [s.slice(0, half), s.slice(half)];
        set(`${sides[0]!.join(',')} <- ${bridge} -> ${sides[1]!.join(',')}`);
        await this.partition(sides, holdMs);
        return;
      }
      case 'partition-leader': {
        const leader = await this.leaderOrAny();
        const sides = [[leader], ids.filter((id) => id !== leader)];
        set(`${leader} alone`);
        await this.partition(sides, holdMs);
        return;
      }
      case 'transfer': {
        const leader = await this.cluster.leader();
        if (!leader) throw new Error('no leader to transfer from');
        const st = await this.cluster.status(leader);
        const electable = (st?.members ?? []).filter((m) => !m.removed && m.type === 'electable' && m.id !== leader).map((m) => m.id);
        const target = this.pick(electable);
        set(`${leader} -> ${target}`);
        await this.cluster.call(leader, 'group.transferLeader', { ids: [target], timeoutMs: 5000 }, 8000);
        await sleep(holdMs);
        return;
      }
      case 'membership':
        await this.replaceMember(set);
        return;
      case 'partition-one-way': {
        const s = shuffle(ids, this.opts.random);
        const [from, to] = [s[0]!, s[1]!];
        set(`${from} -> ${to} dropped`);
        if (this.opts.network) await this.opts.network.oneWay(from, to);
        else await this.cluster.call(from, 'test.faults', { action: 'setLink', to, faults: { dropProbability: 1 } }, 2000);
        await sleep(holdMs);
        await this.healLinks();
        return;
      }
      case 'lossy-links': {
        if (this.opts.network) {
          set(`${JSON.stringify(NETNS_LOSSY)} (delay by ${this.opts.network.delayMechanism})`);
          await this.opts.network.degrade(NETNS_LOSSY);
          await sleep(holdMs);
          await this.opts.network.heal();
          return;
        }
        const faults = { dropProbability: 0.2, duplicateProbability: 0.1, delayMs: 5, delayJitterMs: 40 };
        set(JSON.stringify(faults));
        await this.everyNode({ action: 'setLink', to: '*', faults });
        await sleep(holdMs);
        await this.everyNode({ action: 'reset' });
        return;
      }
    }
  }

  private async partition(sides: string[][], holdMs: number): Promise<void> {
    if (this.opts.network) await this.opts.network.partition(sides);
    else await this.everyNode({ action: 'partition', sides });
    await sleep(holdMs);
    await this.healLinks();
  }

  private async healLinks(): Promise<void> {
    if (this.opts.network) await this.opts.network.heal();
    else await this.everyNode({ action: 'reset' });
  }

  /** Sends a fault command to every running member; retries; throws naming those it missed. */
  private async everyNode(params: Record<string, unknown>): Promise<void> {
    const missed: string[] = [];
    await Promise.all(
      this.cluster.ids().map(async (id) => {
        for (let attempt = 0; attempt < 5; attempt++) {
          if (!this.cluster.running(id)) return; // a restarted node starts without faults
          try {
            await this.cluster.call(id, 'test.faults', params, 2000);
            return;
          } catch {
            await sleep(200);
          }
        }
        missed.push(id);
      }),
    );
    if (missed.length > 0) throw new Error(`test.faults ${String(params.action)} did not reach ${missed.join(', ')}`);
  }

  /** Removes a follower, wipes it, and brings the machine back under a new id. */
  private async replaceMember(set: (detail: string) => void): Promise<void> {
    const leader = await waitFor(() => this.cluster.leader(), STEP_TIMEOUT_MS, 'a leader');
    const victim = this.pick(this.cluster.ids().filter((id) => id !== leader));
    const base = victim.split('-')[0]!;
    const gen = (this.generation.get(base) ?? 1) + 1;
    this.generation.set(base, gen);
    const newId = `${base}-${gen}`;
    set(`${victim} -> ${newId}`);
    await waitFor(
      async () => {
        try {
          await this.cluster.call(leader, 'group.change', { change: { op: 'remove', id: victim } }, 10_000);
          return true;
        } catch (err) {
          // Already removed by an earlier attempt whose answer was lost: done.
          if (/already removed/.test((err as Error).message)) return true;
          await sleep(100); // not every 10 ms: each attempt is a request to the leader
          return false;
        }
      },
      STEP_TIMEOUT_MS,
      `the removal of ${victim}`,
    );
    const member = await this.cluster.forget(victim);
    this.cluster.addJoiner(newId, member.address);
    this.cluster.spawn(newId, this.cluster.address(leader));
    const joined = (st: NodeStatus | null) => st?.members.find((m) => m.id === newId && !m.removed);
    await waitFor(async () => joined(await this.cluster.status((await this.cluster.leader()) ?? leader)), STEP_TIMEOUT_MS, `${newId} to join`);
    await waitFor(
      async () => {
        const l = await this.cluster.leader();
        const [ls, ns] = [l ? await this.cluster.status(l) : null, await this.cluster.status(newId)];
        return ls && ns && ns.appliedIndex >= ls.commitIndex - 10;
      },
      STEP_TIMEOUT_MS,
      `${newId} to catch up`,
    );
    await waitFor(
      async () => {
        const l = await this.cluster.leader();
        if (!l) return false;
        try {
          await this.cluster.call(l, 'group.change', { change: { op: 'promote', id: newId } }, 10_000);
          return true;
        } catch (err) {
          if (/already electable/.test((err as Error).message)) return true;
          await sleep(100);
          return false;
        }
      },
      STEP_TIMEOUT_MS,
      `the promotion of ${newId}`,
    );
  }

  /** Ends every fault: resumes paused members, restarts dead ones, clears every fault hook, true clocks. */
  async healAll(): Promise<void> {
    for (const id of this.opts.clock?.ids() ?? []) this.opts.clock!.reset(id);
    for (const id of this.cluster.ids()) {
      if (this.cluster.members.get(id)!.paused) this.cluster.resume(id);
      if (!this.cluster.alive(id)) this.cluster.spawn(id);
    }
    await waitFor(async () => this.cluster.ids().every((id) => this.cluster.running(id)) && true, 5000, 'every member running').catch(() => {});
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await this.healLinks();
        return;
      } catch {
        await sleep(500);
      }
    }
  }
}
