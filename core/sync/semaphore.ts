/**
 * A counting semaphore with FIFO waiters.
 *
 * @module
 */

import { current, type Thread } from "../thread.ts";
import { block, outsideThread, RESOLVED, type Waiter, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode Semaphore.statistics} reports. */
export interface SemaphoreStatistics {
  /** Units available now. */
  avail: number;
  /** Threads waiting to acquire. */
  waiting: number;
}

/**
 * A counting semaphore. Waiters are served in order: a large request at the head of
 * the line blocks smaller ones behind it, so it cannot be starved.
 *
 * @example
 * ```ts
 * import { Semaphore, spawn } from "../../mod.ts";
 * const slots = new Semaphore(2);
 * await spawn(async () => {
 *   await slots.acquire();
 *   console.log(slots.avail); // 1
 *   slots.release();
 * }).join();
 * ```
 */
export class Semaphore {
  #avail: number;
  #waiters = new WaitQueue<Thread>();

  /**
   * Creates a {@linkcode Semaphore}.
   *
   * @param avail the units available at first (a non-negative number)
   */
  constructor(avail: number) {
    checkCount("avail", avail, 0);
    this.#avail = avail;
  }

  /** Units available now. */
  get avail(): number {
    return this.#avail;
  }

  /**
   * Takes `n` units, waiting in line until they are available.
   *
   * Interruption point: an interrupted waiter leaves the line; if its units had just
   * been granted, it releases them again, so none are lost.
   * @throws {RangeError} if `n` is not a positive number
   * @throws {NotInThreadError} outside any thread
   */
  acquire(n = 1): Promise<void> {
    const bad = countError("n", n, 1);
    if (bad !== undefined) return Promise.reject(bad);
    const me = current();
    if (me === null) return outsideThread("Semaphore.acquire");
    if (this.#avail >= n && this.#waiters.first() === undefined) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.acquire(n));
      this.#avail -= n;
      return RESOLVED;
    }
    return block(this.#waiters, me, this, n, this.#abort) as Promise<void>;
  }

  /** Takes `n` units if they are available now and nobody waits; returns whether it did. */
  tryAcquire(n = 1): boolean {
    checkCount("n", n, 1);
    if (this.#avail < n || this.#waiters.first() !== undefined) return false;
    this.#avail -= n;
    return true;
  }

  /**
   * Gives back `n` units and wakes the waiters they now satisfy, in order.
   * @throws {RangeError} if `n` is not a positive number
   */
  release(n = 1): void {
    checkCount("n", n, 1);
    this.#avail += n;
    this.#grant();
  }

  /** Units available and number of waiters. */
  statistics(): SemaphoreStatistics {
    return { avail: this.#avail, waiting: this.#waiters.length };
  }

  /** `Semaphore(avail=1, waiting=0)` */
  toString(): string {
    return `Semaphore(avail=${this.#avail}, waiting=${this.#waiters.length})`;
  }

  #grant(): void {
    for (;;) {
      const w = this.#waiters.first();
      if (w === undefined || w.arg > this.#avail) return;
      if (this.#waiters.wake(w)) this.#avail -= w.arg;
    }
  }

  #abort = (w: Waiter<Thread>): void => {
    if (w.granted) this.#avail += w.arg;
    // Granted or not, the head of the line may have changed: serve whoever now fits.
    this.#grant();
  };
}

/** @internal The RangeError for a count that is not an integer >= `min`, if it is not. */
export function countError(what: string, n: number, min: number): RangeError | undefined {
  if (Number.isSafeInteger(n) && n >= min) return undefined;
  return new RangeError(`${what} must be an integer >= ${min}, got ${n}`);
}

/** @internal Throws {@linkcode countError}'s error, if any. */
export function checkCount(what: string, n: number, min: number): void {
  const bad = countError(what, n, min);
  if (bad !== undefined) throw bad;
}
