// Seedable randomness for fault injection and backoff jitter, so a failing run can be replayed.

/** Returns a float in [0, 1), like Math.random. */
export type RandomSource = () => number;

/** mulberry32: tiny, fast, good enough for fault decisions; the same seed gives the same sequence. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function toRandomSource(random: RandomSource | number | undefined): RandomSource {
  if (random === undefined) return Math.random;
  return typeof random === 'number' ? seededRandom(random) : random;
}
