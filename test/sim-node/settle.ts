// Waiting on a promise inside a simulation: the scheduler runs until it settles.
import type { SimNodeCluster } from './cluster.js';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

/** Runs the scheduler until `p` settles (or `forMs` of simulated time pass); its value, or the error. */
export async function settle<T>(c: SimNodeCluster, p: Promise<T>, forMs = 10_000): Promise<Settled<T>> {
  let r: Settled<T> | null = null;
  p.then(
    (value) => (r = { ok: true, value }),
    (error: Error) => (r = { ok: false, error }),
  );
  await c.run(forMs, () => r !== null);
  return r ?? { ok: false, error: new Error(`did not settle within ${forMs} ms`) };
}
