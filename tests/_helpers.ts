/** Test helpers: run a body in a thread, a seeded PRNG. */
import { quiesceFfiPoller, spawn } from "../mod.ts";

/**
 * Runs `fn` in a fresh thread and returns its result (rethrowing its error). Afterwards
 * no blocking poll of the FFI poller is left outstanding: a test file's worker must not
 * end with an FFI call still running on a helper thread.
 */
export async function inThread<R>(fn: () => R | PromiseLike<R>): Promise<Awaited<R>> {
  try {
    return await (spawn({ name: "test" }, fn).join() as Promise<Awaited<R>>);
  } finally {
    await quiesceFfiPoller();
  }
}

/** A small seeded PRNG (mulberry32), so randomized tests replay exactly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
