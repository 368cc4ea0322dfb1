// One seed of the whole-node simulation: a group of 3 or 5 ConclaveNodes, clients on the
// public API, and a chaos phase of faults drawn from the seed (crashes that lose unsynced
// writes, pauses, partitions, lossy links, clock drift and wall steps, slow disks, disk
// errors, leader transfers, membership changes; snapshots and compaction come from small
// snapshot intervals), then a healing phase after which every member must catch up. The
// history is checked for linearizability (lease reads included), weak reads for phantom
// values, and every acknowledged write must be found at the end.
import { seededRandom } from '@conclave/core';
import { checkHistory, type HistoryOp } from '../nemesis/linearizability.js';
import { MAX_COMMAND_BYTES, MAX_VALUE_BYTES } from '@conclave/storage';
import { SimClients } from './clients.js';
import { SimNodeCluster } from './cluster.js';
import type { SimEvent } from './scheduler.js';
import { MAX_DRIFT } from './sim-clock.js';
import { checkScans, checkWatchStreams } from '../nemesis/watch-check.js';
import { SimWatchers, WATCHED_PREFIX } from './watchers.js';

export interface SeedOptions {
  seed: number;
  nodes?: number;
  /** Simulated milliseconds of chaos (clients run through it). */
  chaosMs?: number;
  keepTrace?: boolean;
  /** The wall-clock mutant (mutants.ts): the driver's monotonic clock is its wall clock. */
  wallClockAsMonotonic?: boolean;
}

export interface SeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly simulatedMs: number;
  readonly steps: number;
  readonly digest: string;
  readonly stats: Record<string, number>;
  readonly trace: readonly string[];
  readonly replay: string;
  /** The clients' history, for a closer look at a failure. */
  readonly history: readonly HistoryOp[];
}

export function replayCommand(seed: number): string {
  return `npm run sim:node -- --seed ${seed}`;
}

const ACK_TIMEOUT_MS = 5000;
const READ_TIMEOUT_MS = 2000;
const INSUFFICIENT_REPLICAS_TIMEOUT_MS = 500;
const MAX_JOINERS = 2;

