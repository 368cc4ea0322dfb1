// One lock holder of the nemesis' lock workload (locks.ts), in its own process so that the
// workload can SIGKILL it or SIGSTOP it for real. It holds the lock as `conclave lock` does:
// AdminClient.lockAcquire (the member waits for the turn, then hands over the lease), the
// CLI's own keep-alive loop (keepAliveLoop, commands-lease.ts), and a revoke to release.
// While it holds, it writes its fencing token to a fenced register: a transaction that puts
// the token only if the register holds no higher one, and beside it a log key of its own
// (so that every accepted write, even one whose answer never came, can be read at the end).
//
// It is deliberately naive: it keeps acting until the keep-alive loop tells it the lock is
// lost, as an application that does not check its clock would. A pause beyond the TTL does
// not stop it; the fence must. Every step goes to stdout as one JSON line, timed on
// CLOCK_MONOTONIC (process.hrtime), the clock the nemesis process shares with it.
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminClient } from '../../packages/admin/src/client.js';
import { keepAliveLoop } from '../../packages/admin/src/commands-lease.js';

export interface HolderConfig {
  /** This process's name (holder and incarnation, e.g. h2.3): holdings are `<name>#<n>`. */
  readonly name: string;
  readonly endpoints: readonly string[];
  readonly secret?: string;
  readonly lock: string;
  readonly register: string;
  readonly logPrefix: string;
  readonly ttlMs: number;
  readonly waitMs: number;
  /** How long each holding lasts (its work), drawn in this range. */
  readonly holdMs: readonly [number, number];
  /** Between two fenced writes of one holding. */
  readonly writeEveryMs: number;
  /** Each request's deadline. */
  readonly requestTimeoutMs: number;
}

/** What a holder reports, one JSON line each; `at` and `sentAt` on CLOCK_MONOTONIC, in ms. */
export type HolderEvent =
  | { readonly t: 'ready'; readonly at: number }
  | { readonly t: 'acquired'; readonly n: number; readonly token: number; readonly leaseId: number; readonly sentAt: number; readonly at: number }
  | { readonly t: 'acquire-failed'; readonly code: string; readonly at: number }
  | { readonly t: 'renewed'; readonly n: number; readonly sentAt: number; readonly at: number }
  | { readonly t: 'writing'; readonly n: number; readonly seq: number; readonly token: number; readonly at: number }
  | { readonly t: 'write'; readonly n: number; readonly seq: number; readonly token: number; readonly sentAt: number; readonly at: number; readonly outcome: 'accepted' | 'rejected' | 'unknown'; readonly revision?: number; readonly current?: unknown; readonly code?: string }
  | { readonly t: 'lost'; readonly n: number; readonly why: string; readonly at: number }
  | { readonly t: 'released'; readonly n: number; readonly at: number }
  | { readonly t: 'exit'; readonly at: number };

/** CLOCK_MONOTONIC in ms (libuv's hrtime): one clock for every process of the machine. */
function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'string' ? c : 'UNKNOWN';
}

/** Errors after which the same connection serves on: anything else gets a new client (a paused member keeps a dead one open). */
const ANSWERED = new Set(['LEASE_NOT_FOUND', 'LOCK_TIMEOUT', 'INVALID_ARGUMENT']);

async function main(cfg: HolderConfig): Promise<void> {
  const emit = (e: HolderEvent): void => void process.stdout.write(`${JSON.stringify(e)}\n`);
  const open = () => new AdminClient({ endpoints: [...cfg.endpoints].sort(() => Math.random() - 0.5), timeoutMs: cfg.requestTimeoutMs, ...(cfg.secret !== undefined ? { secret: cfg.secret } : {}) });
  let client = open();
  const failed = (err: unknown): void => {
    if (ANSWERED.has(codeOf(err))) return;
    const old = client;
    client = open();
    // Requests still on the old client finish or time out first.
    setTimeout(() => void old.close().catch(() => {}), cfg.requestTimeoutMs + 1000).unref();
  };
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
  });
  emit({ t: 'ready', at: monoMs() });
  for (let n = 1; n < 1_000_000 && !stopping; ) {
    const sentAt = monoMs();
    let held: Awaited<ReturnType<AdminClient['lockAcquire']>>;
    try {
      held = await client.lockAcquire(cfg.lock, cfg.ttlMs, cfg.waitMs);
    } catch (err) {
      emit({ t: 'acquire-failed', code: codeOf(err), at: monoMs() });
      failed(err);
      await sleep(100 + Math.random() * 200);
      continue;
    }
    const h = n++;
    emit({ t: 'acquired', n: h, token: held.fencingToken, leaseId: held.leaseId, sentAt, at: monoMs() });
    let lost = false;
    const renewing = {
      leaseKeepAlive: async (id: number) => {
        const sent = monoMs();
        try {
          const r = await client.leaseKeepAlive(id);
          emit({ t: 'renewed', n: h, sentAt: sent, at: monoMs() });
          return r;
        } catch (err) {
          failed(err);
          throw err;
        }
      },
    };
    const loop = keepAliveLoop(renewing, held.leaseId, cfg.ttlMs, (why) => {
      if (lost) return;
      lost = true;
      emit({ t: 'lost', n: h, why, at: monoMs() });
    });
    // Acts only once the loop's first keep-alive confirmed the lease: its window then runs
    // from that keep-alive's send (the member kept the lease alive while it waited, but
    // does not say when it last did).
    await loop.confirmed;
    // The work: the token written now and then while the holding lasts, then once more to
    // commit it, as an application would after its work (a holder paused in the middle
    // wakes up here, still believing it holds).
    const until = monoMs() + cfg.holdMs[0] + Math.random() * (cfg.holdMs[1] - cfg.holdMs[0]);
    let seq = 0;
    for (; seq < 10_000 && !lost && !stopping && monoMs() < until; seq++) {
      await fencedWrite(h, seq, held.fencingToken);
      if (!lost && monoMs() < until) await sleep(cfg.writeEveryMs);
    }
    if (!lost && !stopping) await fencedWrite(h, seq, held.fencingToken);
    loop.stop();
    if (!lost) emit({ t: 'released', n: h, at: monoMs() });
    await client.leaseRevoke(held.leaseId).catch(failed);
  }
  emit({ t: 'exit', at: monoMs() });
  await client.close().catch(() => {});
  process.exit(0);

  async function fencedWrite(n: number, seq: number, token: number): Promise<void> {
    const worker = `${cfg.name}#${n}`;
    emit({ t: 'writing', n, seq, token, at: monoMs() });
    const sentAt = monoMs();
    try {
      const r = await client.txn({
        // The register holds no higher token ("< token + 1": this holding may write again).
        if: [{ key: cfg.register, target: 'value', op: '<', value: token + 1 }],
        then: [
          { op: 'put', key: cfg.register, value: token },
          { op: 'put', key: `${cfg.logPrefix}${worker}/${seq}`, value: { token, worker, seq } },
        ],
        else: [{ op: 'get', key: cfg.register }],
      });
      const got = r.results[0];
      const current = !r.succeeded && got?.op === 'get' ? got.kv?.value : undefined;
      emit({ t: 'write', n, seq, token, sentAt, at: monoMs(), outcome: r.succeeded ? 'accepted' : 'rejected', revision: r.revision, ...(current !== undefined ? { current } : {}) });
    } catch (err) {
      emit({ t: 'write', n, seq, token, sentAt, at: monoMs(), outcome: 'unknown', code: codeOf(err) });
      failed(err);
    }
  }
}

await main(JSON.parse(process.argv[2] ?? 'null') as HolderConfig);
