/**
 * Sleeping and yielding. All sleepers share the scheduler's one timer heap.
 *
 * @module
 */

import { NotInThreadError } from "./errors.ts";
import { scheduler } from "./scheduler.ts";
import { sleepThread, sleepThreadFor } from "./sleep_timer.ts";
import { current } from "./thread.ts";

/**
 * Blocks the current thread until the monotonic clock (see `now()`) reaches `deadline`
 * (a deadline already past is `sleep(0)`; `Infinity` sleeps until interrupted).
 *
 * Interruption point: when interrupted the sleep ends at once, its timer is removed and
 * the interrupting error is thrown.
 *
 * @example
 * ```ts
 * import { now, sleepUntil, spawn } from "./mod.ts";
 * await spawn(async () => { await sleepUntil(now() + 0.01); }).join();
 * ```
 * @throws {RangeError} if `deadline` is NaN
 * @throws {NotInThreadError} outside any thread
 */
export function sleepUntil(deadline: number): Promise<void> {
  const thread = current();
  if (thread === null) return Promise.reject(new NotInThreadError("sleepUntil"));
  return sleepThread(thread, deadline);
}

/**
 * Blocks the current thread for `seconds`. `sleep(0)` lets due timers and every ready
 * thread run first, then resumes; a negative time (`sleep(-1)`) counts as 0; `Infinity`
 * sleeps until interrupted; any length works (deadlines past the host timer's limit of
 * 2^31 - 1 ms, about 24.8 days, are armed in steps).
 *
 * Interruption point: when interrupted the sleep ends at once and the error is thrown.
 *
 * @example
 * ```ts
 * import { sleep, spawn } from "./mod.ts";
 * await spawn(async () => { await sleep(0.01); }).join();
 * ```
 * @throws {RangeError} if `seconds` is NaN (the promise rejects)
 * @throws {NotInThreadError} outside any thread
 */
export function sleep(seconds: number): Promise<void> {
  const thread = current();
  if (thread === null) return Promise.reject(new NotInThreadError("sleep"));
  return sleepThreadFor(thread, seconds);
}

/**
 * Lets every other ready thread run, then resumes: a cheap switch (a microtask), not a
 * host timer. A thread that yields in a loop still lets timers and I/O in, because the
 * scheduler defers resumes to the next loop turn once a slice is used up.
 *
 * Interruption point: a pending interruption is thrown here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn, yieldSlice } from "./mod.ts";
 * const order: string[] = [];
 * const a = spawn(async () => { order.push("a1"); await yieldSlice(); order.push("a2"); });
 * const b = spawn(() => { order.push("b"); });
 * await a.join(); await b.join();
 * assert.equal(order.join(), "a1,b,a2");
 * ```
 * @throws {NotInThreadError} outside any thread
 */
export function yieldSlice(): Promise<void> {
  const thread = current();
  if (thread === null) return Promise.reject(new NotInThreadError("yieldSlice"));
  const resumed = thread._suspend(null);
  thread._requeue();
  return resumed as Promise<void>;
}

/**
 * Ends the current slice: wakes from now on wait in the ready queue for the next turn of
 * Deno's event loop, where due timers fire and I/O is polled. Call it in long bursts of
 * work that never block. A wake waiting there is still pending: an interrupt that comes
 * first replaces it, and the primitive that woke the thread passes its turn on.
 *
 * @example
 * ```ts
 * import { endSlice, spawn } from "./mod.ts";
 * await spawn(() => { endSlice(); }).join();
 * ```
 */
export function endSlice(): void {
  scheduler.endSlice();
}
