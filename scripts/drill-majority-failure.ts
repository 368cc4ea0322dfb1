// The majority-failure drill: the Override Example of the JE HA guide (Appendix A,
// ../shared/seeds/je-ha-election-override.txt), end to end, with the `conclave` CLI against
// five real node processes on loopback. Prints every command and its output; checks each
// step and exits 1 at the first one that does not hold. `npm run drill` runs both scenarios;
// `npm run drill -- --scenario lost|alive` runs one.
//
// Scenario "lost": the majority is really gone.
//   1. start n1..n5                     5. restart n3; it catches up
//   2. kill n3..n5, one the leader      6. clear the override; the leader does not change
//   3. writes fail: no quorum           7. remove n4 and n5: E = 3
//   4. override 2 on n1 and n2; writes succeed
//
// Scenario "alive": the lost majority was alive (partitioned, then frozen), the case step 1
// of the procedure exists for.
//   A. partition n1 n2 | n3 n4 n5; the majority commits writes   D. --force: n1 and n2 elect a leader
//   B. n3..n5 freeze (SIGSTOP): alive, but silent                E. heal: the override side wins
//   C. override set refuses: they accepted the connection          (higher term); n3..n5 roll back
//                                                                  exactly the majority's writes, listed
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliRun } from '../test/admin/run-cli.js';
import { ProcessGroup, waitFor } from '../test/cluster/harness.js';

const COMMAND_TIMEOUT_MS = 30_000;
const WAIT_MS = 15_000;

class DrillFailure extends Error {}

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Runs `conclave ARGS` as an operator would, prints it and its output, and checks its exit code. */
async function conclave(args: readonly string[], expectExit: number): Promise<CliRun> {
  say(`$ conclave ${args.join(' ')}`);
  const r = await runCli(args, COMMAND_TIMEOUT_MS);
  for (const line of `${r.stdout}${r.stderr}`.trimEnd().split('\n')) if (line) say(`  ${line}`);
  say(`  (exit ${r.code})`);
  if (r.code !== expectExit) throw new DrillFailure(`conclave ${args[0]} ${args[1] ?? ''} exited ${r.code}, expected ${expectExit}`);
  return r;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new DrillFailure(what);
  say(`  check: ${what}`);
}

async function drill(g: ProcessGroup): Promise<void> {
  const at = (id: string) => ['--endpoint', g.peers[id]!];
  const survivors = ['n1', 'n2'];
  const lost = ['n3', 'n4', 'n5'];

  say('== 1. Start five electable nodes, n1..n5');
  for (const [id, address] of Object.entries(g.peers)) say(`  ${id}  ${address}`);
  await conclave(['group', 'show', ...at('n1')], 0);

  say('\n== 2. n3, n4 and n5 fail, one of them the leader');
  let leader = await g.waitForLeader(WAIT_MS);
  if (!lost.includes(leader)) {
    say(`  (the leader is ${leader}: move it into n3..n5 first, so that n1 and n2 must hold an election)`);
    await conclave(['group', 'transfer-leader', ...lost, ...at('n1'), '--timeout', '10000'], 0);
    leader = await g.waitForLeader(WAIT_MS);
  }
  check(lost.includes(leader), `the leader is ${leader}, one of n3..n5`);
  for (const id of lost) {
    say(`$ kill -KILL ${g.procs.get(id)!.pid}   # ${id}${id === leader ? ' (the leader)' : ''}`);
    await g.kill(id, 'SIGKILL');
  }

  say('\n== 3. n1 and n2 cannot elect a leader: writes fail with the quorum error');
  await waitFor(async () => {
    const st = await Promise.all(survivors.map((id) => g.status(id)));
    return st.every((s) => s !== null && s.leader === null);
  }, WAIT_MS, 'n1 and n2 to notice that they have no leader');
  const failed = await conclave(['put', 'drill:before', 'lost-quorum', ...at('n1'), '--timeout', '3000'], 1);
  check(/no leader/.test(failed.stderr) && /an election needs the votes of 3 of 5/.test(failed.stderr), 'the write failed: no leader, an election needs 3 of 5 votes');
  const down = await conclave(['election', 'status', ...at('n1'), ...at('n2')], 1);
  check(/NO LEADER; quorum NOT reachable: 2 of 5/.test(down.stdout), 'the verdict: no leader, 2 of 5 electable members answer');
  check(/next: if n3, n4, n5 are lost for good: conclave override set 2 --node n1 --node n2/.test(down.stdout), 'the verdict names the next step of the procedure');

  say('\n== 4. Step 1 holds (a majority is down): set the override to 2 on n1 and n2');
  await conclave(['override', 'set', '2', '--node', 'n1', '--node', 'n2', ...at('n1')], 0);
  const newLeader = await g.waitForLeader(WAIT_MS);
  check(survivors.includes(newLeader), `n1 and n2 elected ${newLeader}`);
  await conclave(['election', 'status', ...at('n1')], 0);
  await conclave(['put', 'drill:during', 'override-2', ...at('n2')], 0);

  say('\n== 5. n3 is repaired: it finds the leader and catches up');
  g.spawn('n3');
  await waitFor(async () => {
    const [s3, sl] = await Promise.all([g.status('n3'), g.status(newLeader)]);
    return s3 !== null && sl !== null && s3.leader?.id === newLeader && s3.appliedIndex >= sl.commitIndex;
  }, WAIT_MS, 'n3 to catch up with the leader');
  const read = await conclave(['get', 'drill:during', ...at('n3'), '--consistency', 'none'], 0);
  check(read.stdout.trim() === 'override-2', 'n3 has the write made under the override');
  await conclave(['group', 'show', ...at('n1')], 0);

  say('\n== 6. Three electable members run: a true majority. Clear the override; the leader stays');
  await conclave(['override', 'clear', '--node', 'n1', '--node', 'n2', ...at('n1')], 0);
  await conclave(['put', 'drill:after', 'majority', ...at('n1')], 0);
  await conclave(['election', 'status', ...at('n1')], 0);
  const after = await g.status(newLeader);
  check(after?.state === 'leader' && after.electableGroupSizeOverride === 0, `${newLeader} is still the leader, without an override`);

  say('\n== 7. n4 and n5 will stay down: remove them');
  await conclave(['group', 'remove-member', 'n4', ...at('n1')], 0);
  await conclave(['group', 'remove-member', 'n5', ...at('n1')], 0);
  const final = await conclave(['group', 'show', ...at('n1')], 0);
  check(/electable group size E = 3,/.test(final.stdout), 'the electable group size is 3');
}

