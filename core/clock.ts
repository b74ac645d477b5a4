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
 * import assert from "node:assert/strict";
 * import { now } from "./clock.ts";
 * const start = now();
 * assert.deepEqual(now() - start >= 0, true);
 * ```
 */
export function now(): number {
  return read();
}

let read = (): number => performance.now() / 1000;

/**
 * @internal Replaces the clock's reading with a cheaper one of the same clock and
 * origin, in seconds (the FFI poller installs the shim's: a third of the cost of
 * `performance.now()`, which a sleep reads once). It must never read less than the
 * reading it replaces.
 */
export function _setClockSource(source: () => number): void {
  read = source;
}
