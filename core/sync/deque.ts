/**
 * A growable ring buffer: O(1) push and pop at both ends.
 *
 * @module
 */

/**
 * Double-ended queue on a ring buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Deque } from "./deque.ts";
 * const d = new Deque<number>();
 * d.push(2); d.unshift(1);
 * assert.deepEqual([d.shift(), d.shift(), d.length], [1, 2, 0]);
 * ```
 */
export class Deque<T> {
  #buf: (T | undefined)[] = new Array(8);
  #head = 0;
  #length = 0;

  /** Number of items. */
  get length(): number {
    return this.#length;
  }

  /** Appends at the back. */
  push(item: T): void {
    if (this.#length === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#length) & (this.#buf.length - 1)] = item;
    this.#length++;
  }

  /** Inserts at the front. */
  unshift(item: T): void {
    if (this.#length === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#buf.length - 1);
    this.#buf[this.#head] = item;
    this.#length++;
  }

  /** Removes and returns the front item (undefined if empty). */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#length--;
    return item;
  }

  /** The front item without removing it (undefined if empty). */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#buf[this.#head];
  }

  /** Removes and returns every item, front first. */
  drain(): T[] {
    const out = new Array<T>(this.#length);
    for (let i = 0; i < out.length; i++) out[i] = this.shift() as T;
    return out;
  }

  #grow(): void {
    const old = this.#buf, n = old.length;
    const buf = new Array<T | undefined>(n * 2);
    for (let i = 0; i < this.#length; i++) buf[i] = old[(this.#head + i) & (n - 1)];
    this.#buf = buf;
    this.#head = 0;
  }
}
