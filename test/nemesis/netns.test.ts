// The nemesis in the kernel's network (`--network netns`): each node in its own network
// namespace on a bridge, partitions (majority, bridge, isolated leader, one-way) by nft,
// loss, duplication and delay by nft and tc, the transport's fault hook off. The namespaces
// need root: without it the round says why and skips, except under CI (CI=true runs as
// root, so a skip there would hide a broken setup).
import test from 'ava';
import { lastJsonLine, nemesisCli } from './cli-process.js';
import { NetnsNetwork, netnsUnavailableReason } from './netns.js';

const ROUND_SECONDS = 60;
const unavailable = await netnsUnavailableReason();
const mustRun = process.env.CI === 'true';
const netnsTest = unavailable && !mustRun ? test.skip : test;
if (unavailable && !mustRun) console.log(`netns tests skipped: ${unavailable} (they run as root, and always in CI)`);

netnsTest('netns: two networks at once get their own names and subnets; destroy removes every namespace and link', async (t) => {
  t.is(unavailable, null, `CI must be able to make namespaces: ${unavailable}`);
  const [a, b] = await Promise.all([NetnsNetwork.create(2), NetnsNetwork.create(2)]);
  try {
    t.not(a.tag, b.tag);
    t.not(a.host('n1'), b.host('n1'));
    t.is(a.host('n2-2'), a.host('n2'), 'a replacement runs on its machine');
    t.true((await NetnsNetwork.leftovers(a.tag)).length >= 3, 'namespaces and bridge exist while the network does');
  } finally {
    await Promise.all([a.destroy(), b.destroy()]);
  }
  t.deepEqual(await NetnsNetwork.leftovers(a.tag), []);
  t.deepEqual(await NetnsNetwork.leftovers(b.tag), []);
});

netnsTest(`netns round (${ROUND_SECONDS} s): linearizable, nothing acknowledged lost, partitions cut by the kernel, namespaces removed`, async (t) => {
  t.is(unavailable, null, `CI must be able to make namespaces: ${unavailable}`);
  t.timeout((ROUND_SECONDS + 240) * 1000);
  const seed = Number(process.env.NEMESIS_SEED) || Math.floor(Math.random() * 2 ** 31) + 1;
  const run = await nemesisCli(['--network', 'netns', '--seconds', String(ROUND_SECONDS), '--seed', String(seed), '--json'], (ROUND_SECONDS + 200) * 1000);
  t.log(run.stdout.slice(-6000));
  if (run.stderr) t.log(run.stderr.slice(-3000));
  const summary = lastJsonLine(run.stdout);
  t.like(summary, { ok: true, network: 'netns', violations: 0, lostAcknowledged: 0, setupError: null }, `replay with NEMESIS_SEED=${seed}`);
  t.is(run.code, 0);
  const faults = summary.faults as Record<string, number>;
  t.true(Object.keys(faults).length >= 4, `fault kinds: ${JSON.stringify(faults)}`);
  t.true((summary.operations as number) >= 1000, `${String(summary.operations)} operations`);
  const tag = /bridge cvb([0-9a-f]+)/.exec(run.stdout)?.[1];
  t.truthy(tag, 'the run names its bridge');
  t.deepEqual(await NetnsNetwork.leftovers(tag!), [], 'the run removed its namespaces and bridge');
});
