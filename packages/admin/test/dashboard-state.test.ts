// The dashboard's view of a survey (members, leader, override age, bounded samples), the
// CLI's endpoint default, and an example in every command's --help.
import test from 'ava';
import type { Member } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { commitAckTotals, DashboardState, MAX_SAMPLES } from '../src/dashboard-state.js';
import type { MemberProbe, Survey } from '../src/member-survey.js';
import { DEFAULT_ENDPOINT, resolveEndpoints } from '../src/common.js';
import { EXAMPLES, leafCommands } from '../src/help-examples.js';
import { buildProgram } from '../src/program.js';

const members: Member[] = ['n1', 'n2', 'n3'].map((id, i) => ({ id, address: `127.0.0.1:${7001 + i}`, type: 'electable', removed: false, priority: 1 }));

function probe(id: string, over: Partial<NodeStatus> | null): MemberProbe {
  const m = members.find((x) => x.id === id)!;
  if (over === null) return { id, address: m.address, member: m, status: null, error: { code: 'CONNECTION_REFUSED', message: `connection refused by ${m.address}` } };
  const status = {
    id, address: m.address, groupId: 'g', state: 'follower', role: 'follower', term: 3, leader: { id: 'n1', address: '127.0.0.1:7001' }, members, commitIndex: 10, appliedIndex: 10, lastIndex: 10,
    electableGroupSize: 3, electableGroupSizeOverride: 0, overrideSource: 'none', overrideUntilMajority: false, effectiveGroupSize: 3, electionQuorum: 2, commitQuorum: 2, peers: [], history: [],
    counters: { preVotesStarted: 0, preVotesRejected: 0, electionsStarted: 0, electionsWon: 0, electionsLost: 0, votesGranted: 0, votesRefused: 0, leaderChanges: 0, lastLeaderContactAt: null },
    rollback: { state: 'none' }, nowMs: 1_000_000,
    ...over,
  } as NodeStatus;
  return { id, address: m.address, member: m, status, error: null };
}

const survey = (probes: MemberProbe[]): Survey => ({ group: { groupId: 'g', members }, source: 'n1', probes, timeoutMs: 1000 });
const leaderAt = (commitIndex: number) =>
  probe('n1', {
    state: 'leader', role: 'leader', commitIndex, lastIndex: commitIndex,
    peers: [{ id: 'n2', address: '127.0.0.1:7002', type: 'electable', matchIndex: commitIndex - 4, lag: 4, active: true, state: 'replicate' }],
  });
const metrics = (sum: number, count: number) => `# TYPE conclave_commit_ack_seconds histogram\nconclave_commit_ack_seconds_bucket{le="+Inf"} ${count}\nconclave_commit_ack_seconds_sum ${sum}\nconclave_commit_ack_seconds_count ${count}\n`;

test('members, leader, lag and reachability come from the survey; rates from two samples of one leader', (t) => {
  const s = new DashboardState();
  const first = s.update(survey([leaderAt(100), probe('n2', {}), probe('n3', null)]), metrics(1, 100), 10_000);
  t.deepEqual(first.leader, { id: 'n1', address: '127.0.0.1:7001', term: 3 });
  t.is(first.electableGroupSize, 3);
  t.deepEqual(first.members.map((m) => [m.id, m.state, m.reachable, m.lag]), [['n1', 'leader', true, 0], ['n2', 'follower', true, 4], ['n3', null, false, null]]);
  t.regex(first.members[2]!.error!, /^CONNECTION_REFUSED/);
  t.deepEqual(first.samples, [{ atMs: 10_000, commitsPerSecond: null, ackMs: null }], 'one sample has no rate yet');
  const second = s.update(survey([leaderAt(300), probe('n2', {}), probe('n3', null)]), metrics(1.5, 200), 12_000);
  t.deepEqual(second.samples[1], { atMs: 12_000, commitsPerSecond: 100, ackMs: 5 }, '200 commits in 2 s; 0.5 s over 100 acks');
  t.is(second.message, null);
  const none = s.update(survey([probe('n1', { leader: null }), probe('n2', { leader: null }), probe('n3', null)]), null, 13_000);
  t.is(none.leader, null);
  t.regex(none.message!, /no leader/);
});

