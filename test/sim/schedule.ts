// Random failure schedules: one seed = one cluster size, network profile and sequence of
// faults (crashes, partitions, leader transfers, membership changes), then a healing phase
// that must end with every live member applying a final write.
import { electableIds, seededRandom, type NodeId, type RandomSource } from '@conclave/core';
import type { Violation } from './checker.js';
import { SimCluster } from './cluster.js';

export interface SeedOptions {
  seed: number;
  /** 3 or 5; derived from the seed when absent. */
  nodes?: number;
  /** Virtual milliseconds of chaos before healing. */
  chaosMs?: number;
}

export interface SeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly steps: number;
  readonly virtualMs: number;
  readonly committed: number;
  readonly stats: SimCluster['stats'];
  readonly replay: string;
}

export function replayCommand(seed: number, nodes?: number): string {
  return `npm run sim -- --seed ${seed}${nodes ? ` --nodes ${nodes}` : ''}`;
}

const pick = <T>(r: RandomSource, xs: readonly T[]): T | undefined => (xs.length ? xs[Math.floor(r() * xs.length)] : undefined);

export function runSeed(opts: SeedOptions): SeedResult {
  const r = seededRandom(opts.seed ^ 0x9e3779b9);
  const nodes = opts.nodes ?? (r() < 0.5 ? 3 : 5);
  const maxDiskMs = 0.2 + r() * 8;
  const sim = new SimCluster({
    seed: opts.seed,
    nodes,
    maxDiskMs,
    faults: { dropRate: r() * 0.1, duplicateRate: r() * 0.05, minDelayMs: 0.3, maxDelayMs: 1 + r() * 25 },
    // Every other seed drives the core as conclave's driver does (issue 15), the others as a plain Ready loop.
    asyncStorageWrites: opts.seed % 2 === 0,
  });
  const chaosMs = opts.chaosMs ?? 3000;
  const crashed = new Set<NodeId>();
  let joiners = 0;

  const group = () => {
    const l = sim.leader();
    return l ? sim.raft(l).groupMetadata : null;
  };

  const crashFor = (id: NodeId, downMs: number) => {
    if (crashed.has(id)) return;
    sim.crash(id);
    crashed.add(id);
    sim.at(downMs, () => {
      crashed.delete(id);
      sim.restart(id);
    });
  };

  // Chaos: one action every 10-60 ms of virtual time; bounded by chaosMs.
  for (let t = 0; t < chaosMs; ) {
    const gap = 10 + r() * 50;
    sim.runFor(gap);
    t += gap;
    const x = r();
    if (x < 0.55) {
      const burst = 1 + Math.floor(r() * 4);
      for (let k = 0; k < burst; k++) sim.propose();
    } else if (x < 0.65) {
      const victim = pick(r, sim.liveIds());
      if (victim && crashed.size < nodes) crashFor(victim, 30 + r() * 400);
    } else if (x < 0.7) {
      const l = sim.leader();
      if (l) crashFor(l, 50 + r() * 300);
    } else if (x < 0.76) {
      const ids = [...sim.nodes.keys()];
      const cut = 1 + Math.floor(r() * (ids.length - 1));
      const shuffled = [...ids].sort(() => r() - 0.5);
      sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      sim.at(50 + r() * 500, () => sim.heal());
    } else if (x < 0.8) {
      const g = group();
      const target = g ? pick(r, electableIds(g)) : undefined;
      if (target) sim.transferLeadership(target);
    } else if (x < 0.84) {
      const g = group();
      if (!g) continue;
      const secondaries = g.members.filter((m) => !m.removed && m.type === 'secondary');
      const electables = electableIds(g);
      const y = r();
      if (y < 0.4 && joiners < 2) {
        const id = `j${++joiners}`;
        if (sim.proposeConfChange({ op: 'addSecondary', id, address: `127.0.0.1:${7100 + joiners}` })) sim.startJoiner(id);
        else joiners--;
      } else if (y < 0.7 && secondaries.length > 0) {
        sim.proposeConfChange({ op: 'promote', id: secondaries[0]!.id });
      } else if (electables.length > 3) {
        const victim = pick(r, electables);
        if (victim) sim.proposeConfChange({ op: 'remove', id: victim });
      }
    } else if (x < 0.87) {
      sim.faults = { ...sim.faults, dropRate: r() * 0.2 };
    } else if (x < 0.94) {
      // The nastiest moment: the leader has sent appends but its own write may not be durable.
      const l = sim.leader();
      if (l) {
        sim.propose(l);
        sim.propose(l);
        sim.at(r() * maxDiskMs, () => crashFor(l, 20 + r() * 300));
      }
    } else {
      // Cut the leader off just after it proposed, so a new leader may overwrite its tail.
      const l = sim.leader();
      if (l) {
        sim.propose(l);
        sim.at(r() * 3, () => {
          sim.partition([[l], [...sim.nodes.keys()].filter((id) => id !== l)]);
          sim.at(100 + r() * 400, () => sim.heal());
        });
      }
    }
  }

  // Healing: a clean network, every non-removed member running; the group must commit
  // a final write and every live member must apply it.
  sim.heal();
  sim.faults = { ...sim.faults, dropRate: 0, duplicateRate: 0 };
  sim.runFor(500);
  for (const id of sim.nodes.keys()) sim.restart(id);
  const electionMs = sim.electionTimeoutMs();
  let finalValue: string | null = null;
  const proposed = sim.runUntil(() => {
    if (finalValue) return true;
    const l = sim.leader();
    if (l && sim.raft(l).status().commitIndex > 0) finalValue = sim.propose(l);
    return finalValue !== null;
  }, 40 * electionMs);
  if (!proposed) {
    sim.checker.livenessFailed(`no leader accepted a write within ${40 * electionMs} ms after healing (leaders: ${sim.leaders().join(',') || 'none'})`);
  } else {
    const members = () => {
      const l = sim.leader();
      const g = l ? sim.raft(l).groupMetadata : null;
      return g ? g.members.filter((m) => !m.removed).map((m) => m.id) : [];
    };
    const done = sim.runUntil(() => {
      const ids = members();
      return ids.length > 0 && ids.every((id) => sim.alive(id) && sim.appliedValues(id).includes(finalValue!));
    }, 60 * electionMs);
    if (!done) {
      const lag = members().map((id) => `${id}@${sim.alive(id) ? sim.appliedIndex(id) : 'down'}`).join(' ');
      sim.checker.livenessFailed(`final write ${finalValue} not applied on every member within ${60 * electionMs} ms (${lag})`);
    }
  }
  const committed = Math.max(...[...sim.nodes.keys()].map((id) => sim.appliedIndex(id)));
  return {
    seed: opts.seed,
    nodes,
    ok: sim.checker.ok,
    violations: sim.checker.violations,
    steps: sim.steps,
    virtualMs: sim.nowMs,
    committed,
    stats: sim.stats,
    replay: replayCommand(opts.seed, opts.nodes),
  };
}