const MAJORITY_WRITES = 4;

/** Scenario "alive": what the step-1 guard prevents, and what forcing it costs, exactly. */
async function drillAlive(g: ProcessGroup): Promise<void> {
  const at = (id: string) => ['--endpoint', g.peers[id]!];
  const minority = ['n1', 'n2'];
  const majority = ['n3', 'n4', 'n5'];
  const faults = async (params: Record<string, unknown>) => {
    for (const id of Object.keys(g.peers)) await g.client(id).call('test.faults', params);
  };

  say('== A. A partition: n1 n2 | n3 n4 n5. The majority side keeps its leader and commits writes');
  let leader = await g.waitForLeader(WAIT_MS);
  if (!majority.includes(leader)) {
    await conclave(['group', 'transfer-leader', ...majority, ...at('n1'), '--timeout', '10000'], 0);
    leader = await g.waitForLeader(WAIT_MS);
  }
  check(majority.includes(leader), `the leader is ${leader}, one of n3..n5`);
  say(`  (test.faults partition on every node: [n1, n2] | [n3, n4, n5])`);
  await faults({ action: 'partition', sides: [minority, majority] });
  for (let i = 0; i < MAJORITY_WRITES; i++) await conclave(['put', `alive:${i}`, `majority-${i}`, ...at(leader)], 0);
  check(true, `${MAJORITY_WRITES} writes acknowledged by a true majority (${majority.join(', ')})`);

  say('\n== B. n3, n4 and n5 freeze (SIGSTOP): they accept connections but answer nothing');
  for (const id of majority) {
    say(`$ kill -STOP ${g.procs.get(id)!.pid}   # ${id}`);
    g.pause(id);
  }
  await waitFor(async () => {
    const st = await Promise.all(minority.map((id) => g.status(id)));
    return st.every((s) => s !== null && s.leader === null);
  }, WAIT_MS, 'n1 and n2 to notice that they have no leader');
  await conclave(['election', 'status', ...at('n1'), '--timeout', '2000'], 1);

  say('\n== C. Step 1 of the procedure: are n3..n5 down? The probe says no: they are silent, not down');
  const refused = await conclave(['override', 'set', '2', '--node', 'n1', '--node', 'n2', ...at('n1'), '--timeout', '2000'], 1);
  check(/alive but silent, maybe partitioned \(accepted the connection, then no answer\): n3, n4, n5/.test(refused.stdout), 'the probe tells silent members from down ones');
  check(/\[MEMBERS_MAYBE_ALIVE\]/.test(refused.stderr) && /verify that a simple majority of electable nodes are in fact down/.test(refused.stderr), 'override set refuses, in the words of the procedure');

  say('\n== D. The operator forces it anyway: n1 and n2 elect a leader of their own and take writes');
  const forced = await conclave(['override', 'set', '2', '--node', 'n1', '--node', 'n2', '--force', ...at('n1'), '--timeout', '2000'], 0);
  check(/WARNING: --force: n3, n4, n5 may be alive behind a partition/.test(forced.stdout), 'the forced override warns');
  const overrideLeader = await waitFor(async () => {
    for (const id of minority) if ((await g.status(id))?.state === 'leader') return id;
    return null;
  }, WAIT_MS, 'n1 or n2 to lead with the override');
  await conclave(['put', 'alive:override', 'minority', ...at(overrideLeader)], 0);

  say('\n== E. The partition heals and n3..n5 resume. The side whose leader has the higher term wins: the override side');
  for (const id of majority) {
    say(`$ kill -CONT ${g.procs.get(id)!.pid}   # ${id}`);
    g.resume(id);
  }
  await faults({ action: 'heal' });
  await waitFor(async () => {
    for (const id of majority) {
      const dir = join(g.dataDir(id), 'rollbacks');
      if (!existsSync(dir) || readdirSync(dir).length === 0) return null;
    }
    return true;
  }, 30_000, 'n3, n4 and n5 to roll back');
  await conclave(['override', 'clear', '--node', 'n1', '--node', 'n2', ...at('n1')], 0);
  for (const id of majority) {
    const dir = join(g.dataDir(id), 'rollbacks');
    const files = readdirSync(dir);
    check(files.length === 1, `${id} wrote one rollback report: ${join(dir, files[0]!)}`);
    const report = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as { lostWriteCount: number; fromIndex: number; toIndex: number; exact: boolean; lostWrites: { index: number; command: { key: string; value: unknown } }[] };
    say(`  ${id}: rolled back ${report.lostWriteCount} committed writes [${report.fromIndex}, ${report.toIndex}]${report.exact ? '' : ' (an upper bound)'}:`);
    for (const w of report.lostWrites) say(`    index ${w.index}: ${w.command.key} = ${JSON.stringify(w.command.value)}`);
    check(report.exact && report.lostWriteCount === MAJORITY_WRITES, `${id}: exactly the ${MAJORITY_WRITES} writes the majority committed, no more, no fewer`);
    const keys = report.lostWrites.map((w) => `${w.command.key}=${String(w.command.value)}`).join(' ');
    check(keys === Array.from({ length: MAJORITY_WRITES }, (_, i) => `alive:${i}=majority-${i}`).join(' '), `${id}: every lost key and value is listed`);
  }
  await waitFor(async () => (await g.client('n3').get('alive:override', 'none').catch(() => null))?.found === true, WAIT_MS, 'n3 to follow the override side');
  const gone = await conclave(['get', 'alive:0', ...at('n3'), '--consistency', 'none'], 1);
  check(/not found/.test(gone.stderr), "the majority's write alive:0 is gone from n3: the override side won");
  await conclave(['election', 'status', ...at('n1')], 0);
}

