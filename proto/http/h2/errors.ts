/**
 * HTTP/2 errors: a connection error (ends the connection with GOAWAY), a stream reset by
 * the peer (interrupts that stream's thread), a stream refused or cut by us.
 *
 * @module
 */

import { Interrupted } from "../../../core/errors.ts";
import { HttpProtocolError } from "../errors.ts";

const ERROR_NAMES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

/**
 * The name of an HTTP/2 error code ("PROTOCOL_ERROR"), or "0x.." for an unknown one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorName } from "./errors.ts";
 * assert.equal(errorName(0xb), "ENHANCE_YOUR_CALM");
 * ```
 */
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/**
 * An HTTP/2 connection error with its error code (RFC 9113 section 7): the connection
 * ends with a GOAWAY carrying `code`. Also raised by a client whose peer sent GOAWAY with
 * an error. A `ProtocolError` of protocol "http2".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Http2Error } from "./errors.ts";
 * const e = new Http2Error(0x9, "bad index");
 * assert.deepEqual([e.code, e.codeName], [9, "COMPRESSION_ERROR"]);
 * ```
 */
export class Http2Error extends HttpProtocolError {
  /** The HTTP/2 error code. */
  readonly code: number;
  /**
   * Makes the error.
   * @param code the error code
   * @param message what happened
   */
  constructor(code: number, message: string) {
    super(`${errorName(code)}: ${message}`, 400, "http2");
    this.code = code;
  }

  /** The error code's name ("PROTOCOL_ERROR"). */
  get codeName(): string {
    return errorName(this.code);
  }
}

/**
 * A stream-level error (RFC 9113 section 5.4.2): that stream is reset with `code`, the
 * connection goes on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Http2StreamError } from "./errors.ts";
 * assert.deepEqual(new Http2StreamError(0x1, "bad pseudo-header").code, 1);
 * ```
 */
export class Http2StreamError extends Http2Error {}

/**
 * The peer reset the stream (RST_STREAM), or the connection went away under it: raised in
 * the stream's thread at its blocking point (a handler reading the body or sending the
 * reply). It is an {@linkcode Interrupted}: handlers that clean up on interruption clean
 * up on it too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StreamResetError } from "./errors.ts";
 * const e = new StreamResetError(0x8);
 * assert.deepEqual([e.code, e.message], [8, "stream reset by the peer: CANCEL"]);
 * ```
 */
export class StreamResetError extends Interrupted {
  /** The RST_STREAM error code. */
  readonly code: number;
  /**
   * Makes the error.
   * @param code the RST_STREAM error code
   * @param message what happened
   */
  constructor(code: number, message = `stream reset by the peer: ${errorName(code)}`) {
    super(message);
    this.code = code;
  }
}