test('samples are bounded to the charts\' window', (t) => {
  const s = new DashboardState();
  let v = s.current;
  for (let i = 0; i < MAX_SAMPLES + 50; i++) v = s.update(survey([leaderAt(10 + i)]), null, 1000 * (i + 1));
  t.is(v.samples.length, MAX_SAMPLES);
  t.is(v.samples.at(-1)!.atMs, 1000 * (MAX_SAMPLES + 50));
});

test("an override's age comes from the member's own history, else from when the dashboard first saw it", (t) => {
  const s = new DashboardState();
  const history = [{ at: 1_000_000 - 90_000, from: 'FOLLOWER', event: 'OVERRIDE_SET', to: 'FOLLOWER', term: 3, detail: 'override 0 -> 2 (electable group size 3)' }] as NodeStatus['history'];
  const v = s.update(survey([leaderAt(10), probe('n2', { electableGroupSizeOverride: 2, overrideSource: 'runtime', history }), probe('n3', { electableGroupSizeOverride: 1 })]), null, 50_000);
  t.like(v.members[1], { override: 2, overrideSource: 'runtime', overrideForMs: 90_000 });
  t.is(v.members[1]!.history[0]!.atMs, 50_000 - 90_000, "the member's clock is mapped onto the dashboard's");
  t.is(v.members[2]!.overrideForMs, 0, 'no history entry: seen just now');
  const later = s.update(survey([leaderAt(10), probe('n2', { electableGroupSizeOverride: 0 }), probe('n3', { electableGroupSizeOverride: 1 })]), null, 80_000);
  t.is(later.members[2]!.overrideForMs, 30_000);
  t.is(later.members[1]!.overrideForMs, null);
});

test('commitAckTotals reads the histogram sum and count, or says there is none', (t) => {
  t.deepEqual(commitAckTotals(metrics(0.25, 7)), { sumSeconds: 0.25, count: 7 });
  t.is(commitAckTotals('conclave_term 3\n'), null);
});

test('--endpoint, else $CONCLAVE_ENDPOINTS (comma-separated), else 127.0.0.1:7001; a bad entry is named', (t) => {
  t.deepEqual(resolveEndpoints(['127.0.0.1:9'], { CONCLAVE_ENDPOINTS: '127.0.0.1:8' }), ['127.0.0.1:9']);
  t.deepEqual(resolveEndpoints(undefined, { CONCLAVE_ENDPOINTS: '127.0.0.1:7002, 127.0.0.1:7003' }), ['127.0.0.1:7002', '127.0.0.1:7003']);
  t.deepEqual(resolveEndpoints(undefined, {}), [DEFAULT_ENDPOINT]);
  t.deepEqual(resolveEndpoints([], { CONCLAVE_ENDPOINTS: ' ' }), ['127.0.0.1:7001']);
  t.throws(() => resolveEndpoints(undefined, { CONCLAVE_ENDPOINTS: '127.0.0.1:7001,nohost' }), { code: 'INVALID_ARGUMENT', message: /CONCLAVE_ENDPOINTS entry 'nohost' is not HOST:PORT/ });
});

test("every command's --help has an example, and every example names a command that exists", (t) => {
  const program = buildProgram();
  const leaves = leafCommands(program);
  t.true(leaves.length >= 18, leaves.map((l) => l.path).join(', '));
  for (const { path, command } of leaves) {
    let help = '';
    command.configureOutput({ writeOut: (s) => (help += s) });
    command.outputHelp();
    t.regex(help, /\nExamples:\n {2}(CONCLAVE_ENDPOINTS=\S+ )?conclave /, `conclave ${path} --help has an example`);
    for (const line of EXAMPLES[path] ?? []) t.true(line.replace(/^CONCLAVE_ENDPOINTS=\S+ /, '').startsWith(`conclave ${path}`), `${path}: ${line}`);
  }
  t.deepEqual(Object.keys(EXAMPLES).filter((p) => !leaves.some((l) => l.path === p)), [], 'no example for a command that does not exist');
});
