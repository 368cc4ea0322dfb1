// Issue 12 item 2 and issue 21 item 8 on real processes: committed entries that differ from
// the leader's when no override was ever used mean damaged data. The node keeps its data and
// refuses to rejoin (DIVERGED_WITHOUT_OVERRIDE) instead of rolling back on its own; the
// operator's `conclave node accept-rollback --node ID --yes` rolls it back, report first.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeStorage } from '@conclave/storage';
import { jsonOf, runCli } from '../admin/run-cli.js';
import { ProcessGroup, waitFor } from './harness.js';

/** Rewrites `dir`'s log after the bootstrap entries with term 1: damaged data that still decodes. */
async function damageTerms(dir: string): Promise<{ from: number; to: number; writes: number }> {
  const s = await NodeStorage.open({ path: dir });
  try {
    const loaded = await s.load();
    const hs = loaded.hardState;
    const from = loaded.entries.findIndex((e) => e.term > 1);
    if (from < 0) throw new Error('no entries after the bootstrap ones');
    const first = loaded.entries[from]!.index;
    const rewritten = loaded.entries.slice(from).map((e) => ({ ...e, term: 1 }));
    // Storage refuses to truncate committed entries: lower the commit, rewrite, restore it.
    await s.setHardState({ ...hs, commit: first - 1 });
    await s.append(rewritten);
    await s.setHardState(hs);
    // Its durable commit may lag what it acknowledged: only entries up to it count as committed.
    const writes = rewritten.filter((e) => e.type === 'normal' && e.index <= hs.commit).length;
    return { from: first, to: hs.commit, writes };
  } finally {
    await s.close();
  }
}

