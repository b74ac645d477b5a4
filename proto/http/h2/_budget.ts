/**
 * @internal The token bucket both HTTP/2 ends count a peer's frames with.
 * @module
 */

/**
 * A token bucket: `take()` false once more than `burst` were taken faster than `rate`/s.
 *
 * @example
 * ```ts
 * import { Budget } from "./_budget.ts";
 * import assert from "node:assert/strict";
 * const budget = new Budget(2, 0);
 * assert.ok(budget.take() && budget.take());
 * assert.ok(!budget.take());
 * ```
 */
export class Budget {
  #tokens: number;
  #at = performance.now();
  readonly #burst: number;
  readonly #rate: number;
  /**
   * Starts full.
   * @param burst tokens that may be taken at once
   * @param rate tokens that come back per second
   */
  constructor(burst: number, rate: number) {
    this.#tokens = this.#burst = burst;
    this.#rate = rate;
  }
  /** Takes a token: false if there was none (the peer went past its budget). */
  take(): boolean {
    const t = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (t - this.#at) * this.#rate / 1000);
    this.#at = t;
    return --this.#tokens >= 0;
  }
}
