/**
 * A re-entrant, FIFO-fair mutex with direct hand-off.
 *
 * @module
 */

import { LockError, NotInThreadError } from "../errors.ts";
import { current, type Thread } from "../thread.ts";
import { block, outsideThread, type Waiter, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode Mutex.statistics} reports. */
export interface MutexStatistics {
  /** Whether some thread owns the mutex. */
  locked: boolean;
  /** The owner's thread id, or null. */
  owner: number | null;
  /** How many times the owner has locked it (re-entrancy depth). */
  depth: number;
  /** Threads waiting to lock it. */
  waiting: number;
}

/**
 * A mutual-exclusion lock. Re-entrant for its owner (each `lock` needs its `unlock`);
 * `unlock` hands ownership straight to the first waiter, so no thread can barge in ahead
 * of those already queued.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mutex, spawn } from "../../mod.ts";
 * const m = new Mutex();
 * await spawn(async () => {
 *   using _held = await m.lock(); // unlocked at the end of the block
 *   console.log(m.hasLock()); // true
 * }).join();
 * assert.deepEqual(m.locked(), false);
 * ```
 */
export class Mutex {
  #owner: Thread | null = null;
  #depth = 0;
  #waiters = new WaitQueue<Thread>();
  #guard: Disposable = { [Symbol.dispose]: () => this.unlock() };
  #held: Promise<Disposable> = Promise.resolve(this.#guard);

  /**
   * Locks the mutex, waiting in line if another thread owns it. Returns a disposable
   * that unlocks it, for `using`.
   *
   * Interruption point: an interrupted waiter leaves the line; if ownership had just
   * been handed to it, it passes ownership on to the next waiter. Either way it does not
   * own the mutex when the error is thrown.
   * @throws {NotInThreadError} outside any thread
   */
  lock(): Promise<Disposable> {
    const me = current();
    if (me === null) return outsideThread("Mutex.lock");
    if (this.#owner === me || this.#owner === null) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.lock());
    }
    if (this.#owner === me) {
      this.#depth++;
      return this.#held;
    }
    if (this.#owner === null) {
      this.#owner = me;
      this.#depth = 1;
      return this.#held;
    }
    return block(this.#waiters, me, this, 0, this.#abort) as Promise<Disposable>;
  }

  /** Locks the mutex if nobody else owns it; returns whether the caller now owns it. */
  tryLock(): boolean {
    const me = current();
    if (me === null) throw new NotInThreadError("Mutex.tryLock");
    if (this.#owner === me) {
      this.#depth++;
      return true;
    }
    if (this.#owner !== null) return false;
    this.#owner = me;
    this.#depth = 1;
    return true;
  }

  /**
   * Undoes one `lock`; the last one hands the mutex to the first waiter.
   * @throws {LockError} if the caller does not own the mutex
   */
  unlock(): void {
    const me = current();
    if (this.#owner !== me || me === null) {
      throw new LockError(`${me ?? "code outside any thread"} does not own ${this}`);
    }
    if (--this.#depth === 0) this.#handOff();
  }

  /**
   * Runs `fn` holding the mutex and unlocks it afterwards, however `fn` ends.
   * Interruption point while waiting for the lock (see {@linkcode Mutex.lock}).
   */
  async withLock<R>(fn: () => R | PromiseLike<R>): Promise<R> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /** Whether some thread owns the mutex. */
  locked(): boolean {
    return this.#owner !== null;
  }

  /** Whether `thread` (default: the current thread) owns the mutex. */
  hasLock(thread: Thread | null = current()): boolean {
    return thread !== null && this.#owner === thread;
  }

  /** Owner, depth and number of waiters. */
  statistics(): MutexStatistics {
    return {
      locked: this.#owner !== null,
      owner: this.#owner?.id ?? null,
      depth: this.#depth,
      waiting: this.#waiters.length,
    };
  }

  /** `Mutex(owner=3, waiting=2)` */
  toString(): string {
    return `Mutex(owner=${this.#owner?.id ?? "none"}, waiting=${this.#waiters.length})`;
  }

  #handOff(): void {
    for (;;) {
      const next = this.#waiters.first();
      if (next === undefined) {
        this.#owner = null;
        this.#depth = 0;
        return;
      }
      this.#owner = next.thread;
      this.#depth = 1;
      if (this.#waiters.wake(next, this.#guard)) return;
    }
  }

  #abort = (w: Waiter<Thread>): void => {
    if (w.granted && this.#owner === w.thread) this.#handOff();
  };
}