export async function runSeed(opts: SeedOptions): Promise<SeedResult> {
  const seed = opts.seed;
  const tickMs = 50;
  const electionTicks = 10;
  const r = seededRandom(seed ^ 0x5eed5eed); // the seed's shape, from its own stream
  const nodes = opts.nodes ?? (r() < 0.6 ? 3 : 5);
  // From a stream of its own, so the draws above and below (each seed's shape) are unchanged:
  // half the seeds keep a short watch history, so trimming it (and the records its previous
  // values refer to) runs under faults too, not only in the storage tests.
  const h = seededRandom(seed ^ 0x415707);
  const shortHistory = h() < 0.5 ? { watchHistoryRevisions: 50 + Math.floor(h() * 200) } : {};
  const c = new SimNodeCluster({
    seed,
    nodes,
    keepTrace: opts.keepTrace ?? false,
    tickMs,
    electionTicks,
    net: { dropRate: r() * 0.05, duplicateRate: r() * 0.03, reorderRate: r() * 0.1, minDelayMs: 0.2, maxDelayMs: 1 + r() * 10 },
    disk: { minWriteMs: 0.05, maxWriteMs: 0.2 + r() * 3, syncMs: r() * 2, reorderRate: 0.5 },
    ...(opts.wallClockAsMonotonic ? { wallClockAsMonotonic: true } : {}),
    nodeOptions: {
      ...shortHistory,
      snapshotIntervalEntries: 30 + Math.floor(r() * 60),
      entriesKeptAfterSnapshot: Math.floor(r() * 20),
      readTimeoutMs: READ_TIMEOUT_MS,
      insufficientReplicasTimeoutMs: INSUFFICIENT_REPLICAS_TIMEOUT_MS,
      durability: { ackTimeoutMs: ACK_TIMEOUT_MS },
    },
  });
  const s = c.sched;
  const rnd = s.random;
  const slow = 1 - MAX_DRIFT;
  // The bounds every promise must settle within, on the slowest clock: a read's deadline, and
  // a write's (the wait for replicas, the ack timeout, forwarding's 2 s margin, a follower's
  // wait for its own apply), plus one tick.
  const writeBoundMs = (ACK_TIMEOUT_MS + INSUFFICIENT_REPLICAS_TIMEOUT_MS + 2000 + c.electionTimeoutMs + tickMs) / slow;
  const readBoundMs = (READ_TIMEOUT_MS + tickMs) / slow;
  const clients = new SimClients(s, {
    processes: 4,
    keys: 4,
    pick: () => {
      const t = c.targets();
      return t.length ? t[Math.floor(rnd() * t.length)]! : null;
    },
    settleBoundMs: (kind) => (kind === 'read' ? readBoundMs : writeBoundMs),
    readTimeoutMs: READ_TIMEOUT_MS,
    largeShare: rnd() < 0.15 ? 0.004 : 0,
    maxValueBytes: MAX_VALUE_BYTES,
    maxCommandBytes: MAX_COMMAND_BYTES,
    thinkMs: 20 + rnd() * 80,
    allShare: 0.15,
    onAllAck: (t, token) => c.checkAllDurable(t, token),
  });
  c.clients = clients;
  const watchers = new SimWatchers(s, () => c.targets());
  clients.deathListeners.push((owner) => watchers.nodeDied(owner));
  for (const id of Object.keys(c.peers)) c.start(id);
  await c.run(2 * c.electionTimeoutMs);

  const chaosMs = opts.chaosMs ?? 20_000;
  const chaosEnd = s.nowMs + chaosMs;
  const clientsDone = clients.run(chaosEnd);
  let watchersDone = false;
  void watchers.run(2).then(() => (watchersDone = true));
  let joiners = 0;
  // The faults' follow-ups (a restart, a heal): cancelled when the chaos ends, so that none
  // fires during the final checks (a restart there killed the leader mid-scan: seed 128).
  const followUps: SimEvent[] = [];
  const later = (ms: number, what: string, f: () => void): void => {
    followUps.push(s.after(ms, null, what, f));
  };
  const pickHost = (pred: (id: string) => boolean = () => true): string | null => {
    const ids = [...c.hosts.keys()].filter((id) => c.hosts.get(id)!.state !== 'removed' && pred(id));
    return ids.length ? ids[Math.floor(rnd() * ids.length)]! : null;
  };
  const down = (): number => [...c.hosts.values()].filter((h) => h.state === 'down' || h.state === 'failed').length;

  while (s.nowMs < chaosEnd) {
    await c.run(200 + rnd() * 1300);
    const x = rnd();
    if (x < 0.04) {
      // A power failure takes a majority at once, just after the leader took writes.
      const ids = [...c.hosts.keys()].filter((i) => c.hosts.get(i)!.state === 'up');
      const victims = ids.filter(() => rnd() < 0.7).slice(0, Math.floor(nodes / 2) + 1);
      for (const id of victims) {
        c.crash(id);
        later(200 + rnd() * 2000, `restart ${id}`, () => c.restart(id));
      }
    } else if (x < 0.14) {
      const id = pickHost((i) => c.hosts.get(i)!.state === 'up');
      if (id && down() < nodes) {
        c.crash(id);
        later(100 + rnd() * 3000, `restart ${id}`, () => c.restart(id));
      }
    } else if (x < 0.22) {
      const l = c.leader();
      if (l) {
        c.crash(l.id);
        later(100 + rnd() * 2000, `restart ${l.id}`, () => c.restart(l.id));
      }
    } else if (x < 0.32) {
      const id = pickHost((i) => c.up(i));
      if (id) {
        c.pause(id);
        later(100 + rnd() * 3000, `resume ${id}`, () => c.resume(id));
      }
    } else if (x < 0.46) {
      const ids = [...c.hosts.keys()];
      const shuffled = ids.map((id) => ({ id, k: rnd() })).sort((a, b) => a.k - b.k).map((e) => e.id);
      const cut = 1 + Math.floor(rnd() * (ids.length - 1));
      c.wire.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      later(200 + rnd() * 3000, 'heal', () => c.wire.net.heal());
    } else if (x < 0.52) {
      const l = c.leader();
      if (l) {
        c.wire.net.partition([[l.id], [...c.hosts.keys()].filter((id) => id !== l.id)]);
        later(200 + rnd() * 2000, 'heal', () => c.wire.net.heal());
      }
    } else if (x < 0.6) {
      const id = pickHost();
      if (id) c.setRate(id, 1 + (rnd() * 2 - 1) * MAX_DRIFT);
    } else if (x < 0.64) {
      const h = c.hosts.get(pickHost() ?? 'n1');
      h?.clock?.stepWall((rnd() < 0.5 ? -1 : 1) * rnd() * 3_600_000);
    } else if (x < 0.7) {
      const id = pickHost();
      if (id) {
        const d = c.hosts.get(id)!.disk;
        const before = { ...d.profile };
        d.profile = { ...d.profile, maxWriteMs: 20 + rnd() * 200, syncMs: rnd() * 50 };
        later(500 + rnd() * 3000, `disk ${id} fast again`, () => (d.profile = before));
      }
    } else if (x < 0.74) {
      const id = pickHost((i) => c.up(i));
      const fault = (['write', 'sync', 'full'] as const)[Math.floor(rnd() * 3)]!;
      if (id && down() < nodes - 1) {
        c.injectDiskFault(id, fault);
        later(1000 + rnd() * 3000, `repair ${id}`, () => {
          c.repairDisk(id);
          c.restart(id);
        });
      }
    } else if (x < 0.82) {
      const l = c.leader();
      const target = pickHost((i) => i !== l?.id && c.up(i));
      if (l?.node && target) {
        s.note(null, `transfer leadership ${l.id} -> ${target}`);
        l.node.transferLeadership(target, 2000).catch((e: Error) => s.note(null, `transfer failed: ${e.message}`));
      }
    } else if (x < 0.88) {
      await membershipChange(c, rnd, joiners < MAX_JOINERS ? () => joiners++ : null);
    } else if (x < 0.91) {
      // A leader's VM migrates: paused and cut off, its wall clock stepped back by more than
      // the pause on resume (NTP), and it stays cut off a while. Its lease must have run out.
      const l = c.leader();
      if (l) {
        const pauseMs = c.electionTimeoutMs * (2 + rnd() * 4);
        c.pause(l.id);
        c.wire.net.partition([[l.id], [...c.hosts.keys()].filter((id) => id !== l.id)]);
        later(pauseMs, `resume ${l.id}`, () => {
          l.clock?.stepWall(-(pauseMs + 1000 + rnd() * 60_000));
          c.resume(l.id);
          const t = c.targets().find((x) => x.id === l.id);
          if (t) later(1 + rnd() * 20, `lease reads on ${l.id}`, () => clients.leaseProbe(t));
          later(500 + rnd() * 1500, 'heal', () => c.wire.net.heal());
        });
      }
    } else if (x < 0.94) {
      c.wire.net.profile = { ...c.wire.net.profile, dropRate: rnd() * 0.2, duplicateRate: rnd() * 0.05 };
      later(500 + rnd() * 3000, 'links calm', () => (c.wire.net.profile = { ...c.wire.net.profile, dropRate: 0.01, duplicateRate: 0.01 }));
    } else {
      // A flapping leader: cut off alone while its clients keep writing to it, then it meets
      // the leader elected meanwhile (and only it), which dies: the old leader may lead
      // again over its own truncated tail, with those writes still waiting.
      const a = c.leader();
      if (a) {
        c.wire.net.partition([[a.id], [...c.hosts.keys()].filter((id) => id !== a.id)]);
        const t = c.targets().find((x) => x.id === a.id);
        if (t) clients.writeBurst(t, 20 + Math.floor(rnd() * 40));
        later(c.electionTimeoutMs * (2 + rnd() * 2), `flap: ${a.id} meets the new leader`, () => {
          const b = c.leader();
          if (!b || b.id === a.id) return void c.wire.net.heal();
          c.wire.net.partition([[a.id, b.id], [...c.hosts.keys()].filter((id) => id !== a.id && id !== b.id)]);
          later(100 + rnd() * 300, `flap: ${b.id} dies`, () => {
            c.crash(b.id);
            c.wire.net.heal();
            later(500 + rnd() * 2000, `restart ${b.id}`, () => c.restart(b.id));
          });
        });
      }
    }
  }

  // Healing: the network calm and whole, every node resumed, repaired and running.
  // The clients stop at chaosEnd; their last operations settle within their bounds.
  let clientsFinished = false;
  void clientsDone.then(() => (clientsFinished = true));
  await c.run(writeBoundMs + 1000, () => clientsFinished);
  if (!clientsFinished) c.violations.push(`clients still waiting ${(writeBoundMs + 1000).toFixed(0)} ms after the chaos ended (${clients.openCount} open)`);
  for (const ev of followUps) s.cancel(ev);
  c.wire.net.heal();
  c.wire.net.profile = { ...c.wire.net.profile, dropRate: 0, duplicateRate: 0 };
  for (const h of c.hosts.values()) {
    c.resume(h.id);
    c.repairDisk(h.id);
    h.disk.profile = { ...h.disk.profile, minWriteMs: 0.05, maxWriteMs: 1, syncMs: 0.5 };
    if (h.state === 'down' || h.state === 'failed') c.restart(h.id);
  }
  await c.run(10 * c.electionTimeoutMs, () => c.leader() !== null && [...c.hosts.values()].every((h) => h.state !== 'starting'));
  await finalChecks(c, clients);
  for (const p of clients.problems) c.violations.push(p);
  // The watchers catch up with the final commit (or stopped, compacted everywhere), then the streams are checked.
  const commit = c.leader()?.node?.status().commitIndex ?? 0;
  await c.run(20 * c.electionTimeoutMs, () => watchers.streams.every((w) => w.stopped !== null || w.to >= commit));
  watchers.stop();
  await c.run(1000, () => watchersDone);
  if (!watchersDone) c.violations.push('watchers did not stop within 1 s of being closed');
  for (const p of checkWatchStreams(watchers.streams, clients.ops, (k) => k.startsWith(WATCHED_PREFIX))) c.violations.push(p);
  for (const p of checkScans(clients.scans, watchers.streams, Array.from({ length: 4 }, (_, i) => clients.key(i)))) c.violations.push(p);

  const stats: Record<string, number> = {
    ...c.stats,
    ...prefixed('client', clients.counts),
    ...prefixed('net', c.wire.net.stats),
    ...prefixed('watch', watchers.counts),
    'watch.coveredRevisions': watchers.streams.reduce((n, w) => n + Math.max(0, w.to - w.from + 1), 0),
    snapshotsDelivered: c.wire.snapshotsDelivered,
    diskCrashes: sum(c, (h) => h.disk.stats.crashes),
    unsyncedLost: sum(c, (h) => h.disk.stats.unsyncedLost),
    diskFailures: sum(c, (h) => h.disk.stats.failures),
    diskOverlappingBatches: sum(c, (h) => h.disk.overlap.ordered),
    diskOverlappingClears: sum(c, (h) => h.disk.overlap.concurrent - h.disk.overlap.ordered),
  };
  return {
    seed,
    nodes,
    ok: c.violations.length === 0,
    violations: c.violations,
    simulatedMs: s.nowMs,
    steps: s.steps,
    digest: s.digest(),
    stats,
    trace: s.traceLines(),
    replay: replayCommand(seed),
    history: clients.ops,
  };
}

