// The majority-failure drill: the Override Example of the JE HA guide (Appendix A,
// ../shared/seeds/je-ha-election-override.txt), end to end, with the `conclave` CLI against
// five real node processes on loopback. Prints every command and its output; checks each
// step and exits 1 at the first one that does not hold. `npm run drill` runs it.
//
//   1. start n1..n5                     5. restart n3; it catches up
//   2. kill n3..n5, one the leader      6. clear the override; the leader does not change
//   3. writes fail: no quorum           7. remove n4 and n5: E = 3
//   4. override 2 on n1 and n2; writes succeed
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

const g = await ProcessGroup.start({ nodes: 5 });
const started = Date.now();
let exitCode = 0;
try {
  await drill(g);
  say(`\ndrill passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  exitCode = 1;
  say(`\nDRILL FAILED: ${(err as Error).message}`);
  if (!(err instanceof DrillFailure)) say((err as Error).stack ?? '');
  say(g.logs());
} finally {
  await g.close();
}
process.exit(exitCode);
