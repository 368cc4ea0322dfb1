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
    id, address: m.address, groupId: 'g', state: 'follower', role: 'follower', term: 3, leader: null, members, appliedIndex: 1, lastIndex: 1, electableGroupSize: 5,
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
  t.is(v.leader, null, 'no single leader');
  t.like(v.heal, { winner: 'n4', losers: ['n1'] });
  t.false(v.quorumReachable);
  t.is(
    v.text,
    'verdict: SPLIT BRAIN: n4 (term 6, override off, last index 1), n1 (term 4, override off, last index 1) each claim to lead; when the partition heals ' +
      'n4 wins: its term 6 is the highest, so n1 steps down at its first message, and its log (last entry of term 6) beats theirs in any vote. ' +
      "What n1's side committed since the partition is rolled back (each member within its rollbackLimit, else it refuses until accepted); " +
      'no single quorum: a true majority is 3 of 5; next: stop writing to n1, clear any override, heal the partition, then check for refused rollbacks (conclave election status; conclave node accept-rollback --node ID --yes)',
  );
  t.is(electionExitCode(electionReport(s, 0)), 1);
});

test('split brain through the override: every claimant with its term and override; the override side loses and is named in the next step', (t) => {
  const s = survey([
    leader('n1', 5, { electableGroupSizeOverride: 2, commitQuorum: 2, electionQuorum: 2, lastIndex: 60 }),
    answered('n2', { electableGroupSizeOverride: 2, electionQuorum: 2, leader: { id: 'n1', address: members[0]!.address } }),
    leader('n3', 7, { lastIndex: 50 }),
    follower('n4', 'n3'),
    follower('n5', 'n3'),
  ]);
  const v = verdictOf(s);
  t.is(v.leader, null);
  t.deepEqual(v.leaders.map((l) => [l.id, l.term, l.override]), [['n3', 7, 0], ['n1', 5, 2]]);
  t.regex(v.text, /n3 \(term 7, override off, last index 50\), n1 \(term 5, override 2, last index 60\) each claim to lead; when the partition heals n3 wins: its term 7 is the highest/);
  t.notRegex(v.text, /5 of 5, 2 needed/, 'the override\'s quorum does not speak for the group');
  t.regex(v.next ?? '', /^stop writing to n1, conclave override clear --node n1 --node n2, heal the partition/);
});

test('members refusing their leader\'s log do not count toward the quorum; their row is 500 with the count and the way out', (t) => {
  // Issue 21 item 3: n4 prohibited, n3 and n5 paused (silent): only n1 and n2 can commit.
  const prohibited = answered('n4', {
    leader: { id: 'n2', address: members[1]!.address },
    rollback: { state: 'prohibited', lostWriteCount: 15, rollbackLimit: 10, fromIndex: 35, toIndex: 52, leader: 'n2', exact: true },
  });
  const s = survey([follower('n1', 'n2'), leader('n2', 9), failed('n3', 'TIMEOUT'), prohibited, failed('n5', 'TIMEOUT')]);
  const r = electionReport(s, 0);
  t.like(r.verdict, { electableAnswering: 2, quorum: 3, quorumReachable: false, refusing: ['n4'], silent: ['n3', 'n5'] });
  t.regex(r.verdict.text, /quorum NOT reachable: 2 of 5 electable members answer, 3 needed \(silent: n3, n5; refusing the leader's log: n4\)/);
  t.regex(r.verdict.next ?? '', /n4 refuses to roll back: .*conclave node accept-rollback --node n4 --yes; if n3, n5, n4 are lost for good: conclave override set 2 --node n1 --node n2 \(see the procedure/);
  const row = r.members.find((m) => m.id === 'n4')!;
  t.is(row.status, 500);
  t.regex(row.message, /ROLLBACK PROHIBITED: 15 committed writes \[35, 52\] diverge from leader n2 \(limit 10\).*conclave node accept-rollback --node n4 --yes/);
  t.is(electionExitCode(r), 1);
});

test('a member following another leader, or none, while the leader answers does not count', (t) => {
  const v = verdictOf(survey([leader('n1', 4), follower('n2', 'n1'), answered('n3', {}), failed('n4', 'TIMEOUT'), failed('n5', 'TIMEOUT')]));
  t.like(v, { electableAnswering: 2, quorumReachable: false, notFollowing: ['n3'] });
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

test('ages are the member\'s own, at the moment it answered: waiting for slow members does not inflate them (issue 21 item 5)', (t) => {
  // n1 answered at its clock 1,000,000 having last heard a leader 2 s before; the reader
  // finished waiting for silent members 8 s later.
  const lonely = answered('n1', { nowMs: 1_000_000, counters: { preVotesStarted: 3, preVotesRejected: 3, electionsStarted: 0, electionsWon: 0, electionsLost: 0, votesGranted: 0, votesRefused: 0, leaderChanges: 1, lastLeaderContactAt: 998_000 } });
  const r = electionReport(survey([lonely, failed('n2', 'TIMEOUT'), failed('n3', 'TIMEOUT'), failed('n4', 'TIMEOUT'), failed('n5', 'TIMEOUT')]), 1_008_000);
  t.regex(r.members[0]!.message, /leader last heard 2\.0 s ago/);
});
