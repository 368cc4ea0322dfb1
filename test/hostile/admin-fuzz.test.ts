// The admin endpoint of real node processes under hostile input: 10,000+ random and mutated
// frames before and after authentication, wrong credentials, and replayed admin handshakes.
// Every bad frame closes only its own connection (with a close code), every bad request gets
// an error with a code and a message, no process crashes, and every write acknowledged
// before the fuzzing is still there afterwards, on every member.
import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ADMIN_PATH, AdminAuthError, AdminRpcClient, CloseCode } from '@conclave/transport';
import { encodeControl } from '../../packages/transport/src/codec.js';
import { computeAdminProof, newNonce } from '../../packages/transport/src/handshake.js';
import { RawClient } from '../../packages/transport/test/helpers.js';
import { NemesisCluster } from '../nemesis/cluster.js';

const ADMIN_SECRET = 'hostile-admin-secret-0123456789';
const CLUSTER_SECRET_LOOKALIKE = 'not-the-admin-secret-0123456789';
const BEFORE_AUTH_FRAMES = 3_500;
const AFTER_AUTH_FRAMES = 7_000;
const CONCURRENCY = 8;
const KNOWN_KEYS = 40;

const packr = new Packr({ useRecords: false });
const control = (v: unknown): Buffer => Buffer.concat([Buffer.from([0x01]), packr.pack(v)]);

/** Frames for a connection that has just received its admin challenge. */
const beforeAuth = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 60 }),
  fc.anything().map(control),
  fc.record({
    k: fc.constantFrom('adminAuth', 'req', 'hello', 'auth', 'adminReady'),
    nonce: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 }), fc.anything()),
    proof: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 }), fc.anything()),
    id: fc.anything(),
    method: fc.constantFrom('node.status', 'kv.put'),
  }).map((v) => encodeControl(v)),
  fc.uint8Array({ minLength: 4097, maxLength: 6000 }).map((b) => encodeControl({ k: 'adminAuth', nonce: Buffer.alloc(32), proof: Buffer.from(b) })),
);

/** Methods whose random parameters cannot change the group (kv.* writes only random keys). */
const SAFE_METHODS = ['kv.get', 'kv.put', 'kv.cas', 'kv.delete', 'kv.scan', 'kv.write', 'kv.writeMany', 'kv.txn', 'kv.watch', 'kv.watch.next', 'kv.watch.close', 'node.status', 'election.ping', 'group.change', 'test.faults'];
/**
 * Methods that could change the group with the right parameters: they only get wrongly typed ones.
 * election.leave takes none, so any object is a valid call: the leader steps down and the group
 * elects again mid-fuzz, which the checks at the end must survive.
 */
const RISKY_METHODS = ['group.addMember', 'group.removeMember', 'group.transferLeader', 'override.set', 'election.leave'];
const wrongTyped = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.constant(null),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.record({ id: fc.integer(), address: fc.integer(), n: fc.string(), ids: fc.oneof(fc.string(), fc.constant([])), transfer: fc.string(), untilMajority: fc.integer() }),
);
const validish = fc.record(
  {
    key: fc.oneof(fc.string({ maxLength: 30 }), fc.anything()),
    value: fc.anything(),
    expected: fc.anything(),
    consistency: fc.oneof(fc.constantFrom('linearizable', 'none', 'lease', 'bogus'), fc.anything()),
    durability: fc.oneof(fc.record({ replicaAck: fc.constantFrom('none', 'all', 'some'), ackTimeoutMs: fc.integer({ min: -5, max: 3000 }) }), fc.anything()),
    limit: fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.anything()),
    gte: fc.anything(),
    data: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.anything()),
    change: fc.oneof(fc.record({ op: fc.constantFrom('remove', 'promote', 'addSecondary', 'explode'), id: fc.string({ maxLength: 8 }) }), fc.anything()),
    action: fc.constantFrom('partition', 'heal', 'reset', 'setLink'),
    // kv.writeMany: batches of writes, some malformed, some longer than a batch may be.
    writes: fc.oneof(
      fc.array(fc.oneof(fc.record({ data: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.anything()), timeoutMs: fc.oneof(fc.integer({ min: -5, max: 3000 }), fc.anything()) }, { requiredKeys: [] }), fc.anything()), { maxLength: 70 }),
      fc.anything(),
    ),
  },
  { requiredKeys: [] },
);

