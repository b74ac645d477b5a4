/**
 * `inParallel`: run calls in threads of their own and gather every outcome.
 *
 * @module
 */

import { InParallelError, type Outcome } from "./errors.ts";
import { spawn } from "./thread.ts";

/** A call for {@linkcode inParallel}: a function and its arguments. */
export type ParallelCall = readonly [
  fn: (...args: never[]) => unknown,
  args?: readonly unknown[],
];

/**
 * Runs each `[fn, args]` in a thread of its own and waits for all of them. Returns their
 * results in order, or throws {@linkcode InParallelError} with every item's outcome if
 * any failed.
 *
 * Interruption point (while joining): the interrupting error is thrown; the spawned
 * threads are not cancelled.
 *
 * @example
 * ```ts
 * import { inParallel, sleep, spawn } from "./mod.ts";
 * const r = await spawn(() =>
 *   inParallel([[async (x: number) => { await sleep(0.01); return x * 2; }, [21]], [() => "b"]])
 * ).join();
 * console.log(r); // [42, "b"]
 * ```
 */
export async function inParallel(calls: readonly ParallelCall[]): Promise<unknown[]> {
  const threads = calls.map(([fn, args]) => spawn(settle, fn, args ?? []));
  const outcomes: Outcome[] = [];
  for (const t of threads) outcomes.push(await t.join());
  if (outcomes.some((o) => !o.ok)) throw new InParallelError(outcomes);
  return outcomes.map((o) => (o as { value: unknown }).value);
}

/** Runs one call and captures its outcome, so a failure is collected, not reported. */
async function settle(fn: ParallelCall[0], args: readonly unknown[]): Promise<Outcome> {
  try {
    return { ok: true, value: await (fn as (...a: unknown[]) => unknown)(...args) };
  } catch (error) {
    return { ok: false, error };
  }
}
