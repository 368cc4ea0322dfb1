// Request/response over a forked child's IPC channel: the parent drives bench processes
// (node processes, load clients) with calls that each have a deadline.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly args: unknown;
}
interface Response {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

const TSX = import.meta.resolve('tsx');
/** Lines of a child's output kept for the error message when it fails. */
const OUTPUT_TAIL_BYTES = 8000;

export interface ForkOptions {
  /** Write a V8 CPU profile of the child into this directory. */
  readonly cpuProfDir?: string | undefined;
  readonly label: string;
}

/** A forked TypeScript child (run through tsx) answering `call`s. */
export class ChildRpc {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private outputTail = '';
  readonly proc: ChildProcess;
  private exited = false;

  constructor(scriptUrl: URL, argv: readonly string[], readonly opts: ForkOptions) {
    // One directory per process: tsx's loader thread writes a profile of its own beside the main thread's.
    const prof = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfDir, opts.label)}`] : [];
    this.proc = fork(fileURLToPath(scriptUrl), [...argv], { execArgv: ['--import', TSX, ...prof], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const keep = (b: Buffer): void => {
      this.outputTail = (this.outputTail + b.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.proc.on('message', (m: Response) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${opts.label}: ${m.error}`));
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`${opts.label} exited (${signal ?? code}) during a call; its output:\n${this.outputTail}`));
        this.pending.delete(id);
      }
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  get output(): string {
    return this.outputTail;
  }

  call<T>(cmd: string, args: unknown, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.opts.label} is not running; its output:\n${this.outputTail}`));
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.opts.label}: '${cmd}' did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ id, cmd, args } satisfies Request);
    });
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    await this.stop('SIGKILL', 10_000);
  }

  /** Asks the child to exit (SIGTERM: it closes cleanly and writes its CPU profile), then SIGKILL at the deadline. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

export type Handler = (args: unknown) => unknown;

/** Child side: answers the parent's calls; exits cleanly on SIGTERM or when the parent goes. */
export function serveIpc(handlers: Record<string, Handler>, onExit: () => Promise<void>): void {
  if (!process.send) throw new Error('this script runs as a forked child of the benchmark');
  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    // process.exit() after a clean close lets --cpu-prof write its profile.
    const hard = setTimeout(() => process.exit(1), 10_000);
    void onExit().finally(() => {
      clearTimeout(hard);
      process.exit(0);
    });
  };
  process.on('SIGTERM', exit);
  process.on('disconnect', exit);
  process.on('message', (m: Request) => {
    const handler = handlers[m.cmd];
    const reply = (r: Omit<Response, 'id'>): void => {
      if (process.connected) process.send!({ id: m.id, ...r });
    };
    if (!handler) return reply({ ok: false, error: `unknown command '${m.cmd}'` });
    Promise.resolve()
      .then(() => handler(m.args))
      .then(
        (result) => reply({ ok: true, result: result ?? null }),
        (err: unknown) => reply({ ok: false, error: (err as Error)?.stack ?? String(err) }),
      );
  });
}
