// The load loop every driver runs: `inflight` workers, each issuing one write at a time,
// bounded in count and in time; it stops by itself. Writes that complete inside the
// measured window are timed and counted (a closed loop: at 256 in flight with 16 KiB values
// one write can take longer than a quick run's window); the warm-up's are not.
import { latencyHistogram, nowUs, summarize, type LatencySummaryUs } from './latency.js';

export interface LoadSpec {
  readonly inflight: number;
  readonly sizeBytes: number;
  readonly warmupMs: number;
  /** Measured window after the warm-up. */
  readonly durationMs: number;
  /** Upper bound of writes issued, warm-up included. */
  readonly maxOps: number;
  /** Distinct keys written, round robin. */
  readonly keySpace: number;
}

export interface LoadResult {
  readonly inflight: number;
  readonly sizeBytes: number;
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerS: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly latency: LatencySummaryUs;
}

/** A load stops early after this many failed writes: the group is broken, not slow. */
const MAX_ERRORS = 100;

export type WriteFn = (key: string, value: Buffer) => Promise<unknown>;

export function checkLoadSpec(spec: LoadSpec): void {
  for (const [name, v, min] of [
    ['inflight', spec.inflight, 1],
    ['sizeBytes', spec.sizeBytes, 1],
    ['warmupMs', spec.warmupMs, 0],
    ['durationMs', spec.durationMs, 1],
    ['maxOps', spec.maxOps, 1],
    ['keySpace', spec.keySpace, 1],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`load spec: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
}

export async function runLoad(write: WriteFn, spec: LoadSpec): Promise<LoadResult> {
  checkLoadSpec(spec);
  const value = Buffer.alloc(spec.sizeBytes);
  for (let i = 0; i < value.length; i++) value[i] = (i * 131 + 17) & 0xff; // not all zeros: no accidental compression wins
  const h = latencyHistogram();
  const startUs = nowUs();
  const measureFromUs = startUs + spec.warmupMs * 1000;
  const stopAtUs = measureFromUs + spec.durationMs * 1000;
  let issued = 0;
  let measuredOps = 0;
  let errors = 0;
  let firstError: string | null = null;
  let lastDoneUs = measureFromUs;

  const worker = async (): Promise<void> => {
    for (;;) {
      if (issued >= spec.maxOps || errors >= MAX_ERRORS || nowUs() >= stopAtUs) return;
      const n = issued++;
      const t0 = nowUs();
      try {
        await write(`k${n % spec.keySpace}`, value);
      } catch (err) {
        errors++;
        firstError ??= (err as Error)?.message ?? String(err);
        continue;
      }
      const t1 = nowUs();
      if (t1 >= measureFromUs && t1 <= stopAtUs) {
        h.recordValue(Math.max(1, t1 - t0));
        measuredOps++;
        if (t1 > lastDoneUs) lastDoneUs = t1;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.inflight }, worker));
  // The window ends at the deadline, or at the last completion when maxOps ran out first.
  const seconds = Math.max(1e-6, (Math.min(stopAtUs, Math.max(lastDoneUs, measureFromUs + 1)) - measureFromUs) / 1e6);
  const latency = summarize(h);
  h.destroy();
  return { inflight: spec.inflight, sizeBytes: spec.sizeBytes, ops: measuredOps, seconds, opsPerS: measuredOps / seconds, errors, firstError, latency };
}
