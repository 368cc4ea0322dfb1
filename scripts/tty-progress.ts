// A one-line progress display for long runs (npm run bench, npm run nemesis): what runs now,
// elapsed and remaining time, redrawn in place on a terminal. Off a terminal it prints
// nothing: logs and CI output keep only the tools' own lines.
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(s: string): boolean;
}

const REDRAW_MS = 500;

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export class TtyProgress {
  private what = 'starting';
  private timer: NodeJS.Timeout | null = null;
  private shown = false;
  readonly enabled: boolean;

  /** `remainingMs` says how long is left (null: unknown); `now` is injectable for tests. */
  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly remainingMs: (elapsedMs: number) => number | null = () => null,
    private readonly now: () => number = Date.now,
    private readonly startedMs = now(),
  ) {
    this.enabled = stream.isTTY === true;
    if (this.enabled) {
      this.timer = setInterval(() => this.draw(), REDRAW_MS);
      this.timer.unref();
    }
  }

  /** What runs now (a benchmark cell, a fault). */
  set(what: string): void {
    this.what = what;
    this.draw();
  }

  /** The line as drawn: what, elapsed, remaining. */
  line(): string {
    const elapsed = this.now() - this.startedMs;
    const left = this.remainingMs(elapsed);
    return `> ${this.what} | elapsed ${clock(elapsed)}${left === null ? '' : ` | remaining ~${clock(left)}`}`;
  }

  /** Prints `text` (a finished line of the tool's own output) above the progress line. */
  print(text: string, out: ProgressStream = process.stdout): void {
    this.clear();
    out.write(`${text}\n`);
    this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  private draw(): void {
    if (!this.enabled || !this.timer) return;
    const cols = (this.stream as { columns?: number }).columns ?? 120;
    this.stream.write(`\r\x1b[K${this.line().slice(0, Math.max(20, cols - 1))}`);
    this.shown = true;
  }

  private clear(): void {
    if (this.enabled && this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
