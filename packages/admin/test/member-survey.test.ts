// One deadline for every member of a survey, checked without a clock: every request the
// survey makes carries the same absolute deadline, whatever answered before it. (The CLI
// tests on real processes check the rows; timing them there measured the machine's load.)
import test from 'ava';
import type { Member } from '@conclave/core';
import type { NodeStatus } from 'conclave';
import { callEach, surveyMembers, type Answer, type ConnectionPool } from '../src/member-survey.js';

const members: Member[] = ['n1', 'n2', 'n3'].map((id, i) => ({ id, address: `127.0.0.1:${7001 + i}`, type: 'electable', removed: false, priority: 1 }));

/** A pool whose members answer (or time out, for `paused`) in a later turn, recording each request's deadline. */
function fakePool(paused: string): { pool: ConnectionPool; deadlines: Map<string, number> } {
  const deadlines = new Map<string, number>();
  const pool = {
    async request<T>(address: string, _method: string, _params: unknown, deadline: number): Promise<Answer<T>> {
      deadlines.set(address, deadline);
      await new Promise((r) => setImmediate(r));
      if (address === paused) return { ok: false, error: { code: 'TIMEOUT', message: 'no answer' } };
      const id = members.find((m) => m.address === address)!.id;
      return { ok: true, value: { id, groupId: 'g', members } as unknown as T };
    },
    async close() {},
  } as unknown as ConnectionPool;
  return { pool, deadlines };
}

test('surveyMembers asks every member under the one deadline, a paused first endpoint included', async (t) => {
  const { pool, deadlines } = fakePool(members[0]!.address);
  const before = Date.now();
  const survey = await surveyMembers(pool, [members[0]!.address, members[1]!.address], 1500);
  const after = Date.now();
  t.deepEqual([...deadlines.keys()].sort(), members.map((m) => m.address).sort(), 'every member was asked');
  const all = new Set(deadlines.values());
  t.is(all.size, 1, 'one deadline for all');
  const deadline = [...all][0]!;
  t.true(deadline >= before + 1500 && deadline <= after + 1500);
  t.deepEqual(survey.probes.map((p) => [p.id, p.error?.code ?? 'ok']), [['n1', 'TIMEOUT'], ['n2', 'ok'], ['n3', 'ok']]);
});

test('callEach gives every target the same deadline', async (t) => {
  const { pool, deadlines } = fakePool(members[1]!.address);
  await callEach(pool, members, 'node.status', {}, 800);
  t.is(deadlines.size, 3);
  t.is(new Set(deadlines.values()).size, 1);
});
