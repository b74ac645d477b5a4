/**
 * A small seeded pseudo-random generator (mulberry32), for reproducible worlds and
 * randomized tests that replay exactly. Not for anything secret (use crypto for that).
 *
 * @module
 */

/**
 * A generator of numbers in [0, 1) from `seed`: the same seed, the same sequence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRandom } from "./random.ts";
 * const a = seededRandom(1), b = seededRandom(1);
 * assert.deepEqual(a() === b(), true);
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
