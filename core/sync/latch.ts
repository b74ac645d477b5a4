/**
 * A latch: a one-shot, sticky signal carrying a value.
 *
 * @module
 */

import { current, type Thread } from "../thread.ts";
import { block, outsideThread, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode Latch.statistics} reports. */
export interface LatchStatistics {
  /** Whether it has been released. */
  released: boolean;
  /** Threads waiting. */
  waiting: number;
}

/**
 * A condition with a sticky "done" flag: `release(value)` wakes every waiter, and every
 * later `wait()` returns the same value at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Latch, spawn } from "../../mod.ts";
 * const ready = new Latch<string>();
 * const waiter = spawn(() => ready.wait());
 * spawn(() => ready.release("up"));
 * assert.deepEqual([await waiter.join(), ready.released], ["up", true]);
 * ```
 */
export class Latch<T = void> {
  #released = false;
  #value: T | undefined = undefined;
  #waiters = new WaitQueue<Thread>();

  /** Whether `release` has been called. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Releases the latch with `value`, waking every waiter. Later calls do nothing and
   * return false.
   */
  release(value?: T): boolean {
    if (this.#released) return false;
    this.#released = true;
    this.#value = value;
    this.#waiters.wakeAll(value);
    return true;
  }

  /**
   * Waits for `release`, returning its value (at once if already released).
   *
   * Interruption point: an interrupted waiter leaves the line and throws.
   * @throws {NotInThreadError} outside any thread
   */
  wait(): Promise<T> {
    const me = current();
    if (me === null) return outsideThread("Latch.wait");
    if (this.#released) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.wait());
      return Promise.resolve(this.#value as T);
    }
    return block(this.#waiters, me, this, 0) as Promise<T>;
  }

  /** Released flag and number of waiters. */
  statistics(): LatchStatistics {
    return { released: this.#released, waiting: this.#waiters.length };
  }

  /** `Latch(released=false, waiting=1)` */
  toString(): string {
    return `Latch(released=${this.#released}, waiting=${this.#waiters.length})`;
  }
}