type Request = { kind: 'req'; method: string; params: unknown; id: unknown; timeoutMs: unknown } | { kind: 'raw'; frame: Buffer | string };
const afterAuth: fc.Arbitrary<Request> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ method: fc.constantFrom(...SAFE_METHODS), params: fc.oneof(validish, fc.anything()) }).map(({ method, params }) => ({ kind: 'req' as const, method, params, id: 1, timeoutMs: 5000 })) },
  { weight: 2, arbitrary: fc.record({ method: fc.constantFrom(...RISKY_METHODS), params: wrongTyped }).map(({ method, params }) => ({ kind: 'req' as const, method, params, id: 1, timeoutMs: 5000 })) },
  { weight: 1, arbitrary: fc.record({ method: fc.string({ maxLength: 80 }), params: fc.anything() }).map(({ method, params }) => ({ kind: 'req' as const, method, params, id: 1, timeoutMs: 5000 })) },
  // Malformed requests: bad ids, timeouts, methods.
  { weight: 1, arbitrary: fc.record({ method: fc.anything(), params: fc.anything(), id: fc.oneof(fc.integer({ min: -10, max: -1 }), fc.double(), fc.string(), fc.constant(null)), timeoutMs: fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double(), fc.string()) }).map((r) => ({ kind: 'req' as const, ...r, method: r.method as string })) },
  { weight: 1, arbitrary: fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 40 }), fc.anything().map(control)).map((frame) => ({ kind: 'raw' as const, frame })) },
);

/** Runs the client side of the admin handshake by hand; returns the adminAuth frame sent. */
async function adminHandshake(c: RawClient, secret: string): Promise<Buffer> {
  const challenge = await c.nextFrame();
  const nonce = newNonce();
  const auth = encodeControl({ k: 'adminAuth', nonce, proof: computeAdminProof(Buffer.from(secret), 'client', nonce, challenge.nonce as Uint8Array) });
  c.send(auth);
  const ready = await c.nextFrame();
  if (ready.k !== 'adminReady') throw new Error(`no adminReady: ${JSON.stringify(ready)}`);
  return auth;
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T, lane: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async (_, lane) => {
    while (next < items.length) await fn(items[next++]!, lane);
  }));
}

