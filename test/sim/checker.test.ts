// The checker must be able to fail: each invariant, fed a violation, reports it.
import test from 'ava';
import type { Entry } from '@conclave/core';
import { entryKey, SafetyChecker } from './checker.js';

const e = (index: number, term: number, v: string): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(v) });

test('two leaders in one term', (t) => {
  const c = new SafetyChecker();
  c.leaderElected('n1', 3);
  c.leaderElected('n1', 3);
  t.true(c.ok, 'the same leader seen twice is fine');
  c.leaderElected('n2', 3);
  t.deepEqual(c.violations.map((v) => v.kind), ['two-leaders-in-term']);
});

test('log matching: same index and term, different content or different history', (t) => {
  const c = new SafetyChecker();
  c.entryPersisted('n1', e(4, 2, 'a'), 1);
  c.entryPersisted('n2', e(4, 2, 'a'), 1);
  t.true(c.ok);
  c.entryPersisted('n3', e(4, 2, 'b'), 1);
  c.entryPersisted('n4', e(4, 2, 'a'), 2);
  t.deepEqual(c.violations.map((v) => v.kind), ['log-matching', 'log-matching']);
});

test('applied sequences must be prefixes of each other, without gaps', (t) => {
  const c = new SafetyChecker();
  c.entryApplied('n1', 1, entryKey(e(1, 1, 'a')), 0);
  c.entryApplied('n2', 1, entryKey(e(1, 1, 'a')), 0);
  t.true(c.ok);
  c.entryApplied('n3', 1, entryKey(e(1, 2, 'a')), 0);
  c.entryApplied('n1', 3, entryKey(e(3, 1, 'c')), 1);
  t.deepEqual(c.violations.map((v) => v.kind), ['applied-divergence', 'applied-gap']);
  const s = new SafetyChecker();
  s.entryApplied('n1', 1, '1:a', 0);
  s.snapshotInstalled('n2', 1, [undefined, '1:b']);
  t.deepEqual(s.violations.map((v) => v.kind), ['applied-divergence']);
});

test('leader completeness and commit monotonicity', (t) => {
  const c = new SafetyChecker();
  c.entryApplied('n1', 1, '1:a', 0);
  c.entryApplied('n1', 2, '1:b', 1);
  c.leaderLogCheck('n2', 2, (i) => (i === 1 ? 1 : undefined), 1);
  c.durableCommitSeen('n1', 5);
  c.durableCommitSeen('n1', 4);
  c.liveCommitSeen('n1', 7, 6);
  t.deepEqual(c.violations.map((v) => v.kind), ['leader-completeness', 'commit-regressed', 'commit-regressed']);
});
