// `election status` flags an override whose quorum is below a true majority of the current
// E (issue 11, item 13): override 3 kept while the group grew to 7 gives a quorum of 2.
import test from 'ava';
import type { Member } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { verdictOf } from '../src/election-report.js';
import type { MemberProbe, Survey } from '../src/member-survey.js';

const members: Member[] = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'].map((id, i) => ({ id, address: `127.0.0.1:${7001 + i}`, type: 'electable', removed: false, priority: 1 }));

function probe(id: string, over: Partial<NodeStatus>): MemberProbe {
  const m = members.find((x) => x.id === id)!;
  const status = {
    id, address: m.address, groupId: 'g', state: 'follower', role: 'follower', term: 3, leader: null, members, appliedIndex: 1, electableGroupSize: 7,
    electableGroupSizeOverride: 0, overrideSource: 'none', overrideUntilMajority: false, effectiveGroupSize: 7, electionQuorum: 4, commitQuorum: 4, peers: [], history: [],
    counters: { preVotesStarted: 0, preVotesRejected: 0, electionsStarted: 0, electionsWon: 0, electionsLost: 0, votesGranted: 0, votesRefused: 0, leaderChanges: 0, lastLeaderContactAt: null },
    rollback: { state: 'none' },
    ...over,
  } as NodeStatus;
  return { id, address: m.address, member: m, status, error: null };
}

test('an override below a true majority of the current E is flagged, in the field and in the text', (t) => {
  const leader = probe('n1', { state: 'leader', role: 'leader', electableGroupSizeOverride: 3, effectiveGroupSize: 3, electionQuorum: 2, commitQuorum: 2, leader: { id: 'n1', address: '127.0.0.1:7001' } });
  const following = { leader: { id: 'n1', address: '127.0.0.1:7001' } };
  const sane = probe('n2', { ...following, electableGroupSizeOverride: 7, effectiveGroupSize: 7 });
  const rest = ['n3', 'n4', 'n5', 'n6', 'n7'].map((id) => probe(id, following));
  const v = verdictOf({ group: { groupId: 'g', members }, source: 'n1', probes: [leader, sane, ...rest], timeoutMs: 1000 } satisfies Survey);
  t.deepEqual(v.overrides, [
    { id: 'n1', override: 3, quorum: 2, belowMajority: true },
    { id: 'n2', override: 7, quorum: 4, belowMajority: false },
  ]);
  t.regex(v.text, /\(override 3 on n1 \(quorum 2: BELOW A TRUE MAJORITY\), 7 on n2; a true majority is 4\)/);
  t.true(v.quorumReachable, v.text);
});
