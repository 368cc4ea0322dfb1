// Seedable randomness for fault injection and backoff jitter, so a failing run can be
// replayed. The generator is core's; this only accepts a seed where a source is wanted.
import { seededRandom, type RandomSource } from '@conclave/core';

export { seededRandom, type RandomSource };

export function toRandomSource(random: RandomSource | number | undefined): RandomSource {
  if (random === undefined) return Math.random;
  return typeof random === 'number' ? seededRandom(random) : random;
}
