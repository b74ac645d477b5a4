/**
 * HTTP errors: a typed error per failure, carrying the status a server answers with.
 *
 * @module
 */

import { familyHasInstance } from "../../core/_error_family.ts";
import { ProtocolError, ShrapnelError, TimeoutError } from "../../core/errors.ts";

// The base of every protocol's "the peer sent garbage" error, also exported here: before
// it existed, this module's `ProtocolError` was HTTP's own (now HttpProtocolError, which
// extends it), and `instanceof ProtocolError` keeps matching HTTP's.
export { ProtocolError };

/**
 * An HTTP-level failure with the status code that describes it (400 malformed request,
 * 413 body too large, 431 headers too large, 505 version not supported...).
 * {@linkcode HttpProtocolError} (which extends `ProtocolError`) is one too:
 * `instanceof HttpError` is true for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpError } from "./errors.ts";
 * const e = new HttpError(431, "too many headers");
 * assert.deepEqual([e.status, e.message], [431, "too many headers"]);
 * ```
 */
export class HttpError extends ShrapnelError {
  /** The HTTP status code. */
  readonly status: number;
  /**
   * Creates a {@linkcode HttpError}.
   *
   * @param status the status code; @param message what went wrong
   */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }

  /** True for an HttpError, and (asked of HttpError itself) for an {@linkcode HttpProtocolError}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return familyHasInstance(this, HttpError, [HttpProtocolError], value);
  }
}

/**
 * The HTTP peer broke the protocol (a malformed head, a bad chunk, a body shorter than its
 * length): a `ProtocolError` of protocol "http" (or "http2" for {@linkcode Http2Error}),
 * and an {@linkcode HttpError} with its status: 400 (502 when a client meets a malformed
 * response).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "../../core/errors.ts";
 * import { HttpError, HttpProtocolError } from "./errors.ts";
 * const e = new HttpProtocolError("bad chunk size");
 * assert.deepEqual([e.status, e.protocol], [400, "http"]);
 * assert.ok(e instanceof ProtocolError && e instanceof HttpError);
 * ```
 */
export class HttpProtocolError extends ProtocolError {
  /** The HTTP status code. */
  readonly status: number;
  /**
   * Creates a {@linkcode HttpProtocolError}.
   *
   * @param message what was malformed
   * @param status 400 by default
   * @param protocol "http", or "http2" for HTTP/2's errors
   */
  constructor(message: string, status = 400, protocol: "http" | "http2" = "http") {
    super(protocol, message);
    this.status = status;
  }
}

/**
 * A body was larger than the limit in force (status 413).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BodyTooLargeError } from "./errors.ts";
 * assert.deepEqual(new BodyTooLargeError(1024).status, 413);
 * ```
 */
