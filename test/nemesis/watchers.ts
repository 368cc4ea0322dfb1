// Watchers beside the nemesis clients: each watches the registers through one live member's
// admin endpoint (AdminWatch, kv.watch), from revision 1. When that member is killed, paused
// or cut off, or now and then on purpose, the watcher is dropped and started again on another
// member from the revision after its last batch. A member that no longer holds that revision
// (installed from a snapshot) answers COMPACTED and another is tried; when every live member
// does, the stream stops there. watch-check.ts checks the streams.
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminRpcClient } from '@conclave/transport';
import type { RandomSource } from '@conclave/core';
import { AdminWatch } from '../../packages/admin/src/watch-client.js';
import type { NemesisCluster } from './cluster.js';
import type { WatchStream } from './watch-check.js';

export const WATCHED_PREFIX = 'r';
/** Longest a watcher stays on one member before it is dropped and resumed elsewhere on purpose. */
const MAX_STAY_MS = 15_000;

export class NemesisWatchers {
  readonly streams: WatchStream[] = [];
  readonly counts = { batches: 0, events: 0, resumes: 0, compacted: 0, dropped: 0 };
  private readonly live = new Set<AdminWatch>();
  private stopped = false;

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly random: RandomSource,
  ) {}

  run(n: number): Promise<void> {
    return Promise.all(Array.from({ length: n }, (_, i) => this.loop(i))).then(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.live].map((w) => w.close()));
  }

  /** Lowest revision every running stream has reached (stopped streams aside). */
  get lowestRevision(): number {
    const running = this.streams.filter((s) => s.stopped === null);
    return running.length ? Math.min(...running.map((s) => s.to)) : Number.POSITIVE_INFINITY;
  }

  private async loop(i: number): Promise<void> {
    const s: WatchStream = { name: `w${i}`, from: 1, to: 0, events: [], resumes: 0, stopped: null };
    this.streams.push(s);
    let batch = 0;
    const compactedOn = new Set<string>();
    for (let round = 0; round < 1_000_000 && !this.stopped; round++) {
      const alive = this.cluster.ids().filter((id) => this.cluster.alive(id));
      const ids = alive.filter((id) => !compactedOn.has(id));
      if (ids.length === 0) {
        if (alive.length > 0 && compactedOn.size >= alive.length) {
          s.stopped = `revision ${s.to + 1} is compacted on every live member`;
          return;
        }
        await sleep(200);
        continue;
      }
      const id = ids[Math.floor(this.random() * ids.length)]!;
      if (round > 0) {
        s.resumes++;
        this.counts.resumes++;
      }
      const connect = (e: string) => AdminRpcClient.connect(e, { connectTimeoutMs: 1000, ...this.cluster.clientOptions() });
      const w = new AdminWatch([this.cluster.address(id)], connect, { prefix: WATCHED_PREFIX }, { fromRevision: s.to + 1, progressMs: 500, resume: false });
      this.live.add(w);
      const leaveAt = Date.now() + MAX_STAY_MS * (0.3 + this.random() * 0.7);
      try {
        for await (const b of w) {
          batch++;
          this.counts.batches++;
          for (const e of b.events) {
            s.events.push({ type: e.type, key: e.key, value: e.type === 'put' ? String(e.value) : null, revision: e.revision, batch });
            this.counts.events++;
          }
          s.to = b.revision;
          compactedOn.clear();
          if (this.stopped) break;
          if (Date.now() > leaveAt) {
            this.counts.dropped++; // killed on purpose: resumed on another member
            break;
          }
        }
      } catch (err) {
        if ((err as { code?: string }).code === 'COMPACTED') {
          compactedOn.add(id);
          this.counts.compacted++;
        } else await sleep(50);
      } finally {
        this.live.delete(w);
        await w.close();
      }
    }
  }
}
