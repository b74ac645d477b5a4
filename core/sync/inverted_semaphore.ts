/**
 * An inverted semaphore: counts work in flight and lets threads wait until it is zero.
 *
 * @module
 */

import { current, type Thread } from "../thread.ts";
import { checkCount } from "./semaphore.ts";
import { block, outsideThread, RESOLVED, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode InvertedSemaphore.statistics} reports. */
export interface InvertedSemaphoreStatistics {
  /** The current count. */
  value: number;
  /** Threads waiting for zero. */
  waiting: number;
}

/**
 * `acquire(n)` adds to the count and never blocks; `release(n)` subtracts, and when the
 * count reaches zero every thread in `blockTillZero()` wakes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvertedSemaphore, spawn } from "../../mod.ts";
 * const inFlight = new InvertedSemaphore();
 * inFlight.acquire(2);
 * const waiter = spawn(() => inFlight.blockTillZero());
 * spawn(() => inFlight.release(2));
 * await waiter.join();
 * assert.deepEqual(inFlight.value, 0);
 * ```
 */
export class InvertedSemaphore {
  #value: number;
  #waiters = new WaitQueue<Thread>();

  /**
   * Creates a {@linkcode InvertedSemaphore}.
   *
   * @param value the starting count (default 0)
   */
  constructor(value = 0) {
    checkCount("value", value, 0);
    this.#value = value;
  }

  /** The current count. */
  get value(): number {
    return this.#value;
  }

  /** Adds `n` to the count; never blocks. */
  acquire(n = 1): void {
    checkCount("n", n, 1);
    this.#value += n;
  }

  /**
   * Subtracts `n`; at zero, wakes every thread in `blockTillZero`.
   * @throws {RangeError} if the count would go below zero
   */
  release(n = 1): void {
    checkCount("n", n, 1);
    if (n > this.#value) {
      throw new RangeError(`release(${n}) would take the count ${this.#value} below zero`);
    }
    this.#value -= n;
    if (this.#value === 0) this.#waiters.wakeAll();
  }

  /**
   * Waits until the count is zero (returns at once if it is).
   *
   * Interruption point: an interrupted waiter leaves the line and throws; the count is
   * untouched.
   * @throws {NotInThreadError} outside any thread
   */
  blockTillZero(): Promise<void> {
    const me = current();
    if (me === null) return outsideThread("InvertedSemaphore.blockTillZero");
    if (this.#value === 0) return me._checkpoint() ?? RESOLVED;
    return block(this.#waiters, me, this, 0) as Promise<void>;
  }

  /** Count and number of waiters. */
  statistics(): InvertedSemaphoreStatistics {
    return { value: this.#value, waiting: this.#waiters.length };
  }

  /** `InvertedSemaphore(value=2, waiting=1)` */
  toString(): string {
    return `InvertedSemaphore(value=${this.#value}, waiting=${this.#waiters.length})`;
  }
}
