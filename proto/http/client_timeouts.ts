/**
 * The HTTP client's default deadlines: one error type for them, and the idle deadline of a
 * response body's reads (armed by `BodyReader` around each wait for the peer).
 *
 * @module
 */

import { now } from "../../core/clock.ts";
import { TimeoutError } from "../../core/errors.ts";
import { scheduler, Timer } from "../../core/scheduler.ts";
import { currentFor, type Thread } from "../../core/thread.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import type { PeerDeadline } from "./body.ts";

/** Which of the client's deadlines passed. */
export type HttpClientPhase = "connect" | "head" | "body" | "request";

/**
 * An HTTP client deadline passed: `phase` says which ("connect", "head": the request sent
 * and the response's head received, "body": a read of the body waited that long for the
 * next bytes, "request": the whole request with its redirects). A {@linkcode TimeoutError},
 * so code that catches those catches these.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpTimeoutError } from "./mod.ts";
 * const e = new HttpTimeoutError("head", 30, "http://127.0.0.1/");
 * assert.deepEqual([e.phase, e.seconds], ["head", 30]);
 * ```
 */
export class HttpTimeoutError extends TimeoutError {
  /** Which deadline passed. */
  readonly phase: HttpClientPhase;
  /** The URL asked for. */
  readonly url: string;
  /**
   * Makes the error for the deadline of `phase`, `seconds` long, that passed on `url`.
   * @param phase which deadline
   * @param seconds its length
   * @param url the URL asked for
   */
  constructor(phase: HttpClientPhase, seconds: number, url: string) {
    super(seconds);
    this.phase = phase;
    this.url = url;
    this.message = `${url}: no ${phase === "body" ? "body bytes" : phase} within ${seconds} s`;
  }
}

/** @internal Runs `fn` with a deadline of `seconds` (Infinity: none), its expiry an HttpTimeoutError. */
export async function within<R>(
  seconds: number,
  phase: HttpClientPhase,
  url: string,
  fn: () => Promise<R>,
): Promise<R> {
  if (seconds === Infinity) return await fn();
  try {
    return await withTimeout(seconds, fn);
  } catch (e) {
    // Only this frame's own expiry: an outer deadline passes through as it is.
    if (e instanceof TimeoutError && !(e instanceof HttpTimeoutError) && e.seconds === seconds) {
      throw new HttpTimeoutError(phase, seconds, url);
    }
    throw e;
  }
}

function expire(timer: Timer): void {
  const deadline = timer.target as BodyIdleDeadline;
  const thread = deadline.waiter;
  if (thread !== null && !thread.dead) thread.raise(deadline.error);
}

/**
 * @internal The idle deadline of a response body: each read that waits for the peer may wait
 * `seconds`, then throws {@linkcode HttpTimeoutError} ("body") in the reading thread.
 */
export class BodyIdleDeadline implements PeerDeadline {
  readonly seconds: number;
  readonly error: HttpTimeoutError;
  waiter: Thread | null = null;
  #timer: Timer | null = null;

  constructor(seconds: number, url: string) {
    this.seconds = seconds;
    this.error = new HttpTimeoutError("body", seconds, url);
  }

  arm(): void {
    this.waiter = currentFor("an HTTP response body read");
    this.#timer = new Timer(now() + this.seconds, expire, this);
    scheduler.addTimer(this.#timer);
  }

  disarm(): void {
    if (this.#timer !== null) scheduler.removeTimer(this.#timer);
    this.#timer = null;
    // Expired after the read's last blocking point: the error must not hit a later call.
    this.waiter?._cancelPending((e) => e === this.error);
    this.waiter = null;
  }

  readonly sent = (): void => this.disarm();

  readonly failed = (error: unknown): never => {
    this.disarm();
    throw error;
  };
  readonly lost = (error: unknown): unknown => error;
}
