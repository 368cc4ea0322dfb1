// The verdict of `conclave election status` from synthetic surveys: what real processes make
// hard to stage (two members claiming to lead), overrides in the quorum, and the exit codes.
import test from 'ava';
import type { Member } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { electionExitCode, electionReport, verdictOf } from '../src/election-report.js';
import type { MemberProbe, Survey } from '../src/member-survey.js';

const members: Member[] = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id, i) => ({ id, address: `127.0.0.1:${7001 + i}`, type: 'electable', removed: false, priority: 1 }));

function answered(id: string, over: Partial<NodeStatus>): MemberProbe {
  const m = members.find((x) => x.id === id)!;
  const status = {
    id, address: m.address, groupId: 'g', state: 'follower', role: 'follower', term: 3, leader: null, members, appliedIndex: 1, electableGroupSize: 5,
    electableGroupSizeOverride: 0, overrideSource: 'none', overrideUntilMajority: false, effectiveGroupSize: 5, electionQuorum: 3, commitQuorum: 3, peers: [], history: [],
    counters: { preVotesStarted: 0, preVotesRejected: 0, electionsStarted: 0, electionsWon: 0, electionsLost: 0, votesGranted: 0, votesRefused: 0, leaderChanges: 0, lastLeaderContactAt: null },
    rollback: { state: 'none' },
    ...over,
  } as NodeStatus;
  return { id, address: m.address, member: m, status, error: null };
}

function failed(id: string, code: string): MemberProbe {
  const m = members.find((x) => x.id === id)!;
  return { id, address: m.address, member: m, status: null, error: { code, message: code.toLowerCase() } };
}

const survey = (probes: MemberProbe[]): Survey => ({ group: { groupId: 'g', members }, source: 'n1', probes, timeoutMs: 1000 });
const leader = (id: string, term: number, over: Partial<NodeStatus> = {}) => answered(id, { state: 'leader', role: 'leader', term, leader: { id, address: members.find((m) => m.id === id)!.address }, ...over });
const follower = (id: string, of: string) => answered(id, { leader: { id: of, address: members.find((m) => m.id === of)!.address } });

test('two members claiming to lead: split brain, both named, highest term first; exit 1', (t) => {
  const s = survey([leader('n1', 4), follower('n2', 'n1'), leader('n4', 6), follower('n5', 'n4'), failed('n3', 'TIMEOUT')]);
  const v = verdictOf(s);
  t.true(v.splitBrain);
  t.deepEqual(v.leaders.map((l) => [l.id, l.term]), [['n4', 6], ['n1', 4]]);
  t.is(v.leader?.id, 'n4');
  t.is(v.text, 'verdict: SPLIT BRAIN: n4 (term 6), n1 (term 4) each claim to lead; quorum reachable: 4 of 5 electable members answer, 3 needed');
  t.is(electionExitCode(electionReport(s, 0)), 1);
});

test('the quorum comes from the leader, override included; without a leader, from the smallest election quorum that answers', (t) => {
  const withOverride = verdictOf(survey([leader('n1', 5, { electableGroupSizeOverride: 2, commitQuorum: 2, electionQuorum: 2 }), follower('n2', 'n1'), failed('n3', 'CONNECTION_REFUSED'), failed('n4', 'CONNECTION_REFUSED'), failed('n5', 'TIMEOUT')]));
  t.like(withOverride, { quorum: 2, majority: 3, electableAnswering: 2, quorumReachable: true, splitBrain: false });
  t.deepEqual(withOverride.overrides, [{ id: 'n1', override: 2, quorum: 2, belowMajority: true }]);
  t.regex(withOverride.text, /quorum reachable: 2 of 5 electable members answer, 2 needed \(override 2 on n1 \(quorum 2: BELOW A TRUE MAJORITY\); a true majority is 3\)$/);

  const noLeader = verdictOf(survey([answered('n1', { electionQuorum: 2, electableGroupSizeOverride: 2 }), answered('n2', {}), failed('n3', 'CONNECTION_REFUSED'), failed('n4', 'CONNECTION_REFUSED'), failed('n5', 'CONNECTION_REFUSED')]));
  t.like(noLeader, { leader: null, quorum: 2, quorumReachable: true });
  t.regex(noLeader.text, /^verdict: NO LEADER; quorum reachable/);
});

test('exit codes: 0 healthy, 1 without quorum or with a refused secret, 3 when no member answers', (t) => {
  const healthy = [leader('n1', 2), follower('n2', 'n1'), follower('n3', 'n1'), failed('n4', 'CONNECTION_REFUSED'), failed('n5', 'TIMEOUT')];
  t.is(electionExitCode(electionReport(survey(healthy), 0)), 0);
  t.is(electionExitCode(electionReport(survey([...healthy.slice(0, 4), failed('n5', 'ADMIN_AUTH_FAILED')]), 0)), 1);
  t.is(electionExitCode(electionReport(survey([leader('n1', 2), follower('n2', 'n1'), failed('n3', 'TIMEOUT'), failed('n4', 'TIMEOUT'), failed('n5', 'TIMEOUT')]), 0)), 1);
  t.is(electionExitCode(electionReport(survey(members.map((m) => failed(m.id, 'CONNECTION_REFUSED'))), 0)), 3);
  const rows = electionReport(survey([failed('n1', 'CONNECTION_REFUSED'), failed('n2', 'TIMEOUT'), failed('n3', 'ADMIN_AUTH_FAILED'), failed('n4', 'CONNECTION_FAILED'), failed('n5', 'NODE_CLOSED')]), 0).members;
  t.deepEqual(rows.map((r) => r.status), [2, 7, 401, 2, 500]);
  t.deepEqual(rows.map((r) => r.message), ['127.0.0.1:7001: connection refused', 'Timeout (no answer within 1000 ms)', 'authentication failed: wrong or missing admin secret (admin_auth_failed)', '127.0.0.1:7004: connection_failed', 'NODE_CLOSED: node_closed']);
});
