// `conclave election status|debug|leave|ping` against three real node processes that require
// an admin secret: healthy, with a member paused (SIGSTOP) or killed (SIGKILL), with a wrong
// or missing secret; the --json shapes are pinned here.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ProcessGroup, waitFor } from '../cluster/harness.js';
import { jsonOf, runCli } from './run-cli.js';

const SECRET = 'the-admin-secret-of-the-election-tests';
const ROW_KEYS = ['address', 'id', 'leader', 'message', 'override', 'state', 'status', 'term'];
const VERDICT_KEYS = ['electableAnswering', 'electableGroupSize', 'heal', 'leader', 'leaders', 'majority', 'next', 'notFollowing', 'overrides', 'quorum', 'quorumReachable', 'refusing', 'silent', 'splitBrain', 'text'];
const BODY_KEYS = ['counters', 'history', 'leader', 'local', 'nowMs', 'peers', 'quorum', 'rollback'];
const QUORUM_KEYS = ['commitQuorum', 'effectiveGroupSize', 'electableGroupSize', 'electionQuorum', 'override', 'overrideSource', 'untilMajority'];
const HISTORY_KEYS = ['at', 'detail', 'event', 'from', 'term', 'to'];
const LEAVE_KEYS = ['address', 'id', 'message', 'override', 'previousRole', 'role', 'status', 'term'];
const PING_KEYS = ['action', 'address', 'id', 'leader', 'message', 'override', 'role', 'status', 'term'];

const keys = (o: object) => Object.keys(o).sort();

interface Row {
  id: string;
  address: string;
  status: number;
  message: string;
  state: string | null;
  term: number | null;
  leader: string | null;
  override: number | null;
}
interface Report {
  members: Row[];
  verdict: { leader: { id: string; address: string; term: number } | null; splitBrain: boolean; quorumReachable: boolean; electableAnswering: number; quorum: number; text: string };
}

let g: ProcessGroup;
test.before(async () => {
  g = await ProcessGroup.start({ nodes: 3, adminSecret: SECRET });
});
test.after.always(async () => {
  await g?.close();
});

const auth = () => ['--secret-file', g.adminSecretFile!];
const at = (id = 'n1') => ['--endpoint', g.peers[id]!, ...auth()];

async function leaderAndFollowers(): Promise<[string, string[]]> {
  const leader = await g.waitForLeader(10_000);
  return [leader, Object.keys(g.peers).filter((id) => id !== leader)];
}

test.serial('election status: 200 for the leader, 303 naming the leader for followers, one verdict line; the JSON shape', async (t) => {
  const [leader] = await leaderAndFollowers();
  const r = await runCli(['election', 'status', ...at()]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[1]!, /^\| Id +\| Status \| Message +\|$/);
  t.regex(r.stdout, new RegExp(`\\| ${leader} \\(${g.peers[leader]}\\) +\\| +200 \\| OK: leader in term \\d+`));
  for (const id of Object.keys(g.peers).filter((x) => x !== leader)) {
    t.regex(r.stdout, new RegExp(`\\| ${id} \\(${g.peers[id]}\\) +\\| +303 \\| ${leader} ${g.peers[leader]} `));
  }
  t.regex(lines.at(-1)!, new RegExp(`^verdict: leader ${leader} \\(${g.peers[leader]}\\) in term \\d+; quorum reachable: 3 of 3 electable members answer, 2 needed$`));

  const j = jsonOf<Report>(await runCli(['election', 'status', ...at(), '--json']));
  t.deepEqual(keys(j), ['members', 'verdict']);
  t.is(j.members.length, 3);
  for (const m of j.members) t.deepEqual(keys(m), ROW_KEYS);
  t.deepEqual(keys(j.verdict), VERDICT_KEYS);
  t.deepEqual(j.members.map((m) => m.status).sort(), [200, 303, 303]);
  t.is(j.verdict.leader?.id, leader);
  t.false(j.verdict.splitBrain);
  t.true(j.verdict.quorumReachable);
  t.true(j.members.every((m) => m.override === 0 && (m.status === 200 || m.leader === leader)));
});

