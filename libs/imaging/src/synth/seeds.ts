import { Rng } from '../../../common/src';

/**
 * A child seed that depends only on (parent seed, index): patient k of site s is the same
 * whether 10 or 1000 patients are generated, and any one patient can be regenerated alone.
 */
export function childSeed(parentSeed: number, index: number): number {
  // murmur3-style finaliser over the pair: neighbouring indices give unrelated seeds.
  let h = (parentSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Named sub-streams of one seed, so adding a draw to one part never shifts another part. */
export function streamRng(seed: number, stream: number): Rng {
  return new Rng(childSeed(seed, 0x10000 + stream));
}

/** Site-level random streams: the profile, the train/test split, the noise table. */
export const SITE_STREAMS = { profile: 0, split: 1, noise: 2 } as const;