test('the admin endpoint survives 10,000+ hostile frames, wrong credentials and replayed handshakes; nothing acknowledged is lost', async (t) => {
  t.timeout(300_000);
  const cluster = await NemesisCluster.start({ nodes: 3, tickMs: 50, electionTicks: 10, faultInjection: false, adminSecret: ADMIN_SECRET });
  try {
    const leader = await cluster.waitForLeader(20_000);
    const follower = cluster.ids().find((id) => id !== leader)!;
    for (let i = 0; i < KNOWN_KEYS; i++) await cluster.call(i % 2 ? leader : follower, 'kv.put', { key: `known-${i}`, value: `v${i}` }, 10_000);
    const targets = [leader, follower];
    const closeCodes = new Map<number, number>();
    const count = (code: number) => closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);

    // 1. Before authentication: every frame ends its connection, and nothing is served.
    const pre = fc.sample(beforeAuth, { seed: 1001, numRuns: BEFORE_AUTH_FRAMES });
    await pool(pre, CONCURRENCY, async (frame, lane) => {
      const c = await RawClient.open(cluster.address(targets[lane % 2]!), ADMIN_PATH);
      await c.nextFrame(); // the challenge
      c.send(frame);
      await c.waitClosed(10_000);
      t.false(c.frames.length > 0, 'no answer to an unauthenticated frame');
      count(c.closed!.code);
    });

    // 2. Wrong credentials, and a recorded handshake replayed against a new challenge.
    for (const credential of [CLUSTER_SECRET_LOOKALIKE, `${ADMIN_SECRET}x`, undefined]) {
      await t.throwsAsync(AdminRpcClient.connect(cluster.address(leader), { connectTimeoutMs: 5000, ...(credential ? { credential } : {}) }), { instanceOf: AdminAuthError });
    }
    const recorded = await RawClient.open(cluster.address(leader), ADMIN_PATH);
    const auth = await adminHandshake(recorded, ADMIN_SECRET);
    recorded.terminate();
    for (let i = 0; i < 20; i++) {
      const replay = await RawClient.open(cluster.address(leader), ADMIN_PATH);
      await replay.nextFrame();
      replay.send(auth);
      t.is((await replay.waitClosed()).code, CloseCode.AdminUnauthorized, 'a replayed adminAuth is refused');
    }

    // 3. After authentication: requests get answers with codes; broken frames end the connection.
    const post = fc.sample(afterAuth, { seed: 2002, numRuns: AFTER_AUTH_FRAMES });
    const answers = new Map<string, number>();
    const lanes: (RawClient | null)[] = Array.from({ length: CONCURRENCY }, () => null);
    let nextId = 1;
    await pool(post, CONCURRENCY, async (r, lane) => {
      let c = lanes[lane];
      if (!c || c.closed) {
        c = await RawClient.open(cluster.address(targets[lane % 2]!), ADMIN_PATH);
        await adminHandshake(c, ADMIN_SECRET);
        lanes[lane] = c;
      }
      const id = nextId++;
      c.send(r.kind === 'raw' ? r.frame : encodeControl({ k: 'req', id: r.id === 1 ? id : r.id, method: r.method, params: r.params, timeoutMs: r.timeoutMs }));
      await c.until(() => c!.frames.length > 0 || c!.closed !== null, 'an answer or a close', 20_000);
      if (c.frames.length > 0) {
        const res = await c.nextFrame();
        if (res.ok === true) answers.set('ok', (answers.get('ok') ?? 0) + 1);
        else {
          const err = res.error as { code?: unknown; message?: unknown };
          t.true(typeof err?.code === 'string' && typeof err.message === 'string' && err.message.length > 0, `error without code or message: ${JSON.stringify(res).slice(0, 200)}`);
          answers.set(String(err.code), (answers.get(String(err.code)) ?? 0) + 1);
        }
      } else count(c.closed!.code);
    });
    for (const c of lanes) c?.terminate();
    t.log(`close codes: ${JSON.stringify(Object.fromEntries(closeCodes))}`);
    t.log(`answers: ${JSON.stringify(Object.fromEntries(answers))}`);
    const total = BEFORE_AUTH_FRAMES + AFTER_AUTH_FRAMES;
    t.true(total >= 10_000);
    t.true((answers.get('INVALID_ARGUMENT') ?? 0) > 500, 'many requests were refused as invalid arguments');
    t.true((answers.get('FAULT_INJECTION_DISABLED') ?? 0) > 0, 'test.faults refused without the flag');
    // 1009: a frame over the handshake size before authentication (admission control).
    t.true([...closeCodes.keys()].every((code) => [CloseCode.MalformedFrame, CloseCode.AdminUnauthorized, CloseCode.InvalidMessage, 1007, 1009].includes(code)), JSON.stringify([...closeCodes]));

    // Every member is alive, serves, and has every acknowledged write.
    for (const id of cluster.ids()) {
      t.true(cluster.alive(id), `${id} still running`);
      for (let i = 0; i < KNOWN_KEYS; i++) {
        const r = await cluster.call<{ found: boolean; value: unknown }>(id, 'kv.get', { key: `known-${i}`, consistency: 'linearizable' }, 10_000);
        t.deepEqual(r, { found: true, value: `v${i}` }, `${id} known-${i}`);
      }
      await cluster.call(id, 'kv.put', { key: `after-${id}`, value: 'fuzz' }, 10_000);
    }
  } catch (err) {
    t.log(cluster.logs());
    throw err;
  } finally {
    await cluster.close();
  }
});
