/**
 * Socket errors: every failure of a socket call is a typed {@linkcode SocketError}
 * carrying the errno name and the call that failed.
 *
 * @module
 */

import { ShrapnelError } from "../core/errors.ts";

/**
 * A socket call failed. `code` is the errno name ("ECONNRESET", "EMFILE", ...), `syscall`
 * the operation ("connect", "recv", ...).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketError } from "./errors.ts";
 * const e = SocketError.from("ECONNREFUSED", "connect");
 * assert.deepEqual([e instanceof SocketError, e.name, e.code], [true, "ConnectionRefusedError", "ECONNREFUSED"]);
 * ```
 */
export class SocketError extends ShrapnelError {
  /** The errno name, e.g. "ECONNRESET". */
  readonly code: string;
  /** The call that failed, e.g. "connect". */
  readonly syscall: string;

  /**
   * Creates a {@linkcode SocketError}.
   *
   * @param code the errno name
   * @param syscall the call that failed
   * @param detail extra words for the message (an address, a path)
   */
  constructor(code: string, syscall: string, detail = "") {
    super(`${syscall}${detail ? ` ${detail}` : ""}: ${code}`);
    this.code = code;
    this.syscall = syscall;
  }

  /** The most specific error class for `code`. */
  static from(code: string, syscall: string, detail = ""): SocketError {
    switch (code) {
      case "ECONNREFUSED":
        return new ConnectionRefusedError(code, syscall, detail);
      case "ECONNRESET":
      case "EPIPE":
      case "ECONNABORTED":
        return new ConnectionResetError(code, syscall, detail);
      case "EADDRINUSE":
        return new AddressInUseError(code, syscall, detail);
      case "EMFILE":
      case "ENFILE":
        return new TooManyOpenFilesError(code, syscall, detail);
      default:
        return new SocketError(code, syscall, detail);
    }
  }
}

/**
 * Nobody listens at the address (ECONNREFUSED).
 *
 * @example
 * ```ts
 * import { ConnectionRefusedError } from "./errors.ts";
 * console.log(new ConnectionRefusedError("ECONNREFUSED", "connect").code);
 * ```
 */
export class ConnectionRefusedError extends SocketError {}

/**
 * The peer reset the connection, or it is gone while we write (ECONNRESET, EPIPE,
 * ECONNABORTED).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionResetError } from "./errors.ts";
 * assert.deepEqual(new ConnectionResetError("EPIPE", "send").syscall, "send");
 * ```
 */
export class ConnectionResetError extends SocketError {}

/**
 * The local address is taken (EADDRINUSE).
 *
 * @example
 * ```ts
 * import { AddressInUseError } from "./errors.ts";
 * console.log(new AddressInUseError("EADDRINUSE", "bind").name);
 * ```
 */
export class AddressInUseError extends SocketError {}

/**
 * The process (EMFILE) or system (ENFILE) has no file descriptor left.
 *
 * @example
 * ```ts
 * import { TooManyOpenFilesError } from "./errors.ts";
 * console.log(new TooManyOpenFilesError("EMFILE", "accept").code);
 * ```
 */
export class TooManyOpenFilesError extends SocketError {}

/**
 * The peer closed the stream before `recvExact` got all it asked for; `partial` holds what
 * did arrive, so nothing is lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EOFError } from "./errors.ts";
 * const e = new EOFError(new Uint8Array([1, 2]), 4);
 * assert.deepEqual([e.partial.length, e.wanted], [2, 4]);
 * ```
 */
export class EOFError extends ShrapnelError {
  /** The bytes received before the end of the stream. */
  readonly partial: Uint8Array;
  /** How many bytes were asked for. */
  readonly wanted: number;
  /**
   * Creates a {@linkcode EOFError}.
   *
   * @param partial the bytes received before the end
   * @param wanted how many bytes were asked for
   */
  constructor(partial: Uint8Array, wanted: number) {
    super(`end of stream after ${partial.length} of ${wanted} bytes`);
    this.partial = partial;
    this.wanted = wanted;
  }
}

/**
 * The socket backend in use cannot do this (for example wrapping a raw fd on the portable
 * backend, which only has Deno's own socket API).
 *
 * @example
 * ```ts
 * import { UnsupportedOperation } from "./errors.ts";
 * console.log(new UnsupportedOperation("fdSocket", "deno").message);
 * ```
 */
export class UnsupportedOperation extends ShrapnelError {
  /**
   * Creates a {@linkcode UnsupportedOperation}.
   *
   * @param operation what was asked
   * @param backend the backend that cannot do it
   * @param hint how to get it anyway
   */
  constructor(operation: string, backend: string, hint = "") {
    super(
      `${operation} is not supported by the ${backend} socket backend${hint ? `: ${hint}` : ""}`,
    );
  }
}
