/** Test helpers: run a body in a thread, a seeded PRNG. */
import { quiesceFfiPoller, spawn } from "../mod.ts";
import { seededRandom } from "../core/random.ts";

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
export const prng: (seed: number) => () => number = seededRandom;
