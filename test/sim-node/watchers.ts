// Watchers beside the simulated clients: each watches the registers on a random live member
// from revision 1; when its member dies (or the watcher overflows) it watches again on
// another from the revision after its last batch. A member that no longer holds that
// revision (installed from a snapshot) answers COMPACTED and the watcher tries another;
// when every live member does, the stream stops there. test/nemesis/watch-check.ts checks
// the streams against the clients' history.
import type { Watcher } from 'conclave';
import type { WatchStream } from '../nemesis/watch-check.js';
import type { Target } from './clients.js';
import type { Scheduler } from './scheduler.js';

export const WATCHED_PREFIX = 'r';

function nameOf(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

export class SimWatchers {
  readonly streams: WatchStream[] = [];
  readonly counts = { batches: 0, events: 0, resumes: 0, compacted: 0, overflows: 0 };
  private readonly live = new Map<Watcher, string>();
  private stopped = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly targets: () => Target[],
  ) {}

  run(n: number): Promise<void> {
    return Promise.all(Array.from({ length: n }, (_, i) => this.loop(i))).then(() => {});
  }

  /** The member's process died: its watchers end, and watch again elsewhere. */
  nodeDied(owner: string): void {
    for (const [w, o] of this.live) if (o === owner) w.close();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.live.keys()) w.close();
  }

  private async loop(i: number): Promise<void> {
    const s: WatchStream = { name: `w${i}`, from: 1, to: 0, events: [], resumes: 0, stopped: null };
    this.streams.push(s);
    const rnd = this.sched.random;
    let batch = 0;
    const compactedOn = new Set<string>();
    for (let round = 0; round < 100_000 && !this.stopped; round++) {
      const all = this.targets();
      const ts = all.filter((t) => !compactedOn.has(t.id));
      if (ts.length === 0) {
        if (all.length > 0 && compactedOn.size > 0) {
          s.stopped = `revision ${s.to + 1} is compacted on every live member (${[...compactedOn].join(', ')})`;
          return;
        }
        await this.sched.sleep(100, null, `watcher ${s.name} waits for a member`);
        continue;
      }
      const t = ts[Math.floor(rnd() * ts.length)]!;
      if (round > 0) {
        s.resumes++;
        this.counts.resumes++;
      }
      this.sched.note(null, `watcher ${s.name} on ${t.owner} from ${s.to + 1}`);
      let w: Watcher | null = null;
      try {
        w = t.node.watch({ prefix: WATCHED_PREFIX }, { fromRevision: s.to + 1, progressMs: 200 });
        this.live.set(w, t.owner);
        for await (const b of w) {
          batch++;
          this.counts.batches++;
          for (const e of b.events) {
            s.events.push({ type: e.type, key: e.key, value: e.type === 'put' ? nameOf(e.value) : null, revision: e.revision, batch });
            this.counts.events++;
          }
          s.to = b.revision;
          compactedOn.clear();
          if (this.stopped) break;
        }
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'COMPACTED') {
          compactedOn.add(t.id);
          this.counts.compacted++;
        } else if (code === 'WATCH_OVERFLOW') this.counts.overflows++;
        this.sched.note(null, `watcher ${s.name} on ${t.owner} ended: ${code ?? ''} ${(err as Error).message}`);
      } finally {
        if (w) {
          this.live.delete(w);
          w.close();
        }
      }
    }
  }
}
