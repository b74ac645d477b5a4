/**
 * An event: a resettable flag that threads can wait on.
 *
 * @module
 */

import { current, type Thread } from "../thread.ts";
import { block, outsideThread, RESOLVED, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode Event.statistics} reports. */
export interface EventStatistics {
  /** Whether the flag is set. */
  isSet: boolean;
  /** Threads waiting. */
  waiting: number;
}

/**
 * A flag: `set()` wakes every waiter and lets later `wait()`s through until `clear()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Event, spawn } from "../../mod.ts";
 * const started = new Event();
 * const waiter = spawn(() => started.wait());
 * spawn(() => started.set());
 * await waiter.join();
 * assert.deepEqual(started.isSet, true);
 * ```
 */
export class Event {
  #set = false;
  #waiters = new WaitQueue<Thread>();

  /** Whether the flag is set. */
  get isSet(): boolean {
    return this.#set;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    this.#set = true;
    this.#waiters.wakeAll();
  }

  /** Clears the flag: later `wait()`s block until the next `set()`. */
  clear(): void {
    this.#set = false;
  }

  /**
   * Waits until the flag is set (returns at once if it is).
   *
   * Interruption point: an interrupted waiter leaves the line and throws.
   * @throws {NotInThreadError} outside any thread
   */
  wait(): Promise<void> {
    const me = current();
    if (me === null) return outsideThread("Event.wait");
    if (this.#set) return me._checkpoint() ?? RESOLVED;
    return block(this.#waiters, me, this, 0) as Promise<void>;
  }

  /** Flag and number of waiters. */
  statistics(): EventStatistics {
    return { isSet: this.#set, waiting: this.#waiters.length };
  }

  /** `Event(set=false, waiting=0)` */
  toString(): string {
    return `Event(set=${this.#set}, waiting=${this.#waiters.length})`;
  }
}
