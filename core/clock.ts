/**
 * The monotonic clock that sleeps and timeouts are measured on.
 *
 * @module
 */

/**
 * Seconds on a monotonic clock (not the wall clock): the time base of `sleepUntil` and
 * of every deadline in shrapnel.
 *
 * @example
 * ```ts
 * import { now } from "./clock.ts";
 * const start = now();
 * console.log(now() - start >= 0); // true
 * ```
 */
export function now(): number {
  return performance.now() / 1000;
}
