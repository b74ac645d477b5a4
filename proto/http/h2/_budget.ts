/**
 * @internal The token bucket both HTTP/2 ends count a peer's frames with.
 * @module
 */

/** A token bucket: `take()` false once more than `burst` were taken faster than `rate`/s. */
export class Budget {
  #tokens: number;
  #at = performance.now();
  readonly #burst: number;
  readonly #rate: number;
  constructor(burst: number, rate: number) {
    this.#tokens = this.#burst = burst;
    this.#rate = rate;
  }
  take(): boolean {
    const t = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (t - this.#at) * this.#rate / 1000);
    this.#at = t;
    return --this.#tokens >= 0;
  }
}
