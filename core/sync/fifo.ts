/**
 * An unbounded FIFO queue whose `pop` blocks until an item arrives.
 *
 * @module
 */

import { current, type Thread } from "../thread.ts";
import { Deque } from "./deque.ts";
import { block, outsideThread, type Waiter, WaitQueue } from "./wait_queue.ts";

/** What {@linkcode Fifo.statistics} reports. */
export interface FifoStatistics {
  /** Items queued. */
  length: number;
  /** Threads waiting to pop. */
  waiting: number;
}

const POP_ONE = 0, POP_ALL = 1;

/**
 * An unbounded first-in, first-out queue between threads. A pushed item goes straight to
 * the first waiting popper, if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fifo, spawn } from "../../mod.ts";
 * const jobs = new Fifo<number>();
 * const worker = spawn(async () => (await jobs.pop()) * 2);
 * jobs.push(21);
 * assert.deepEqual(await worker.join(), 42);
 * ```
 */
export class Fifo<T> implements AsyncIterable<T> {
  #items = new Deque<T>();
  #waiters = new WaitQueue<Thread>();

  /** Number of items queued. */
  get length(): number {
    return this.#items.length;
  }

  /** Appends `item`, or hands it to the first waiting popper. */
  push(item: T): void {
    if (!this.#handOver(item)) this.#items.push(item);
  }

  /** Puts `item` at the front, or hands it to the first waiting popper. */
  pushFront(item: T): void {
    if (!this.#handOver(item)) this.#items.unshift(item);
  }

  /**
   * The front item, without removing it.
   * @throws {RangeError} if the fifo is empty
   */
  top(): T {
    if (this.#items.length === 0) throw new RangeError("top() of an empty Fifo");
    return this.#items.peek() as T;
  }

  /**
   * Removes and returns the front item, waiting for one if the fifo is empty.
   *
   * Interruption point: an interrupted popper leaves the line and throws; if an item had
   * just been handed to it, the item goes back to the front, so nothing is lost.
   * @throws {NotInThreadError} outside any thread
   */
  pop(): Promise<T> {
    const me = current();
    if (me === null) return outsideThread("Fifo.pop");
    if (this.#items.length > 0) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.pop());
      return Promise.resolve(this.#items.shift() as T);
    }
    return block(this.#waiters, me, this, POP_ONE, this.#abort) as Promise<T>;
  }

  /**
   * Removes and returns every item, waiting until there is at least one.
   *
   * Interruption point: as {@linkcode Fifo.pop}; items handed over go back to the front
   * in their order.
   * @throws {NotInThreadError} outside any thread
   */
  popAll(): Promise<T[]> {
    const me = current();
    if (me === null) return outsideThread("Fifo.popAll");
    if (this.#items.length > 0) {
      const checkpoint = me._checkpoint();
      if (checkpoint !== undefined) return checkpoint.then(() => this.popAll());
      return Promise.resolve(this.#items.drain());
    }
    return block(this.#waiters, me, this, POP_ALL, this.#abort) as Promise<T[]>;
  }

  /** Items and waiters. */
  statistics(): FifoStatistics {
    return { length: this.#items.length, waiting: this.#waiters.length };
  }

  /** `Fifo(length=0, waiting=2)` */
  toString(): string {
    return `Fifo(length=${this.#items.length}, waiting=${this.#waiters.length})`;
  }

  /** Pops forever: `for await (const item of fifo)`. Each step is an interruption point. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.pop();
  }

  #handOver(item: T): boolean {
    for (;;) {
      const w = this.#waiters.first();
      if (w === undefined) return false;
      if (this.#waiters.wake(w, w.arg === POP_ALL ? [item] : item)) return true;
    }
  }

  #abort = (w: Waiter<Thread>): void => {
    if (!w.granted) return;
    if (w.arg === POP_ALL) {
      const items = w.value as T[];
      for (let i = items.length - 1; i >= 0; i--) this.pushFront(items[i]);
    } else {
      this.pushFront(w.value as T);
    }
  };
}
