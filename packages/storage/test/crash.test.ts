// Crash consistency: a child writes Ready batches and applies entries; we SIGKILL it at
// random points (54 kills over three sync policies) and check the reopened state.
import test from 'ava';
import { decodeCommand, NodeStorage, type SyncPolicy } from '@conclave/storage';
import { Fixture, removeDir, seededRandom, sleep, tempDir } from './helpers.js';

const KILLS_PER_POLICY = 18;
const KILL_DELAY_MAX_MS = 40;
const KEYS = 50;

interface DiskState {
  lastIndex: number;
  lastTerm: number;
  commit: number;
  term: number;
  vote: string;
}

const same = (a: DiskState, b: DiskState): boolean =>
  a.lastIndex === b.lastIndex && a.lastTerm === b.lastTerm && a.commit === b.commit && a.term === b.term && a.vote === b.vote;

const show = (s: DiskState): string => `last=${s.lastIndex}/${s.lastTerm} commit=${s.commit} term=${s.term} vote=${s.vote}`;

/** Opens the directory, checks every invariant, and returns the state it found. */
async function verify(dir: string, context: string): Promise<{ state: DiskState; applied: number }> {
  const storage = await NodeStorage.open({ path: dir, groupId: 'crash' });
  try {
    const loaded = await storage.load();
    const { hardState: hs, entries, firstIndex, lastIndex, compacted, applied } = loaded;
    const fail = (what: string): never => {
      throw new Error(`${context}: ${what}`);
    };
    if (hs.commit > lastIndex) fail(`commit ${hs.commit} > lastIndex ${lastIndex}`);
    if (applied > hs.commit) fail(`applied ${applied} > commit ${hs.commit}`);
    if (applied < compacted.index) fail(`applied ${applied} < compaction point ${compacted.index}`);
    if (entries.length !== lastIndex - firstIndex + 1) fail(`${entries.length} entries for [${firstIndex}, ${lastIndex}]`);
    let prevTerm = compacted.term;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== firstIndex + k) fail(`entry ${k} has index ${e.index}, expected ${firstIndex + k}`);
      if (e.term < prevTerm) fail(`term decreases at ${e.index}`);
      prevTerm = e.term;
      const cmd = decodeCommand(e.data);
      const v = cmd.op === 'put' ? (cmd.value as { i: number; t: number }) : null;
      if (!v || v.i !== e.index || v.t !== e.term) fail(`entry ${e.index} carries the payload of another entry`);
    }
    if (hs.term < prevTerm) fail(`hard state term ${hs.term} < last log term ${prevTerm}`);
    // The applied index matches the data: k{j} holds the last applied put to it.
    for (let j = 0; j < KEYS; j++) {
      const i = applied - ((((applied - j) % KEYS) + KEYS) % KEYS);
      const got = (await storage.get(`k${j}`)) as { i: number; t: number } | undefined;
      if (i < 1) {
        if (got !== undefined) fail(`k${j} is set although applied is only ${applied}`);
        continue;
      }
      if (got === undefined || got.i !== i) return fail(`k${j} holds entry ${got?.i}, expected ${i} (applied ${applied})`);
      const t = storage.term(i);
      if (t !== null && got.t !== t) fail(`k${j} holds term ${got.t} but entry ${i} has term ${t}`);
    }
    return { state: { lastIndex, lastTerm: prevTerm, commit: hs.commit, term: hs.term, vote: hs.vote }, applied };
  } finally {
    await storage.close();
  }
}

async function killLoop(t: import('ava').ExecutionContext, policy: SyncPolicy, seed: number): Promise<void> {
  const dir = tempDir(`crash-${policy}`);
  const rand = seededRandom(seed);
  t.teardown(() => removeDir(dir));
  let base: DiskState = { lastIndex: 0, lastTerm: 0, commit: 0, term: 0, vote: '' };
  let baseApplied = 0;
  let batches = 0;
  for (let kill = 0; kill < KILLS_PER_POLICY; kill++) {
    const childSeed = Math.floor(rand() * 2 ** 31);
    const child = new Fixture('crash-writer.ts', [dir, String(childSeed), policy]);
    await child.waitFor((l) => l === 'ready', 15_000, 'the writer to open its storage');
    await sleep(1 + Math.floor(rand() * KILL_DELAY_MAX_MS));
    await child.kill();
    const context = `${policy} kill #${kill} (test seed ${seed}, writer seed ${childSeed})`;

    const written = new Map<number, DiskState>();
    let lastDurable = -1;
    let lastApplied = baseApplied;
    for (const line of child.lines) {
      const [tag, ...f] = line.split(' ');
      if (tag === 'W') written.set(Number(f[0]), { lastIndex: +f[1]!, lastTerm: +f[2]!, commit: +f[3]!, term: +f[4]!, vote: f[5] ?? '' });
      else if (tag === 'D') lastDurable = Number(f[0]);
      else if (tag === 'A') lastApplied = Number(f[0]);
    }
    const { state, applied } = await verify(dir, context);
    // Nothing reported durable is missing: the disk is at the last durable batch or a later written one.
    const allowed = [lastDurable >= 0 ? written.get(lastDurable)! : base];
    for (const [n, s] of written) if (n > lastDurable) allowed.push(s);
    t.true(
      allowed.some((s) => same(s, state)),
      `${context}: disk state ${show(state)} is none of ${allowed.map(show).join(' | ')}`,
    );
    t.true(applied >= lastApplied, `${context}: applied ${applied} is below the reported ${lastApplied}`);
    base = state;
    baseApplied = applied;
    batches += written.size;
  }
  t.log(`${policy}: ${KILLS_PER_POLICY} kills, ${batches} batches written, final ${show(base)} applied=${baseApplied}`);
}

for (const policy of ['sync', 'writeNoSync', 'noSync'] as const) {
  test.serial(`SIGKILL at random points never loses durable batches nor breaks invariants (${policy})`, async (t) => {
    t.timeout(60_000);
    const seed = Number(process.env.CONCLAVE_CRASH_SEED ?? Date.now() % 1_000_000);
    t.log(`replay with CONCLAVE_CRASH_SEED=${seed}`);
    await killLoop(t, policy, seed);
  });
}
