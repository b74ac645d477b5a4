/**
 * `waitFor`: make any promise an interruption point.
 *
 * @module
 */

import { NotInThreadError } from "./errors.ts";
import { current, type Thread } from "./thread.ts";
import type { Wait } from "./sync/wait_queue.ts";

/** Relays a foreign promise's outcome to the waiting thread, unless the wait ended. */
class PromiseWait implements Wait {
  #thread: Thread | null;
  readonly _reason: string;
  constructor(thread: Thread, reason: string) {
    this.#thread = thread;
    this._reason = reason;
  }
  fulfilled(value: unknown): void {
    const t = this.#thread;
    this.#thread = null;
    t?._wake({ ok: true, value });
  }
  rejected(error: unknown): void {
    const t = this.#thread;
    this.#thread = null;
    t?._wake({ ok: false, error });
  }
  _interrupted(): void {
    this.#thread = null; // a later settlement must not wake the thread
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function unwrap<T>(s: unknown): T {
  const settled = s as Settled<T>;
  if (settled.ok) return settled.value;
  throw settled.error;
}

/**
 * Blocks the current thread until `promise` settles and returns its value (or throws its
 * reason). Use it around foreign promises (fetch, Deno APIs) so that `withTimeout` and
 * `interrupt` reach them.
 *
 * Interruption point: when interrupted the thread stops waiting and throws the error;
 * the promise itself is left to settle on its own (its outcome is then ignored).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn, waitFor } from "./mod.ts";
 * assert.deepEqual(await spawn(() => waitFor(Promise.resolve(7))).join(), 7);
 * ```
 * @throws {NotInThreadError} outside any thread
 */
export function waitFor<T>(promise: PromiseLike<T>, reason = "promise"): Promise<T> {
  const thread = current();
  if (thread === null) return Promise.reject(new NotInThreadError("waitFor"));
  const wait = new PromiseWait(thread, reason);
  const resumed = thread._suspend(wait);
  promise.then((v) => wait.fulfilled(v), (e) => wait.rejected(e));
  return resumed.then(unwrap<T>);
}