function prefixed(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${p}.${k}`, v]));
}

function sum(c: SimNodeCluster, f: (h: SimNodeCluster['hosts'] extends Map<string, infer H> ? H : never) => number): number {
  let n = 0;
  for (const h of c.hosts.values()) n += f(h);
  return n;
}

/** Adds a joiner (then promotes it), or removes an electable member above three. */
async function membershipChange(c: SimNodeCluster, rnd: () => number, takeJoiner: (() => number) | null): Promise<void> {
  const l = c.leader();
  if (!l?.node) return;
  const s = c.sched;
  const group = l.node.status().members.filter((m) => !m.removed);
  const secondary = group.find((m) => m.type === 'secondary');
  const electables = group.filter((m) => m.type === 'electable');
  if (secondary && c.up(secondary.id)) {
    s.note(null, `promote ${secondary.id}`);
    l.node.changeMembership({ op: 'promote', id: secondary.id }, 3000).catch((e: Error) => s.note(null, `promote failed: ${e.message}`));
  } else if (!secondary && takeJoiner && rnd() < 0.6) {
    const k = takeJoiner() + 1;
    const id = `j${k}`;
    const h = c.addHost(id, `127.0.0.1:${7100 + k}`, l.address);
    s.note(null, `join ${id} through ${l.id}`);
    c.start(h.id);
  } else if (electables.length > 3) {
    const victim = electables[Math.floor(rnd() * electables.length)]!.id;
    s.note(null, `remove ${victim}`);
    l.node
      .changeMembership({ op: 'remove', id: victim }, 3000)
      .then(() => {
        const h = c.hosts.get(victim);
        if (h && h.state !== 'removed') {
          c.crash(victim);
          h.state = 'removed';
        }
      })
      .catch((e: Error) => s.note(null, `remove failed: ${e.message}`));
  }
}

/** After healing: every member catches up, every acknowledged write is there, the history checks. */
async function finalChecks(c: SimNodeCluster, clients: SimClients): Promise<void> {
  const s = c.sched;
  const v = c.violations;
  // A final write through the leader, which every member must apply.
  let final: 'pending' | 'ok' | string = 'pending';
  for (let attempt = 0; attempt < 20 && final !== 'ok'; attempt++) {
    const l = c.leader();
    if (!l?.node) {
      await c.run(c.electionTimeoutMs);
      continue;
    }
    final = 'pending';
    l.node.put('final', 'done').then(
      () => (final = 'ok'),
      (e: Error) => (final = e.message),
    );
    await c.run(10_000, () => final !== 'pending');
    if (final !== 'ok') await c.run(c.electionTimeoutMs); // refused at once (a transfer under way): try again later
  }
  if (final !== 'ok') {
    v.push(`no final write after healing (${final}; leader ${c.leader()?.id ?? 'none'})`);
    return;
  }
  const members = (): string[] => c.members().filter((id) => c.hosts.get(id)?.state !== 'removed');
  const caughtUp = (): boolean => {
    const l = c.leader();
    if (!l?.node) return false;
    const commit = l.node.status().commitIndex;
    return members().every((id) => {
      const n = c.hosts.get(id)?.node;
      return n !== null && n !== undefined && c.up(id) && n.status().appliedIndex >= commit;
    });
  };
  if (!(await c.run(60 * c.electionTimeoutMs, caughtUp))) {
    const lag = members().map((id) => `${id}:${c.hosts.get(id)?.state}@${c.hosts.get(id)?.node?.status().appliedIndex ?? '-'}`);
    v.push(`members did not catch up after healing: ${lag.join(' ')}`);
  }
  // Every member's state machine is the leader's, key for key (applied prefixes agree). One
  // scan of each member serves every check below: a get per acknowledged key on every member
  // decoded each value near 1 MiB once more (most of a seed with large values).
  const stateOf = async (id: string): Promise<Map<string, unknown> | null> => {
    const n = c.hosts.get(id)?.node;
    if (!n || !c.up(id)) return null;
    const state = new Map<string, unknown>();
    let done = false;
    void (async () => {
      for await (const [k, val] of n.scan({}, { consistency: 'none' })) state.set(k, val);
    })().finally(() => (done = true));
    if (!(await c.run(1000, () => done))) {
      v.push(`a scan of ${id}'s state did not finish within 1 s after catching up`);
      return null;
    }
    return state;
  };
  const shown = (state: Map<string, unknown>): string => [...state].map(([k, val]) => `${k}=${String(val).slice(0, 60)}`).join('\n');
  const states = new Map<string, Map<string, unknown>>();
  for (const id of members()) {
    const st = await stateOf(id);
    if (st) states.set(id, st);
  }
  const leaderId = c.leader()?.id;
  const reference = leaderId ? (states.get(leaderId) ?? (await stateOf(leaderId))) : null;
  if (reference) {
    const ref = shown(reference);
    for (const [id, st] of states) if (id !== leaderId && shown(st) !== ref) v.push(`${id}'s state machine differs from the leader ${leaderId}'s after catching up`);
  }
  // Every acknowledged fresh write, on every member's own state.
  for (const [id, st] of states) {
    for (const [key, value] of clients.fresh.acked) {
      const got = st.get(key);
      const name = typeof got === 'string' && got.includes('|') ? got.slice(0, got.indexOf('|')) : got;
      if (name !== value) v.push(`acknowledged write ${key}=${value} lost on ${id} (found ${String(name).slice(0, 80)})`);
    }
  }
  const first = members()[0];
  const firstState = first === undefined ? undefined : states.get(first);
  for (const f of clients.fresh.failed.keys()) {
    if (firstState?.has(f)) v.push(`write ${f} reported as not done, yet found on ${first}`);
  }
  // Weak reads: never a value nobody wrote; atLeast never a value its token's write overwrote.
  const completedAt = new Map<string, number>();
  for (const o of clients.ops) {
    const val = o.op.f === 'write' ? o.op.value : o.op.f === 'cas' && o.op.succeeded ? o.op.next : null;
    if (o.outcome === 'ok' && val !== null) completedAt.set(`${o.key}\u0000${val}`, o.completeMs);
  }
  for (const w of clients.weakReads) {
    if (w.value !== null && !clients.written.has(w.value)) v.push(`${w.consistency} read of ${w.key} at ${w.atMs.toFixed(0)} ms returned ${w.value}, which no client wrote`);
    if (!w.after || w.value === null || w.value === w.after.value) continue;
    const done = completedAt.get(`${w.key}\u0000${w.value}`);
    if (done !== undefined && done < w.after.invokeMs) {
      v.push(`atLeast read of ${w.key} at ${w.atMs.toFixed(0)} ms returned ${w.value}, written before the token's own write (${String(w.after.value)}) was even invoked`);
    }
  }
  const res = checkHistory(clients.ops, { maxStepsPerSegment: 2_000_000 });
  if (res.linearizable === false) for (const k of res.keys) if (k.linearizable === false) v.push(k.message ?? `key ${k.key} is not linearizable`);
  if (res.linearizable === 'unknown') s.note(null, 'linearizability: unknown (search budget)');
}