export class BodyTooLargeError extends HttpError {
  /** The limit, in bytes. */
  readonly limit: number;
  /**
   * Creates a {@linkcode BodyTooLargeError}.
   *
   * @param limit the limit in bytes
   */
  constructor(limit: number) {
    super(413, `body larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/** What an {@linkcode HttpServer}'s deadline on its client was waiting for. */
export type PeerWait = "idle" | "handshake" | "head" | "body" | "send";

/**
 * One of the server's own deadlines on its client passed: the client sent nothing more
 * of a body for `bodyTimeout`, or read none of a reply for `sendTimeout` (HTTP/2:
 * `stallTimeout`), or left its connection idle, its head or TLS handshake unfinished.
 * `waitingFor` says which. The server raises it in the connection's thread at the wait
 * (HTTP/1.1), or throws it from a stream's read or send (HTTP/2, whose stream is reset
 * with CANCEL). A {@linkcode TimeoutError}, so code that catches those catches it too.
 *
 * Escaping a handler, it ends the connection (HTTP/2: the stream) with no reply and no
 * report to `onError`: the client is at fault, and is not listening anyway. Any other
 * `TimeoutError` escaping a handler (its own `withTimeout`, a client's `HttpTimeoutError`)
 * is the handler's failure: reported and answered (see `HttpServer`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeoutError } from "../../core/errors.ts";
 * import { PeerTimeoutError } from "./errors.ts";
 * const e = new PeerTimeoutError(30, "body");
 * assert.ok(e instanceof TimeoutError);
 * assert.deepEqual([e.seconds, e.message], [30, "the client sent no body bytes for 30 s"]);
 * ```
 */
export class PeerTimeoutError extends TimeoutError {
  /** What the server was waiting for. */
  readonly waitingFor: PeerWait;
  /**
   * Makes the error for the server deadline that passed.
   *
   * @param seconds the deadline's length
   * @param waitingFor what the server waited for
   */
  constructor(seconds: number, waitingFor: PeerWait) {
    super(seconds);
    this.waitingFor = waitingFor;
    this.message = `the client ${PEER_WAITS[waitingFor]} for ${seconds} s`;
  }
}

const PEER_WAITS: Record<PeerWait, string> = {
  idle: "sent nothing",
  handshake: "did not finish its TLS handshake",
  head: "did not finish its request head",
  body: "sent no body bytes",
  send: "read none of the reply",
};

/**
 * The head (request line and headers) was too large or had too many fields (status 431).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HeadersTooLargeError } from "./errors.ts";
 * assert.deepEqual(new HeadersTooLargeError("head larger than 16384 bytes").status, 431);
 * ```
 */
export class HeadersTooLargeError extends HttpError {
  /**
   * Creates a {@linkcode HeadersTooLargeError}.
   *
   * @param message which limit was passed
   */
  constructor(message: string) {
    super(431, message);
  }
}

/**
 * A header field about to be sent is malformed: its name is not a token, or its value
 * holds CR, LF, NUL or another control character (which would split the message: an
 * injected field, a forged second response). Thrown where the field is set or the head
 * assembled, before any byte goes out. Not an {@linkcode HttpError}: it is the sender's
 * bug (a server answers 500 and reports it to `onError`).
 *
 * @example
 * ```ts
 * import { InvalidFieldError } from "./errors.ts";
 * const e = new InvalidFieldError("location", "value");
 * console.log(e.field, e.message); // location invalid value for header field "location"
 * ```
 */
export class InvalidFieldError extends ShrapnelError {
  /** The field's name (as given, cut to 64 characters and escaped). */
  readonly field: string;
  /**
   * Creates a {@linkcode InvalidFieldError}.
   *
   * @param field the field's name; @param part which part is malformed
   */
  constructor(field: string, part: "name" | "value" | "status" | "method") {
    const shown = JSON.stringify(field.slice(0, 64));
    super(
      part === "status" || part === "method"
        ? `invalid ${part} ${shown}`
        : `invalid ${part} for header field ${shown}`,
    );
    this.field = field.slice(0, 64);
  }
}

/**
 * A reply's Content-Length, set by the handler, disagrees with the body it sends (or is
 * not a single decimal number). Sending it as given would let the body's extra bytes be
 * read as the next response on the connection (a desynchronised, poisoned connection).
 * When the whole body is known before the head goes out, it is thrown before any byte is
 * sent (a server answers 500 and reports it to `onError`); when the body is streamed,
 * it is thrown by the `push`/`flush`/`done` that would pass the declared length, before
 * those bytes are sent, and the connection is closed. Not an {@linkcode HttpError}: it is
 * the sender's bug.
 *
 * @example
 * ```ts
 * import { ContentLengthError } from "./errors.ts";
 * const e = new ContentLengthError("4", 52);
 * console.log(e.declared, e.actual); // 4 52
 * ```
 */
export class ContentLengthError extends ShrapnelError {
  /** The Content-Length field's value as set (cut to 64 characters). */
  readonly declared: string;
  /** The body's length, or the bytes given so far when streaming. */
  readonly actual: number;
  /**
   * Makes the error.
   * @param declared the field's value
   * @param actual the body's length (so far)
   */
  constructor(declared: string, actual: number) {
    super(
      `the reply's content-length ${JSON.stringify(declared.slice(0, 64))} disagrees ` +
        `with its body (${actual} bytes${/^[0-9]+$/.test(declared) ? "" : ", or is not a number"})`,
    );
    this.declared = declared.slice(0, 64);
    this.actual = actual;
  }
}

/** Reason phrases of the common status codes. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
