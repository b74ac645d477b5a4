/**
 * What ends an exchange quietly: the line between an interruption of a connection (or
 * HTTP/2 stream) and a handler's own failure, drawn in one place for every handler kind.
 *
 * @module
 */

import { Interrupted, TimeoutError } from "../../core/errors.ts";
import { PeerTimeoutError } from "./errors.ts";

/**
 * Whether `error`, escaping a handler, interrupts its exchange (the connection or stream
 * ends with no reply and no report) rather than fails it (reported, answered): an
 * `Interrupted` that is not a `TimeoutError` (the server's close or its owner's
 * `Shutdown`, a stream reset, the client gone, an interrupt), or the server's own
 * deadline on the client ({@linkcode PeerTimeoutError}). Any other `TimeoutError` is the
 * handler's: its own `withTimeout` (which turns only its own expiry into one), a client's
 * deadline (`HttpTimeoutError`, `ConfirmTimeoutError`).
 */
export function interruptsExchange(error: unknown): boolean {
  return error instanceof Interrupted &&
    (!(error instanceof TimeoutError) || error instanceof PeerTimeoutError);
}
