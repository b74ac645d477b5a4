/**
 * `waitFor`: make any promise an interruption point.
 *
 * @module
 */

import { currentFor } from "./thread.ts";

const FULFILLED = 1, REJECTED = 2;

/**
 * Blocks the current thread until `promise` settles and returns its value (or throws its
 * reason). Use it around foreign promises (fetch, Deno APIs) so that `withTimeout` and
 * `interrupt` reach them.
 *
 * Interruption point: when interrupted the thread stops waiting and throws the error;
 * the promise itself is left to settle on its own (its outcome is then ignored).
 *
 * @example
 * ```ts
 * import { spawn, waitFor } from "./mod.ts";
 * console.log(await spawn(() => waitFor(Promise.resolve(7))).join()); // 7
 * ```
 * @throws {NotInThreadError} outside any thread
 */
export async function waitFor<T>(promise: PromiseLike<T>, reason = "promise"): Promise<T> {
  const thread = currentFor("waitFor");
  let state = 0, outcome: unknown;
  const resumed = thread._suspend(reason);
  promise.then(
    (v) => {
      if (state !== 0) return;
      state = FULFILLED;
      outcome = v;
      thread._wake(undefined);
    },
    (e) => {
      if (state !== 0) return;
      state = REJECTED;
      outcome = e;
      thread._wake(undefined);
    },
  );
  try {
    thread._check(await resumed);
  } finally {
    if (state === 0) state = -1; // interrupted: a later settlement must not wake us
  }
  if (state === REJECTED) throw outcome;
  return outcome as T;
}
