import test from 'ava';
import { ackIndex, effectiveGroupSize, InvalidArgumentError, quorumIndex, quorumSize, simpleMajority, validateOverride, voteResult, type VoteResult } from '../src/index.js';

test('quorum size for every electable group size 1..7 and override 0..7', (t) => {
  for (let e = 1; e <= 7; e++) {
    for (let o = 0; o <= 7; o++) {
      const n = o > 0 ? o : e;
      t.is(effectiveGroupSize(e, o), n, `E=${e} O=${o}`);
      t.is(quorumSize(e, o), Math.floor(n / 2) + 1, `E=${e} O=${o}`);
    }
  }
  // Spot values from the JE guide: 5 electable, override 2 -> quorum 2; override 0 -> 3.
  t.is(quorumSize(5, 2), 2);
  t.is(quorumSize(5, 0), 3);
  t.is(quorumSize(5, 1), 1);
  t.is(simpleMajority(4), 3);
  t.is(simpleMajority(6), 4);
});

test('override validation: non-negative integers only, larger than E only when forced', (t) => {
  for (let e = 1; e <= 7; e++) {
    for (let o = 0; o <= 7; o++) {
      if (o <= e) t.is(validateOverride(o, e, false), o);
      else {
        const err = t.throws(() => validateOverride(o, e, false), { instanceOf: InvalidArgumentError });
        t.is(err?.code, 'INVALID_ARGUMENT');
        t.regex(err!.message, new RegExp(`electableGroupSizeOverride ${o} is larger than the electable group size ${e}`));
        t.is(validateOverride(o, e, true), o);
      }
    }
  }
  for (const bad of [-1, 1.5, Number.NaN, Infinity, '2', null, undefined]) {
    const err = t.throws(() => validateOverride(bad as number, 5, true), { instanceOf: InvalidArgumentError });
    t.regex(err!.message, /must be a non-negative integer, got/, String(bad));
  }
  t.regex(t.throws(() => validateOverride(-3, 5, false))!.message, /got -3/);
});

test('vote results: granted reaches quorum, or too many rejections make it unreachable', (t) => {
  const table: [granted: number, rejected: number, electable: number, quorum: number, want: VoteResult][] = [
    [1, 0, 1, 1, 'won'],
    [1, 0, 3, 2, 'pending'],
    [2, 0, 3, 2, 'won'],
    [1, 2, 3, 2, 'lost'],
    [1, 1, 3, 2, 'pending'],
    [2, 1, 5, 3, 'pending'],
    [1, 3, 5, 3, 'lost'],
    [2, 0, 5, 2, 'won'], // override 2 in a group of 5
    [1, 0, 5, 2, 'pending'],
    [1, 4, 5, 2, 'lost'],
    [1, 0, 5, 7, 'lost'], // forced override above E can never win
  ];
  for (const [g, r, e, q, want] of table) t.is(voteResult(g, r, e, q), want, `granted=${g} rejected=${r} E=${e} q=${q}`);
});

test('quorumIndex: the highest index a quorum has reached', (t) => {
  t.is(quorumIndex([5, 3, 9], 2), 5);
  t.is(quorumIndex([5, 3, 9], 3), 3);
  t.is(quorumIndex([5, 3, 9], 1), 9);
  t.is(quorumIndex([5, 3], 3), 0, 'fewer members than the quorum');
  t.is(quorumIndex([7, 7, 7, 1, 1], 3), 7);
});

test('ack policies for E = 1..7 and O = 0..7', (t) => {
  for (let e = 1; e <= 7; e++) {
    for (let o = 0; o <= e; o++) {
      // The leader is durable to 10; followers sit at 9, 8, 7, ... (one each).
      const matches = Array.from({ length: e }, (_, i) => 10 - i);
      const commit = quorumIndex(matches, quorumSize(e, o));
      const inputs = { commitIndex: commit, leaderDurableIndex: 10, electableMatchIndexes: matches };
      t.is(ackIndex('simpleMajority', inputs), commit, `E=${e} O=${o}`);
      t.is(ackIndex('none', inputs), 10);
      t.is(ackIndex('all', inputs), Math.min(commit, 10 - (e - 1)), `E=${e} O=${o}: all waits for the slowest electable`);
    }
  }
  t.is(ackIndex('all', { commitIndex: 4, leaderDurableIndex: 9, electableMatchIndexes: [9, 9, 9] }), 4, 'all never runs ahead of commit');
});
