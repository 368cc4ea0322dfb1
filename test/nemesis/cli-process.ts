// Runs `npm run nemesis -- ARGS` (the CLI module under tsx) as a child process, for tests.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NEMESIS_CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const OUTPUT_KEPT_CHARS = 200_000;

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the nemesis CLI; SIGINT at the deadline (it then cleans up), SIGKILL 30 s later. */
export function nemesisCli(args: readonly string[], deadlineMs: number): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, NEMESIS_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout = (stdout + b.toString()).slice(-OUTPUT_KEPT_CHARS)));
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-OUTPUT_KEPT_CHARS)));
    const kill = setTimeout(() => child.kill('SIGKILL'), deadlineMs + 30_000);
    const interrupt = setTimeout(() => child.kill('SIGINT'), deadlineMs);
    // 'close', not 'exit': the output may still be unread when the process has exited.
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      clearTimeout(interrupt);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The JSON summary a `--json` run prints as its last line. */
export function lastJsonLine(stdout: string): Record<string, unknown> {
  const last = stdout.trimEnd().split('\n').pop() ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}
