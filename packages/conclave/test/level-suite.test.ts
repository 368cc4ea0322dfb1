// abstract-level's own test suite against ConclaveLevel (issue 18): the whole suite on
// groups of one, and its read, write, iterator (seek and snapshots), clear and sublevel modules on a member (a
// follower) of fresh 3-member groups. Each runs in a child process (tape owns its
// process's output and exit); the run fails on any failed test.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUNNER = fileURLToPath(new URL('./level/suite-runner.ts', import.meta.url));

function runSuite(mode: 'single' | 'group', timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=conclave-source', '--import=tsx', RUNNER, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (b: Buffer): void => {
      // Bounded: the summary is at the end; keep the last 256 KiB.
      output = (output + b.toString()).slice(-256 * 1024);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function summary(output: string): { passed: number; failed: number } | null {
  const m = /^abstract-level: (\d+) passed, (\d+) failed/m.exec(output);
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : null;
}

/** Runs one mode and asserts its closing line: no failure, and at least `minPassed` tests run. */
async function checkSuite(t: ExecutionContext, mode: 'single' | 'group', minPassed: number): Promise<void> {
  t.timeout(400_000);
  const { code, output } = await runSuite(mode, 380_000);
  const s = summary(output);
  t.log(output.split('\n').filter((l) => l.startsWith('abstract-level:') || l.startsWith('databases opened')).join('\n'));
  t.truthy(s, `no closing line from the suite (exit ${code}):\n${output.slice(-4000)}`);
  t.is(s?.failed, 0, output.split('\n').filter((l) => l.startsWith('not ok')).join('\n'));
  t.true((s?.passed ?? 0) >= minPassed, `only ${s?.passed} tests ran`);
  t.is(code, 0);
}

// The whole suite with its sublevel pass: 1,443 tests with this manifest.
test('abstract-level suite: every test passes on a group of one (sublevel pass included)', (t) => checkSuite(t, 'single', 1400));

test('abstract-level suite: reads, writes, iterators (seek, snapshots), clears and sublevels pass on a follower of a 3-member group', (t) => checkSuite(t, 'group', 550));
