/**
 * @internal The timer a sleeping thread waits on, shared by `sleep`, `sleepUntil` and
 * `Thread#sleep`.
 *
 * @module
 */

import { now } from "./clock.ts";
import { HeapTimer, scheduler } from "./scheduler.ts";
import type { Thread } from "./thread.ts";
import type { Wait } from "./sync/wait_queue.ts";

/** A sleeper's timer: it wakes the thread, or leaves the heap if the sleep is interrupted. */
class SleepTimer extends HeapTimer implements Wait {
  readonly thread: Thread;
  constructor(deadline: number, thread: Thread) {
    super(deadline);
    this.thread = thread;
  }
  // Off the heap, a sleep's deadline says how it ended: the clock reading it was fired
  // at, or NaN if it was interrupted (no field of its own: a sleeper stays small).
  fire(time: number): void {
    this.deadline = time;
    this.thread._wake(undefined);
  }
  _interrupted(): void {
    scheduler.removeTimer(this);
    this.deadline = NaN;
  }
  get _reason(): string {
    return "sleep";
  }
}

/**
 * @internal Blocks `thread` (the caller) until the clock reaches `deadline`. `duration`:
 * see `TimerHeap.add` (sleeps of one duration share a lane).
 */
export function sleepThread(thread: Thread, deadline: number, duration?: number): Promise<void> {
  if (deadline !== deadline) return Promise.reject(new RangeError("sleepUntil(NaN)"));
  // The thread's last sleep timer, if its last wait was a sleep, serves again: a thread
  // that sleeps in a loop makes one timer, not one per sleep. It is off the heap by now
  // (it fired, or the interrupted sleep removed it).
  const last = thread._lastWait;
  let timer: SleepTimer;
  if (last instanceof SleepTimer && !last.scheduled) {
    timer = last;
    timer.deadline = deadline;
  } else timer = new SleepTimer(deadline, thread);
  scheduler.addTimer(timer, duration);
  return thread._suspend(timer) as Promise<void>;
}

/**
 * @internal Blocks `thread` (the caller) for `seconds` (negative counts as 0), in the
 * lane of sleeps of that length.
 */
export function sleepThreadFor(thread: Thread, seconds: number): Promise<void> {
  if (seconds !== seconds) {
    return Promise.reject(new RangeError("sleep(NaN): seconds must be a number"));
  }
  const duration = seconds > 0 ? seconds : 0;
  return sleepThread(thread, now() + duration, duration);
}

/**
 * @internal When `thread` (the caller) was woken from its last blocking call, if that was
 * a sleep that ended on time: the clock reading with which the scheduler fired it (one
 * read for a whole batch of wakes). NaN if the thread has blocked on anything else since,
 * or its last sleep was interrupted: the caller then reads the clock itself.
 */
export function sleepEndedAt(thread: Thread): number {
  const last = thread._lastWait;
  return last instanceof SleepTimer && !last.scheduled ? last.deadline : NaN;
}
