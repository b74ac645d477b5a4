/**
 * What ends an exchange quietly: the line between an interruption of a connection (or
 * HTTP/2 stream) and a handler's own failure, drawn in one place for every handler kind.
 *
 * A socket error is only an interruption when it is the exchange's own: the server's
 * own operations on the client's connection (reading the request's body, sending the
 * reply, an HTTP/2 connection's writer, a server WebSocket's sends) mark the errors they
 * raise with {@linkcode markClientGone}, on their failure path only. The same error types
 * from anything else a handler does (its `HttpClient`, a Postgres or AMQP client) are
 * the handler's failure: reported, and answered 502.
 *
 * @module
 */

import { ClosedError, Interrupted, TimeoutError } from "../../core/errors.ts";
import { EOFError, PeerLostError, SocketError, TooManyOpenFilesError } from "../../net/errors.ts";
import { HttpTimeoutError } from "./client_timeouts.ts";
import { PeerTimeoutError } from "./errors.ts";

const CLIENT_GONE: unique symbol = Symbol("shrapnel.http.clientGone");

/**
 * Marks `error`, raised by an operation on the exchange's own connection, as its client
 * gone (a `SocketError`, `EOFError` or `ClosedError`; anything else is left as it is);
 * returns it.
 */
export function markClientGone<E>(error: E): E {
  if (
    (error instanceof SocketError || error instanceof EOFError || error instanceof ClosedError) &&
    (error as Record<symbol, unknown>)[CLIENT_GONE] !== true
  ) {
    Object.defineProperty(error, CLIENT_GONE, { value: true });
  }
  return error;
}

/**
 * Whether `error`, escaping a handler, interrupts its exchange (the connection or stream
 * ends with no reply and no report) rather than fails it (reported, answered): an error
 * of the exchange's own connection (marked by {@linkcode markClientGone}: the client
 * gone), an `Interrupted` that is not a `TimeoutError` (the server's close or its owner's
 * `Shutdown`, a stream reset, the client gone, an interrupt), or the server's own
 * deadline on the client ({@linkcode PeerTimeoutError}). Any other `TimeoutError` is the
 * handler's: its own `withTimeout` (which turns only its own expiry into one), a client's
 * deadline (`HttpTimeoutError`, `ConfirmTimeoutError`); so is any other socket error
 * (its own upstream's).
 */
export function interruptsExchange(error: unknown): boolean {
  if (error instanceof Interrupted) {
    return !(error instanceof TimeoutError) || error instanceof PeerTimeoutError;
  }
  return typeof error === "object" && error !== null &&
    (error as Record<symbol, unknown>)[CLIENT_GONE] === true;
}

/**
 * The status answering a handler's failure: 504 for an `HttpTimeoutError` (an upstream
 * HTTP server did not answer in time), 502 for an upstream connection's failure (a
 * `SocketError` but EMFILE/ENFILE, an `EOFError`, a `PeerLostError`: refused, reset,
 * closed mid-answer), 500 for anything else.
 */
export function failureStatus(error: unknown): number {
  if (error instanceof HttpTimeoutError) return 504;
  if (error instanceof PeerLostError || error instanceof EOFError) return 502;
  if (error instanceof SocketError && !(error instanceof TooManyOpenFilesError)) return 502;
  return 500;
}
