// status.ts: what a node says about itself, from its core's status and the rooms' parts.
import test from 'ava';
import type { RaftStatus } from '@conclave/core';
import { nodeStatus, stateOf } from '../src/status.js';

test('stateOf: detached when not a member; a pre-candidate counts as a candidate only when it may campaign', (t) => {
  t.is(stateOf('leader', true, false), 'detached');
  t.is(stateOf('leader', true, true), 'leader');
  t.is(stateOf('candidate', false, true), 'candidate');
  t.is(stateOf('preCandidate', true, true), 'candidate');
  t.is(stateOf('preCandidate', false, true), 'follower');
  t.is(stateOf('follower', true, true), 'follower');
});

test('nodeStatus: peers get addresses and lag; the parts given are what is reported', (t) => {
  const raft = {
    role: 'leader',
    promotable: true,
    term: 3,
    leader: 'n1',
    commitIndex: 9,
    lastIndex: 10,
    electableGroupSize: 3,
    electableGroupSizeOverride: 0,
    effectiveGroupSize: 3,
    electionQuorum: 2,
    commitQuorum: 2,
    group: { groupId: 'g', members: [{ id: 'n1', address: 'a1', type: 'electable', priority: 1, removed: false }] },
    peers: [{ id: 'n2', type: 'electable', match: 7, active: true, state: 'replicate' }],
    history: [],
    counters: {},
    divergence: null,
  } as unknown as RaftStatus;
  const st = nodeStatus({
    id: 'n1',
    groupId: 'g',
    address: 'a1',
    raft,
    appliedIndex: 8,
    addressOf: (id) => (id === 'n2' ? 'a2' : id === 'n1' ? 'a1' : null),
    overrideOrigin: { overrideSource: 'none', overrideUntilMajority: false },
    rollback: { state: 'none' },
    wallNowMs: 1234,
  });
  t.is(st.state, 'leader');
  t.deepEqual(st.leader, { id: 'n1', address: 'a1' });
  t.is(st.appliedIndex, 8);
  t.deepEqual(st.peers, [{ id: 'n2', address: 'a2', type: 'electable', matchIndex: 7, lag: 3, active: true, state: 'replicate' }]);
  t.is(st.overrideSource, 'none');
  t.is(st.nowMs, 1234);
});