const scenarioArg = process.argv.indexOf('--scenario');
const scenario = scenarioArg >= 0 ? process.argv[scenarioArg + 1] : 'all';
if (scenario !== 'all' && scenario !== 'lost' && scenario !== 'alive') {
  say(`usage: drill-majority-failure [--scenario lost|alive] (got '${String(scenario)}')`);
  process.exit(2);
}
const scenarios: [string, (g: ProcessGroup) => Promise<void>, string[]][] = [
  ['lost', drill, []],
  ['alive', drillAlive, ['--enable-fault-injection']],
];
let exitCode = 0;
for (const [name, run, extraArgs] of scenarios) {
  if (scenario !== 'all' && scenario !== name) continue;
  say(`\n######## scenario: ${name === 'lost' ? 'the majority is lost' : 'the lost majority was alive'}\n`);
  const g = await ProcessGroup.start({ nodes: 5, extraArgs });
  const started = Date.now();
  try {
    await run(g);
    say(`\ndrill ${name} passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    exitCode = 1;
    say(`\nDRILL FAILED: ${(err as Error).message}`);
    if (!(err instanceof DrillFailure)) say((err as Error).stack ?? '');
    say(g.logs());
  } finally {
    await g.close();
  }
  if (exitCode !== 0) break;
}
process.exit(exitCode);
