// The override on a minority, with whole nodes: a partition cuts five members 2 | 3, the
// minority's member gets the override and elects itself, both sides acknowledge writes,
// then the group heals. Divergence is expected; it must never be silent: every
// acknowledged write the group no longer has must be listed in a rollback report (written
// to the node's disk before it rolls back) or counted by a node that refuses to roll back.
import test from 'ava';
import { SimNodeCluster } from './cluster.js';
import { settle } from './settle.js';


interface Outcome {
  readonly acked: number;
  readonly lost: readonly string[];
  readonly reported: ReadonlySet<string>;
  /** Nodes that refuse to roll back and count what they would lose (prohibited, or taken for damaged). */
  readonly refusing: number;
  readonly states: Readonly<Record<string, string>>;
  readonly violations: readonly string[];
  /** Terms in which both sides elected a leader. */
  readonly sharedTerms: readonly number[];
  /** Members holding different committed entries at one index without reporting it (cluster.committedDisagreements). */
  readonly disagreements: readonly string[];
}

/** Five members cut 2 | 3, the override on n1, writes on both sides, then the heal. */
async function splitBrain(seed: number): Promise<Outcome> {
  const c = new SimNodeCluster({ seed, nodes: 5, nodeOptions: { rollbackLimit: seed % 2 === 0 ? 2 : 10, durability: { ackTimeoutMs: 2000 } } });
  const rollbacks: { lostWrites: readonly { command: unknown }[] }[] = [];
  for (const id of Object.keys(c.peers)) c.start(id);
  if (!(await c.run(5000, () => c.leader() !== null))) throw new Error('no leader');
  for (const h of c.hosts.values()) h.node!.on('rollback', (r) => rollbacks.push(r));
  const majority = ['n3', 'n4', 'n5'];
  c.wire.net.partition([['n1', 'n2'], majority]);
  await c.run(3 * c.electionTimeoutMs);
  const n1 = c.hosts.get('n1')!.node!;
  if (!(await settle(c, n1.setElectableGroupSizeOverride(2, { force: true }))).ok) throw new Error('override refused');
  if (!(await c.run(5000, () => n1.isLeader))) throw new Error('n1 did not lead the minority');
  const acked = new Map<string, string>();
  for (let i = 0; i < 4; i++) {
    if ((await settle(c, n1.put(`m${i}`, `minority-${i}`))).ok) acked.set(`m${i}`, `minority-${i}`);
    const l = majority.map((id) => c.hosts.get(id)!.node!).find((n) => n.isLeader);
    if (l && (await settle(c, l.put(`M${i}`, `majority-${i}`))).ok) acked.set(`M${i}`, `majority-${i}`);
    await c.run(100);
  }
  if (![...acked.keys()].some((k) => k.startsWith('m'))) throw new Error('the minority acknowledged nothing');
  c.wire.net.heal();
  await c.run(20 * c.electionTimeoutMs);
  const leader = c.leader()!.node!;
  const lost: string[] = [];
  for (const [key, value] of acked) {
    const r = await settle(c, leader.get(key));
    if (!r.ok || r.value !== value) lost.push(`${key}=${value}`);
  }
  const reported = new Set(
    rollbacks.flatMap((r) =>
      r.lostWrites.map((w) => {
        const cmd = w.command as { key?: string; value?: unknown };
        return `${cmd.key}=${String(cmd.value)}`;
      }),
    ),
  );
  const states: Record<string, string> = {};
  for (const h of c.hosts.values()) states[h.id] = h.node?.status().rollback.state ?? h.state;
  const refusing = Object.values(states).filter((x) => x === 'prohibited' || x === 'divergedWithoutOverride').length;
  return { acked: acked.size, lost, reported, refusing, states, violations: c.violations, sharedTerms: [...c.sharedTerms], disagreements: c.committedDisagreements() };
}

for (const seed of [1, 2, 3, 4]) {
  test.serial(`seed ${seed}: writes acknowledged under a minority's override are lost only with a report`, async (t) => {
    const o = await splitBrain(seed);
    t.log(`acknowledged ${o.acked}, gone ${o.lost.length} (${o.lost.join(' ')}); rollback states ${JSON.stringify(o.states)}; terms with two leaders: ${o.sharedTerms.join(',') || 'none'}`);
    t.true(o.lost.length > 0, "one side's acknowledged writes are gone, as the override allows");
    for (const l of o.lost) t.true(o.reported.has(l) || o.refusing > 0, `${l} is gone without a rollback report or a refusing node`);
    // Two leaders of one term (both sides elected at the same term) are allowed; a member
    // that keeps its own entry where the leader holds another of the same term is not.
    t.deepEqual(o.disagreements, []);
    t.deepEqual(o.violations, []);
  });
}

// Found by this simulation: n2, which never ran with the override but committed entries
// under its leader n1's override, met the majority's leader after the heal and was taken
// for damaged data (DIVERGED_WITHOUT_OVERRIDE). A follower now records the leader's span
// (the appends carry it) in its own for what it commits, so its divergence is a rollback.
test.serial('a member that only followed the override leader is not taken for damaged data', async (t) => {
  const o = await splitBrain(3);
  t.log(JSON.stringify(o.states));
  t.false(Object.values(o.states).includes('divergedWithoutOverride'));
  t.deepEqual(o.violations, []);
});
