// Table-driven tests of the operator tools' pure choices: the transfer target (JE's
// transferMaster), the until-majority condition, and the no-leader explanation.
import test from 'ava';
import type { Member } from '@conclave/core';
import { explainNoLeader } from '../src/election-diagnosis.js';
import { mostCaughtUp, trueMajorityCaughtUp } from '../src/member-choice.js';
import type { NodeStatus } from '../src/node.js';

const member = (id: string, over: Partial<Member> = {}): Member => ({ id, address: `127.0.0.1:70${id.slice(1)}`, type: 'electable', removed: false, priority: 1, ...over });
const peer = (id: string, matchIndex: number, active = true) => ({ id, address: null, type: 'electable', matchIndex, lag: 0, active, state: 'replicate' });

function view(members: Member[], peers: ReturnType<typeof peer>[]) {
  return { id: 'n1', members, peers, electableGroupSize: members.filter((m) => !m.removed && m.type === 'electable').length };
}

const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => member(id));

test('mostCaughtUp: connected first, then the highest match index, then priority, then the order given', (t) => {
  const cases: [string, ReturnType<typeof view>, string[], string | null][] = [
    ['highest match', view(five, [peer('n2', 5), peer('n3', 9), peer('n4', 7)]), ['n2', 'n3', 'n4'], 'n3'],
    ['a connected member beats a more advanced silent one', view(five, [peer('n2', 5), peer('n3', 9, false)]), ['n2', 'n3'], 'n2'],
    ['ties go to priority', view([member('n1'), member('n2'), member('n3', { priority: 5 })], [peer('n2', 5), peer('n3', 5)]), ['n2', 'n3'], 'n3'],
    ['then to the order given', view(five, [peer('n2', 5), peer('n3', 5)]), ['n3', 'n2'], 'n3'],
    ['the leader itself, secondaries, priority 0, removed and unknown ids are skipped', view(
      [member('n1'), member('n2', { type: 'secondary' }), member('n3', { priority: 0 }), member('n4', { removed: true }), member('n5')],
      [peer('n2', 9), peer('n3', 9), peer('n4', 9), peer('n5', 1)],
    ), ['n1', 'n2', 'n3', 'n4', 'n9', 'n5'], 'n5'],
    ['none qualifies', view(five, []), ['n1', 'n9'], null],
  ];
  for (const [what, v, ids, expected] of cases) t.is(mostCaughtUp(v, ids), expected, what);
});

test('trueMajorityCaughtUp: connected electable members at or past the index, the leader counted, against floor(E/2)+1', (t) => {
  const cases: [string, ReturnType<typeof view>, number, boolean, string[]][] = [
    ['leader alone of 5', view(five, [peer('n2', 10, false), peer('n3', 0, false)]), 10, false, ['n1']],
    ['leader and one caught up of 5: 2 < 3', view(five, [peer('n2', 10), peer('n3', 4)]), 10, false, ['n1', 'n2']],
    ['three of 5', view(five, [peer('n2', 10), peer('n3', 12)]), 10, true, ['n1', 'n2', 'n3']],
    ['a member that is behind does not count', view(five, [peer('n2', 10), peer('n3', 9)]), 10, false, ['n1', 'n2']],
    ['a member that is silent does not count', view(five, [peer('n2', 10), peer('n3', 10, false)]), 10, false, ['n1', 'n2']],
    ['secondaries never count', view([...five.slice(0, 3), member('n4', { type: 'secondary' })], [peer('n4', 10)]), 10, false, ['n1']],
    ['two of 3', view(five.slice(0, 3), [peer('n2', 10)]), 10, true, ['n1', 'n2']],
  ];
  for (const [what, v, index, met, caughtUp] of cases) {
    const r = trueMajorityCaughtUp(v, index);
    t.is(r.met, met, what);
    t.deepEqual(r.caughtUp, caughtUp, what);
    t.is(r.needed, Math.floor(v.electableGroupSize / 2) + 1, what);
  }
});

function status(over: Partial<NodeStatus>): NodeStatus {
  return {
    id: 'n1', state: 'candidate', role: 'preCandidate', term: 7, leader: null, members: five, electableGroupSize: 5, electableGroupSizeOverride: 0, effectiveGroupSize: 5,
    electionQuorum: 3, commitQuorum: 3,
    history: [{ at: 9_000, from: 'FOLLOWER', event: 'ELECTION_TIMEOUT', to: 'PRE_CANDIDATE', term: 7, detail: '' }],
    counters: { preVotesStarted: 4, preVotesRejected: 0, electionsStarted: 1, electionsWon: 1, electionsLost: 0, votesGranted: 0, votesRefused: 0, leaderChanges: 1, lastLeaderContactAt: 5_000 },
    ...over,
  } as NodeStatus;
}

test('explainNoLeader: the state, what an election needs (override included), the last event and the counters', (t) => {
  t.is(
    explainNoLeader(status({}), 10_000),
    'no leader: PRE_CANDIDATE in term 7; an election needs the votes of 3 of 5 (electable group size 5, override off); last event FOLLOWER:ELECTION_TIMEOUT:PRE_CANDIDATE 1.0 s ago; pre-votes 4, elections 1 (won 1); leader last heard 5.0 s ago',
  );
  t.regex(explainNoLeader(status({ electableGroupSizeOverride: 2, effectiveGroupSize: 2, electionQuorum: 2 }), 10_000), /needs the votes of 2 of 2 \(electable group size 5, override 2\)/);
  t.regex(explainNoLeader(status({ members: [member('n1', { type: 'secondary' }), ...five.slice(1)] }), 10_000), /a secondary never campaigns/);
  t.regex(explainNoLeader(status({ counters: { ...status({}).counters, lastLeaderContactAt: null } }), 10_000), /no leader heard since start$/);
  t.is(explainNoLeader(status({ state: 'detached' }), 10_000), 'detached: n1 is not a member of the group (removed, or still joining)');
});
