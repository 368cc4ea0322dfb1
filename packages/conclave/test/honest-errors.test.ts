// Errors in the application's words (issue 22, item 3): every error class an application can
// receive is exported from 'conclave' and listed, with its code, in the README's error table;
// a transport error from forwarding never reaches the application, it becomes the documented
// code (NOT_LEADER when nothing was sent), keeping the original as `cause`.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { AdminConnectionRefusedError } from '@conclave/transport';
import * as conclave from '../src/index.js';
import { LeaderRpc } from '../src/leader-rpc.js';
import { roomContext } from './rooms.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's error table: class -> [code, what became of the write]. */
function errorTable(): Map<string, [string, string]> {
  const rows = [...README.matchAll(/^\| `(\w+Error)` \| `([A-Z_]+)` \| ([^|]+) \| [^|]+ \|$/gm)];
  return new Map(rows.map((m) => [m[1]!, [m[2]!, m[3]!.trim()]]));
}

test("every error class exported by 'conclave' is in the README's error table with its code and what became of the write", (t) => {
  const table = errorTable();
  const exported = Object.entries(conclave).filter(([name, v]) => typeof v === 'function' && v !== conclave.ConclaveError && (v as { prototype?: unknown }).prototype instanceof conclave.ConclaveError);
  t.true(exported.length >= 25, `found ${exported.length} error classes`);
  for (const [name, Cls] of exported) {
    const args = Cls === conclave.UnknownMemberError ? ['x', []] : ['x'];
    const code = (new (Cls as new (...a: unknown[]) => { code: string })(...args)).code;
    t.deepEqual(table.get(name)?.[0], code, `${name} (${code}) is in the table with its code`);
    t.regex(table.get(name)?.[1] ?? '', /^(did not happen|may have happened|happened|\((a read|a watch|a lock|ready|openNode|the node)\))$/, name);
  }
  for (const name of table.keys()) t.true(name in conclave, `${name} in the table is exported`);
  for (const name of ['AbortedError', 'NotReadyError', 'NotLeaderError', 'WriteOutcomeUnknownError', 'NodeClosedError', 'StorageIoError']) t.true(name in conclave, name);
});

test("the repository README shows the same error table as the package's", (t) => {
  const root = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const rows = (text: string) => [...text.matchAll(/^\| `\w+Error` \|.*$/gm)].map((m) => m[0]);
  t.true(rows(README).length >= 25);
  t.deepEqual(rows(root), rows(README));
});

test('a write forwarded to a leader that refuses the connection ends as NOT_LEADER (it did not happen), never as the transport error, which stays its cause', async (t) => {
  const state = { leaderId: 'n2' as string | null };
  const room = roomContext({
    seams: {
      network: {
        createTransport: () => {
          throw new Error('not used');
        },
        connectAdmin: async (address) => Promise.reject(new AdminConnectionRefusedError(address)),
      },
    },
    raft: {
      get leaderId() {
        return state.leaderId;
      },
      currentRole: 'follower',
      groupMetadata: { groupId: 'conclave', members: [{ id: 'n2', address: '127.0.0.1:2', type: 'electable', priority: 1, removed: false }] },
    } as never,
  });
  const rpc = new LeaderRpc(room.ctx, { proposeLocal: async () => ({}) as never, changeMembershipLocal: async () => ({}) as never, status: () => ({}) as never });
  const err = t.throwsAsync(rpc.callLeader('kv.write', {}, 500), { instanceOf: conclave.NotLeaderError });
  for (let i = 0; i < 100; i++) await room.clock.advance(10);
  const e = await err;
  t.is(e!.code, 'NOT_LEADER');
  t.regex(e!.message, /the write found no leader to take it within 500 ms/);
  t.regex(e!.message, /it did not happen/);
  t.notRegex(e!.message, /kv\.write/);
  t.true(e!.cause instanceof AdminConnectionRefusedError, 'the transport error is kept as the cause');
});