test.serial('election debug: local, leader, peers, counters, quorum and override, history newest first; --human dates', async (t) => {
  const [leader] = await leaderAndFollowers();
  const j = jsonOf<{ members: (Row & { body: Record<string, any> })[]; verdict: object }>(await runCli(['election', 'debug', ...at(), '--json']));
  t.deepEqual(keys(j), ['members', 'verdict']);
  for (const m of j.members) {
    t.deepEqual(keys(m), [...ROW_KEYS, 'body'].sort());
    t.deepEqual(keys(m.body), BODY_KEYS);
    t.deepEqual(keys(m.body.local), ['id', 'role', 'state', 'term', 'url']);
    t.deepEqual(keys(m.body.quorum), QUORUM_KEYS);
    t.is(m.body.quorum.electableGroupSize, 3);
    t.is(m.body.quorum.commitQuorum, 2);
    t.is(m.body.local.url, g.peers[m.id]);
    t.is(m.body.leader.id, leader);
    t.is(m.body.peers.length, 2);
    const history = m.body.history as { at: number }[];
    t.true(history.length > 0);
    for (const h of history) t.deepEqual(keys(h), HISTORY_KEYS);
    t.true(history.every((h, i) => i === 0 || h.at <= history[i - 1]!.at), 'newest first');
    // Replication progress is known on the leader only.
    const progress = m.body.peers.map((p: { matchIndex: number | null }) => p.matchIndex);
    t.true(m.id === leader ? progress.every((x: unknown) => typeof x === 'number') : progress.every((x: unknown) => x === null));
  }
  const human = await runCli(['election', 'debug', ...at(), '--human']);
  t.is(human.code, 0);
  // Issue 21 item 8: a section per member, the history as a list, no JSON in table cells.
  t.regex(human.stdout, new RegExp(`== ${leader} \\(${g.peers[leader]}\\): 200 OK: leader in term \\d+\n  local     ${leader} leader \\(leader\\)`));
  t.regex(human.stdout, /\n  history \(newest first\)\n    - \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(\d+\.\d s ago\) term \d+ [A-Z_]+:[A-Z_]+:[A-Z_]+/);
  t.notRegex(human.stdout, /[{}"]/, 'no JSON');
  t.true(human.stdout.length < 8000, `${human.stdout.length} bytes for 3 members`);
  const raw = await runCli(['election', 'debug', ...at()]);
  t.regex(raw.stdout, /\n    - \d{13} term \d+ [A-Z_]+:[A-Z_]+:[A-Z_]+/);
});

test.serial('a paused member (SIGSTOP) is 7 Timeout, within the one deadline; through a paused endpoint too', async (t) => {
  const [leader, [paused]] = await leaderAndFollowers();
  g.pause(paused!);
  try {
    // The paused member is the first endpoint: the other one names the members meanwhile.
    const r = await runCli(['election', 'status', '--endpoint', g.peers[paused!]!, ...at(leader), '--timeout', '1500', '--json']);
    t.is(r.code, 0, r.stderr);
    const j = jsonOf<Report>(r);
    const row = j.members.find((m) => m.id === paused)!;
    t.is(row.status, 7);
    t.regex(row.message, /^Timeout \(no answer within 1500 ms\)$/);
    t.deepEqual(j.members.filter((m) => m.id !== paused).map((m) => m.status).sort(), [200, 303]);
    t.regex(j.verdict.text, /quorum reachable: 2 of 3 electable members answer, 2 needed/);
    // One deadline for every member together, not one per member: packages/admin/test/member-survey.test.ts
    // checks it without a clock (timing the CLI here measured the machine's load as much).
    t.log(`took ${r.elapsedMs} ms`);
  } finally {
    g.resume(paused!);
  }
});

test.serial('a paused endpoint does not hold a command open once the answer is known (issue 21 item 6)', async (t) => {
  const [leader, [paused]] = await leaderAndFollowers();
  g.pause(paused!);
  try {
    // The deadline is long; the answer comes from the live endpoint at once.
    const r = await runCli(['put', 'k6', 'v', '--endpoint', g.peers[paused!]!, '--endpoint', g.peers[leader]!, ...auth(), '--timeout', '20000'], 60_000);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^OK/);
    t.true(r.elapsedMs < 20_000, `exited after ${r.elapsedMs} ms, the pending connection to the paused endpoint held it open`);
  } finally {
    g.resume(paused!);
  }
});

test.serial('a wrong or missing admin secret is 401 for every member, exit 1; other commands say so too', async (t) => {
  const wrong = join(tmpdir(), `conclave-wrong-secret-${process.pid}`);
  writeFileSync(wrong, 'not-the-admin-secret-of-this-group');
  const ep = ['--endpoint', g.peers.n1!];
  const [wrongSecret, noSecret, text, ...others] = await Promise.all([
    runCli(['election', 'status', ...ep, '--secret-file', wrong, '--json']),
    runCli(['election', 'status', ...ep, '--json']),
    runCli(['election', 'status', ...ep, '--secret-file', wrong]),
    ...[['group', 'show'], ['override', 'show'], ['election', 'leave'], ['put', 'k', 'v']].map((args) => runCli([...args, ...ep, '--secret-file', wrong])),
  ]);
  for (const r of [wrongSecret!, noSecret!]) {
    t.is(r.code, 1);
    const j = jsonOf<Report>(r);
    t.deepEqual(j.members.map((m) => m.status), [401]);
    t.regex(j.members[0]!.message, /^authentication failed/);
    // Issue 21 item 8: the member answered, with a refusal.
    t.is((j as unknown as { verdict: { text: string } }).verdict.text, 'verdict: authentication refused by 1 member; next: give the admin secret of this group (--secret-file FILE)');
  }
  t.regex(text!.stdout, /\| +401 \| authentication failed/);
  for (const r of others) {
    t.is(r.code, 1, `${r.args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /authentication failed.*\[ADMIN_AUTH_FAILED\]/);
  }
});

test.serial('election leave: the leader steps down (LEAVE_REQUESTED) and the group elects again; unknown --node is an error', async (t) => {
  const [leader] = await leaderAndFollowers();
  const r = await runCli(['election', 'leave', '--node', leader, ...at(), '--json']);
  t.is(r.code, 0, r.stderr);
  const j = jsonOf<{ ok: boolean; members: Record<string, unknown>[] }>(r);
  t.deepEqual(keys(j), ['members', 'ok']);
  t.true(j.ok);
  t.is(j.members.length, 1);
  t.deepEqual(keys(j.members[0]!), LEAVE_KEYS);
  t.like(j.members[0], { id: leader, status: 200, previousRole: 'leader', role: 'follower' });
  t.regex(String(j.members[0]!.message), /^stepped down: LEADER -> FOLLOWER in term \d+; the group elects a leader again/);
  const now = await g.waitForLeader(10_000);
  // Issue 21 item 8: a follower has nothing to leave, and does not campaign while the leader lives.
  const follower = ['n1', 'n2', 'n3'].find((id) => id !== now)!;
  const f = jsonOf<{ members: { message: string }[] }>(await runCli(['election', 'leave', '--node', follower, ...at(), '--json']));
  t.regex(f.members[0]!.message, /^nothing to leave: FOLLOWER -> FOLLOWER in term \d+; it forgot its leader and follows the next one it hears .*campaigns only if it hears no leader for an election timeout/);
  t.notRegex(f.members[0]!.message, /campaigns again after an election timeout/);
  const st = await g.status(leader);
  t.true(st!.history.some((h) => h.event === 'LEAVE_REQUESTED' && h.from === 'LEADER'));
  const unknown = await runCli(['election', 'leave', '--node', 'n9', ...at()]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /unknown member 'n9' \(members: n1, n2, n3\) \[UNKNOWN_MEMBER\]/);
});

test.serial('election ping: every member that answers, at once; with a leader there is nothing to start', async (t) => {
  const [leader] = await leaderAndFollowers();
  const r = await runCli(['election', 'ping', ...at(), '--json']);
  t.is(r.code, 0, r.stderr);
  const j = jsonOf<{ ok: boolean; members: (Record<string, unknown> & { id: string })[] }>(r);
  t.is(j.members.length, 3);
  for (const m of j.members) {
    t.deepEqual(keys(m), PING_KEYS);
    t.like(m, { status: 200, action: 'none' });
    t.regex(String(m.message), m.id === leader ? /this node is the leader/ : new RegExp(`follows ${leader}`));
  }
});

test.serial('killed members are 2 (connection refused); without a quorum the verdict is NO LEADER and the exit code 1', async (t) => {
  const [, [f1, f2]] = await leaderAndFollowers();
  await g.kill(f1!);
  const one = await runCli(['election', 'status', ...at(f2), '--json']);
  t.is(one.code, 0);
  const row = jsonOf<Report>(one).members.find((m) => m.id === f1)!;
  t.is(row.status, 2);
  t.is(row.message, `${g.peers[f1!]}: connection refused`);
  await g.kill(f2!);
  const survivor = Object.keys(g.peers).find((id) => id !== f1 && id !== f2)!;
  // The leader steps down once check-quorum sees it alone.
  const down = await waitFor(async () => {
    const r = await runCli(['election', 'status', ...at(survivor)]);
    return r.code === 1 && r.stdout.includes('verdict: NO LEADER') ? r : null;
  }, 10_000, 'the verdict to lose the leader');
  t.regex(down.stdout, new RegExp(`\\| ${survivor} \\(${g.peers[survivor]}\\) +\\| +500 \\| no leader: [A-Z_]+ in term \\d+; an election needs the votes of 2 of 3 \\(electable group size 3, override off\\)`));
  const lost = Object.keys(g.peers).filter((id) => id !== survivor).sort();
  t.regex(down.stdout, new RegExp(`verdict: NO LEADER; quorum NOT reachable: 1 of 3 electable members answer, 2 needed \\(silent: ${lost.join(', ')}\\); next: if ${lost.join(', ')} are lost for good: conclave override set 1 --node ${survivor} \\(see the procedure`));
  const ping = jsonOf<{ members: { status: number; role: string; message: string }[] }>(await runCli(['election', 'ping', ...at(survivor), '--json']));
  t.is(ping.members.length, 1);
  t.is(ping.members[0]!.status, 200);
  t.not(ping.members[0]!.role, 'leader');
  t.regex(ping.members[0]!.message, /election/);
});
