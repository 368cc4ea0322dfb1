// Runs the real `conclave` CLI in a child process, as an operator or a script would, with a
// deadline. Used by the admin tests and the majority-failure drill.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../packages/admin/src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface CliRun {
  readonly args: readonly string[];
  /** The exit code; -1 when the deadline killed it. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

/** The deadline only stops a hung CLI: a loaded machine takes many seconds to start (and compile) one (issue 11, item 16). */
export async function runCli(args: readonly string[], timeoutMs = 90_000): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  clearTimeout(killer);
  return { args, code, stdout, stderr, elapsedMs: Date.now() - started };
}

/** The one line of JSON a --json command printed. */
export function jsonOf<T = Record<string, unknown>>(r: CliRun): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`conclave ${r.args.join(' ')} (exit ${r.code}) did not print JSON:\n${r.stdout}\n${r.stderr}`);
  }
}