test.serial('a divergence no override explains: the node keeps its data and refuses to rejoin until the operator accepts', async (t) => {
  const g = await ProcessGroup.start({ nodes: 3 });
  try {
    let leader = await g.waitForLeader(60_000);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
    let last = 0;
    for (let i = 0; i < 3; i++) last = (await g.client(leader).put(`k${i}`, i)).token.index;
    await waitFor(async () => ((await g.status(follower))?.commitIndex ?? 0) >= last, 60_000, `${follower} to commit the writes`);
    await g.kill(follower);
    const damaged = await damageTerms(g.dataDir(follower));
    t.true(damaged.writes >= 1, 'at least one committed write is damaged');
    // A new term, so that the leader probes the follower's log from scratch (a leader that
    // saw it before the damage trusts the match it recorded then).
    await g.kill(leader);
    g.spawn(leader);
    g.spawn(follower);
    leader = await g.waitForLeader(60_000);
    t.not(leader, follower, 'a node whose log ends in an older term cannot win');
    // The leader compares logs when it next replicates: one more write.
    await waitFor(async () => (await g.status(follower))?.leader?.id === leader, 60_000, `${follower} to hear the leader`);
    await g.client(leader).put('next', 1);

    const st = await waitFor(async () => {
      const s = await g.status(follower);
      return s?.rollback.state === 'divergedWithoutOverride' ? s : null;
    }, 60_000, `${follower} to refuse the divergence`);
    t.like(st.rollback, { state: 'divergedWithoutOverride', fromIndex: damaged.from, toIndex: damaged.to, leader, lostWriteCount: damaged.writes });
    t.true(st.commitIndex === damaged.to, 'its commit did not move');
    t.regex(g.output.get(follower) ?? '', /"event":"diverged_without_override","code":"DIVERGED_WITHOUT_OVERRIDE".*neither it nor the leader ran with an electable group size override/);
    t.false(existsSync(join(g.dataDir(follower), 'rollbacks')), 'nothing rolled back, no report');
    t.true(st.lastIndex >= damaged.to, 'its log keeps the diverged entries');
    // Its state machine answers from what it applied: a restart may have lost the deferred
    // applies of the tail (they are redone from the log), so read only what it applied.
    if (st.appliedIndex >= damaged.to) t.deepEqual(await g.client(follower).get('k2', 'none'), { found: true, value: 2 }, 'its data is kept');
    else t.log(`${follower} applied ${st.appliedIndex} of its commit ${st.commitIndex} before it met the leader`);
    t.true(st.history.some((h) => h.event === 'DIVERGED'), 'the history records the divergence');
    t.true(st.history.some((h) => h.event === 'ROLLBACK_PROHIBITED' && /DIVERGED_WITHOUT_OVERRIDE/.test(h.detail)), 'and the refusal');

    // Issue 21 item 3: the refusing member does not count, and every view shows why.
    const endpoint = g.peers[leader]!;
    const status = await runCli(['election', 'status', '--endpoint', endpoint, '--json']);
    const report = jsonOf<{ members: { id: string; status: number; message: string }[]; verdict: { electableAnswering: number; refusing: string[]; quorumReachable: boolean; text: string; next: string } }>(status);
    t.like(report.verdict, { electableAnswering: 2, refusing: [follower], quorumReachable: true });
    t.regex(report.verdict.text, new RegExp(`quorum reachable: 2 of 3 electable members answer, 2 needed \\(refusing the leader's log: ${follower}\\)`));
    t.regex(report.verdict.next, new RegExp(`conclave node accept-rollback --node ${follower} --yes`));
    const row = report.members.find((m) => m.id === follower)!;
    t.is(row.status, 500, row.message);
    t.regex(row.message, new RegExp(`DIVERGED WITHOUT OVERRIDE: ${damaged.writes} committed writes \\[${damaged.from}, ${damaged.to}\\] differ from leader ${leader}`));
    const group = jsonOf<{ members: { id: string; status: number; rollback: string }[] }>(await runCli(['group', 'show', '--endpoint', endpoint, '--json']));
    t.like(group.members.find((m) => m.id === follower), { status: 500, rollback: 'divergedWithoutOverride' });
    const ping = jsonOf<{ members: { message: string }[] }>(await runCli(['election', 'ping', '--node', follower, '--endpoint', endpoint, '--json']));
    t.regex(ping.members[0]!.message, /DIVERGED WITHOUT OVERRIDE/);
    const debug = jsonOf<{ members: { id: string; body: { rollback: { state: string } } }[] }>(await runCli(['election', 'debug', '--endpoint', endpoint, '--json']));
    t.is(debug.members.find((m) => m.id === follower)!.body.rollback.state, 'divergedWithoutOverride');

    // The operator accepts, with the confirmation flag.
    const unconfirmed = await runCli(['node', 'accept-rollback', '--node', follower, '--endpoint', endpoint, '--json']);
    t.is(unconfirmed.code, 2, unconfirmed.stderr);
    t.regex(jsonOf<{ error: { message: string } }>(unconfirmed).error.message, /--yes/);
    const accepted = await runCli(['node', 'accept-rollback', '--node', follower, '--yes', '--endpoint', endpoint, '--json']);
    t.is(accepted.code, 0, accepted.stdout + accepted.stderr);
    const accept = jsonOf<{ members: { id: string; status: number; lostWriteCount: number; file: string }[] }>(accepted).members[0]!;
    t.like(accept, { id: follower, status: 200, lostWriteCount: damaged.writes });
    await g.client(leader).put('after', 'yes');
    await waitFor(async () => (await g.client(follower).get('after', 'none').catch(() => null))?.found, 60_000, `${follower} to follow the leader`);
    const files = readdirSync(join(g.dataDir(follower), 'rollbacks'));
    t.is(files.length, 1);
    const saved = JSON.parse(readFileSync(join(g.dataDir(follower), 'rollbacks', files[0]!), 'utf8'));
    t.deepEqual(saved.lostWrites.map((w: { command: { key: string } }) => w.command.key), ['k0', 'k1', 'k2'].slice(0, damaged.writes), 'every discarded write is listed');
    t.deepEqual(await g.client(follower).get('k2', 'none'), { found: true, value: 2 }, 'the leader had the same writes');
  } catch (err) {
    for (const id of ['n1', 'n2', 'n3']) {
      const s = await g.status(id);
      t.log(id, JSON.stringify({ c: s?.commitIndex, l: s?.lastIndex, d: s?.divergence, r: s?.rollback, h: s?.history.slice(0, 6).map((h) => `${h.event} ${h.detail}`), p: s?.peers }));
    }
    t.log(g.logs());
    throw err;
  } finally {
    await g.close();
  }
});
