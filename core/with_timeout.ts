/**
 * `withTimeout`: a deadline around any call, by interrupting the calling thread.
 *
 * @module
 */

import { now } from "./clock.ts";
import { Interrupted, TimeoutError } from "./errors.ts";
import { scheduler, Timer } from "./scheduler.ts";
import { currentFor, type Thread } from "./thread.ts";
import { _groupMark, _shutdownGroupsSince } from "./thread_group.ts";

/**
 * The interruption a `withTimeout` frame raises in its thread when its deadline passes.
 * It is not a {@linkcode TimeoutError}: only the frame that set the timer turns it into
 * one, so an outer deadline passes through inner `catch (TimeoutError)` handlers.
 */
export class TimeoutExpired extends Interrupted {
  /** @internal The timer of the frame this expiry belongs to. */
  readonly timer: Timer;
  /** @internal */
  constructor(timer: Timer) {
    super("a withTimeout deadline expired");
    this.timer = timer;
  }
}

/** A frame's deadline: its thread, and which groups were made before the frame began. */
class FrameTimer extends Timer {
  readonly groupMark: number;
  constructor(deadline: number, thread: Thread) {
    super(deadline, expire, thread);
    this.groupMark = _groupMark();
  }
}

function expire(timer: Timer): void {
  const thread = timer.target as Thread;
  if (thread.dead) return;
  thread.raise(new TimeoutExpired(timer));
  _shutdownGroupsSince(thread, (timer as FrameTimer).groupMark);
}

/**
 * Runs `fn(...args)` in the calling thread with a deadline `seconds` from now (negative
 * counts as 0: the first blocking call times out; `Infinity` never expires; any length
 * works, past the host timer's 24.8 days too). If the deadline passes first, the thread
 * is interrupted at its blocking point and this throws {@linkcode TimeoutError}. If `fn`
 * never blocks it runs to completion.
 *
 * Threads: the {@linkcode ThreadGroup}s made inside `fn` by this thread are shut down
 * when the deadline passes (their children get `Shutdown`), so a group's `join()` there
 * waits for them and the timeout then propagates. Detached threads (plain `spawn`) are
 * not cancelled.
 *
 * Nesting: each frame converts only its own expiry; an outer expiry passes through inner
 * frames (and their `catch (e) { if (e instanceof TimeoutError) ... }`) unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, spawn, TimeoutError, withTimeout } from "./mod.ts";
 * const result = await spawn(async () => {
 *   try { await withTimeout(0.01, sleep, 10); } catch (e) { return e instanceof TimeoutError; }
 * }).join();
 * assert.deepEqual(result, true);
 * ```
 * @throws {TimeoutError} when the deadline passes first
 * @throws {RangeError} if `seconds` is NaN
 * @throws {NotInThreadError} outside any thread
 */
export async function withTimeout<A extends unknown[], R>(
  seconds: number,
  fn: (...args: A) => R | PromiseLike<R>,
  ...args: A
): Promise<R> {
  if (seconds !== seconds) throw new RangeError("withTimeout(NaN): seconds must be a number");
  const thread = currentFor("withTimeout");
  const delay = seconds > 0 ? seconds : 0;
  const timer = new FrameTimer(now() + delay, thread);
  scheduler.addTimer(timer);
  try {
    return await fn(...args);
  } catch (e) {
    if (e instanceof TimeoutExpired && e.timer === timer) throw new TimeoutError(seconds);
    throw e;
  } finally {
    scheduler.removeTimer(timer);
    // The deadline may have passed after fn's last blocking point: drop that expiry, or
    // it would hit an unrelated call later.
    thread._cancelPending((e) => e instanceof TimeoutExpired && e.timer === timer);
  }
}
