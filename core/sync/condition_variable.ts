/**
 * A condition variable whose waits return the value given to the wake.
 *
 * @module
 */

import { current, type Thread } from "../thread.ts";
import { block, outsideThread, type Waiter, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode ConditionVariable.statistics} reports. */
export interface ConditionVariableStatistics {
  /** Threads waiting. */
  waiting: number;
}

/** Marks a waiter woken by wakeOne/wakeN, whose turn passes on if it is interrupted. */
const COUNTED = 1;

/**
 * Threads `wait()` until another thread wakes them, receiving the value passed to the
 * wake. A wake with nobody waiting is lost (use a {@linkcode Latch} or an
 * {@linkcode Event} for a sticky signal).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConditionVariable, spawn } from "../../mod.ts";
 * const cv = new ConditionVariable<string>();
 * const waiter = spawn(() => cv.wait());
 * await spawn(() => { cv.wakeOne("go"); }).join();
 * assert.deepEqual(await waiter.join(), "go");
 * ```
 */
export class ConditionVariable<T = unknown> {
  #waiters = new WaitQueue<Thread>();

  /**
   * Blocks until woken; returns the value given to the wake.
   *
   * Interruption point: an interrupted waiter leaves the line and throws. If a
   * `wakeOne`/`wakeN` had just chosen it, the wake passes on to the next waiter, so the
   * number of threads woken is kept.
   * @throws {NotInThreadError} outside any thread
   */
  wait(): Promise<T> {
    const me = current();
    if (me === null) return outsideThread("ConditionVariable.wait");
    return block(this.#waiters, me, this, 0, this.#abort) as Promise<T>;
  }

  /** Wakes the first waiter with `value`; returns whether there was one. */
  wakeOne(value?: T): boolean {
    return this.#wake(value, COUNTED) !== undefined;
  }

  /** Wakes up to `n` waiters, in order, with `value`; returns how many it woke. */
  wakeN(n: number, value?: T): number {
    let woken = 0;
    while (woken < n && this.#wake(value, COUNTED) !== undefined) woken++;
    return woken;
  }

  /** Wakes every waiter with `value`; returns how many it woke. */
  wakeAll(value?: T): number {
    let woken = 0;
    while (this.#wake(value, 0) !== undefined) woken++;
    return woken;
  }

  /** Raises `error` in every waiter (each `wait()` throws it); returns how many. */
  raiseAll(error: unknown): number {
    let raised = 0;
    for (;;) {
      const w = this.#waiters.first();
      if (w === undefined) return raised;
      this.#waiters.remove(w);
      w.thread.raise(error);
      raised++;
    }
  }

  /** Number of waiters. */
  statistics(): ConditionVariableStatistics {
    return { waiting: this.#waiters.length };
  }

  /** `ConditionVariable(waiting=3)` */
  toString(): string {
    return `ConditionVariable(waiting=${this.#waiters.length})`;
  }

  #wake(value: T | undefined, mark: number): Waiter<Thread> | undefined {
    const w = this.#waiters.wakeFirst(value);
    if (w !== undefined) w.mark = mark;
    return w;
  }

  #abort = (w: Waiter<Thread>): void => {
    if (w.granted && w.mark === COUNTED) this.#wake(w.value as T, COUNTED);
  };
}
