// The majority-failure drill (scripts/drill-majority-failure.ts, `npm run drill`) passes
// against five real node processes, and prints every step's command and output.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const DRILL = fileURLToPath(new URL('../../scripts/drill-majority-failure.ts', import.meta.url));
const DRILL_TIMEOUT_MS = 100_000;

test('the JE HA Override Example, end to end with the CLI', async (t) => {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), DRILL], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), DRILL_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  if (code !== 0) t.log(out);
  t.is(code, 0);
  for (const step of ['== 1. ', '== 2. ', '== 3. ', '== 4. ', '== 5. ', '== 6. ', '== 7. ']) t.true(out.includes(step), `step ${step}`);
  t.regex(out, /\$ conclave put drill:before lost-quorum .*\n {2}conclave: the write did not finish within \d+ ms: no leader/);
  t.regex(out, /\| +500 \| no leader: .*\n(.*\n)*.*\| +2 \| 127\.0\.0\.1:\d+: connection refused/);
  t.regex(out, /verdict: NO LEADER; quorum NOT reachable: 2 of 5 electable members answer, 3 needed/);
  t.regex(out, /\$ conclave override set 2 --node n1 --node n2 .*\n {2}probe: 2 of 5 electable members answer \(n1, n2\); silent: n3, n4, n5; a majority is 3/);
  t.regex(out, /check: n3 has the write made under the override/);
  t.regex(out, /check: n[12] is still the leader, without an override/);
  t.regex(out, /group conclave: electable group size E = 3, leader n[12] /);
  t.regex(out, /drill passed in \d+\.\d s/);
});
