// Seeded pseudo-random numbers. The core draws no ambient randomness: the driver injects a
// source, and the simulation injects a seeded one so that every schedule replays exactly.

/** Returns numbers in [0, 1). */
export type RandomSource = () => number;

/** mulberry32: small, fast, and good enough for timeouts and fault schedules. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi). */
export function randomInt(random: RandomSource, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo));
}
