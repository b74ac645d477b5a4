/**
 * `inParallel`: run calls in threads of their own and gather every outcome.
 *
 * @module
 */

import { InParallelError, type Outcome } from "./errors.ts";
import { ThreadGroup } from "./thread_group.ts";

/** A call for {@linkcode inParallel}: a function and its arguments. */
export type ParallelCall = readonly [
  fn: (...args: never[]) => unknown,
  args?: readonly unknown[],
];

/**
 * Runs each `[fn, args]` in a thread of its own and waits for all of them. Returns their
 * results in order, or throws {@linkcode InParallelError} with every item's outcome if
 * any failed (a failure does not stop the other calls). The threads are the children of
 * a {@linkcode ThreadGroup}: none outlives the call.
 *
 * Interruption point (while waiting): the calls still running are shut down
 * (`Shutdown` at their blocking points) and waited for, then the interrupting error is
 * thrown. A `withTimeout` around `inParallel` thus stops every call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inParallel, sleep, spawn } from "./mod.ts";
 * const r = await spawn(() =>
 *   inParallel([[async (x: number) => { await sleep(0.01); return x * 2; }, [21]], [() => "b"]])
 * ).join();
 * assert.deepEqual(r, [42, "b"]);
 * ```
 */
export async function inParallel(calls: readonly ParallelCall[]): Promise<unknown[]> {
  const outcomes: Outcome[] = new Array(calls.length);
  {
    await using group = new ThreadGroup({ name: "inParallel" });
    for (let i = 0; i < calls.length; i++) {
      const [fn, args] = calls[i];
      group.spawn({ name: fn.name || `inParallel-${i}` }, settle, fn, args ?? [], outcomes, i);
    }
  }
  if (outcomes.some((o) => !o.ok)) throw new InParallelError(outcomes);
  return outcomes.map((o) => (o as { value: unknown }).value);
}

/** Runs one call and records its outcome, so a failure is collected, not reported. */
async function settle(
  fn: ParallelCall[0],
  args: readonly unknown[],
  outcomes: Outcome[],
  i: number,
): Promise<void> {
  try {
    outcomes[i] = { ok: true, value: await (fn as (...a: unknown[]) => unknown)(...args) };
  } catch (error) {
    outcomes[i] = { ok: false, error };
  }
}
