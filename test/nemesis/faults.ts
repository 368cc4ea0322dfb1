// The nemesis: one fault at a time, held for a few seconds, then healed. Kinds are drawn
// from a seeded permutation, so every kind comes up once before any comes up twice.
//
// Partitions go through each node's own fault hook (the `test.faults` admin method); the
// admin channel itself is not cut, so clients keep reaching every node and a minority
// member keeps forwarding writes to the majority's leader.
//
// "Remove a member, then add it back": a removed id can never rejoin, so the machine comes
// back under a new id (n3 -> n3-2) at the same address, with an empty data directory, joins
// as a secondary, catches up, and is promoted to electable.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt, type RandomSource } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { waitFor } from '../cluster/harness.js';
import type { NemesisCluster } from './cluster.js';

export const FAULT_KINDS = ['kill', 'pause', 'partition-majority', 'partition-bridge', 'partition-leader', 'transfer', 'membership', 'lossy-links'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

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
}

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

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly opts: NemesisOptions,
  ) {}

  private hold(): number {
    return randomInt(this.opts.random, this.opts.holdMs[0], this.opts.holdMs[1] + 1);
  }

  private nextKind(): FaultKind {
    if (this.queue.length === 0) this.queue = shuffle(FAULT_KINDS, this.opts.random);
    return this.queue.shift()!;
  }

  /** Injects faults until `stopAtMs` (the clock of opts.now), then heals everything. */
  async run(stopAtMs: number, stopped: () => boolean = () => false): Promise<void> {
    for (let i = 0; i < 100_000 && this.opts.now() < stopAtMs && !stopped(); i++) {
      await sleep(randomInt(this.opts.random, this.opts.quietMs[0], this.opts.quietMs[1] + 1));
      if (this.opts.now() >= stopAtMs || stopped()) break;
      await this.inject(this.nextKind(), stopAtMs);
    }
    await this.healAll();
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
    switch (kind) {
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
      case 'lossy-links': {
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
    await this.everyNode({ action: 'partition', sides });
    await sleep(holdMs);
    await this.everyNode({ action: 'heal' });
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

  /** Ends every fault: resumes paused members, restarts dead ones, clears every fault hook. */
  async healAll(): Promise<void> {
    for (const id of this.cluster.ids()) {
      if (this.cluster.members.get(id)!.paused) this.cluster.resume(id);
      if (!this.cluster.alive(id)) this.cluster.spawn(id);
    }
    await waitFor(async () => this.cluster.ids().every((id) => this.cluster.running(id)) && true, 5000, 'every member running').catch(() => {});
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await this.everyNode({ action: 'reset' });
        return;
      } catch {
        await sleep(500);
      }
    }
  }
}
