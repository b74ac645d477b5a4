/**
 * Socket errors: every failure of a socket call is a typed {@linkcode SocketError}
 * carrying the errno name and the call that failed.
 *
 * @module
 */

import { familyHasInstance } from "../core/_error_family.ts";
import { ProtocolError, ShrapnelError } from "../core/errors.ts";

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

  /** True for a SocketError, and (asked of SocketError itself) for a {@linkcode TlsProtocolError}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return familyHasInstance(this, SocketError, [TlsProtocolError], value);
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
 * A TLS handshake failed: the peer's certificate was not trusted, the name did not
 * match, or no protocol version or ALPN protocol was common. {@linkcode TlsProtocolError}
 * (the peer sent what is not TLS) is one too: `instanceof TlsError` is true for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TlsError } from "./errors.ts";
 * assert.equal(new TlsError("ETLS", "handshake", "invalid peer certificate").code, "ETLS");
 * ```
 */
export class TlsError extends SocketError {
  /** True for a TlsError, and (asked of TlsError itself) for a {@linkcode TlsProtocolError}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return familyHasInstance(this, TlsError, [TlsProtocolError], value);
  }
}

/**
 * The TLS peer sent bytes that are not TLS, or TLS messages out of order (rustls's
 * "corrupt message", "peer misbehaved"): a `ProtocolError` of protocol "tls", and a
 * {@linkcode TlsError} and {@linkcode SocketError} (`code` "ETLS"), as TLS failures were.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "../core/errors.ts";
 * import { SocketError, TlsError, TlsProtocolError } from "./errors.ts";
 * const e = new TlsProtocolError("handshake", "received corrupt message of type InvalidContentType");
 * assert.ok(e instanceof ProtocolError && e instanceof TlsError && e instanceof SocketError);
 * assert.deepEqual([e.protocol, e.code, e.syscall], ["tls", "ETLS", "handshake"]);
 * ```
 */
export class TlsProtocolError extends ProtocolError {
  /** Always "ETLS", as on a {@linkcode TlsError}. */
  readonly code: string = "ETLS";
  /** The call that failed ("handshake", "recv"...). */
  readonly syscall: string;
  /**
   * Makes the error.
   *
   * @param syscall the call that failed
   * @param detail what the TLS layer said
   */
  constructor(syscall: string, detail: string) {
    super("tls", `${syscall} ${detail}: ETLS`);
    this.syscall = syscall;
  }
}

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
 * import { UnsupportedOperationError } from "./errors.ts";
 * console.log(new UnsupportedOperationError("fdSocket", "deno").message);
 * ```
 */
export class UnsupportedOperationError extends ShrapnelError {
  /**
   * Creates a {@linkcode UnsupportedOperationError}.
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

/** @deprecated Renamed {@linkcode UnsupportedOperationError} (every error class ends in "Error"). */
export const UnsupportedOperation: typeof UnsupportedOperationError = UnsupportedOperationError;
/** @deprecated Renamed {@linkcode UnsupportedOperationError} (every error class ends in "Error"). */
export type UnsupportedOperation = UnsupportedOperationError;

const PEER_LOST: unique symbol = Symbol.for("shrapnel.peerLost");

/** What a {@linkcode PeerLostError} carries: which client, in which call, and why. */
export interface PeerLost {
  /** The client: "postgres", "mysql", "ldap", "amqp", "ftp", "http". */
  readonly client: string;
  /** The call that was running: "query", "search", "publish", "retr"... */
  readonly operation: string;
  /** What the socket or the protocol library said (an EOF, a reset, a close message). */
  readonly cause: unknown;
}

/**
 * The server went away in the middle of a call: the connection was reset or closed
 * before the answer came. One type to catch across every client (Postgres, MySQL, LDAP,
 * AMQP, FTP, HTTP), carrying the client, the operation and the cause.
 *
 * Each client keeps throwing the type it threw before (`PostgresProtocolError`,
 * `MysqlProtocolError`, `EOFError`, `ConnectionResetError`...), so existing catches keep
 * working; those errors are marked, and `instanceof PeerLostError` is true for them, with
 * `client`, `operation` and `cause` set. Whether the call had an effect on the server is
 * unknown: retry only what is safe to run twice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EOFError, markPeerLost, PeerLostError } from "./errors.ts";
 * const e = markPeerLost(new EOFError(new Uint8Array(0), 2), "ldap", "search");
 * assert.ok(e instanceof PeerLostError);
 * assert.ok(e instanceof EOFError); // its own type, as before
 * assert.equal(e.client, "ldap");
 * assert.ok(new PeerLostError("http", "get", null) instanceof PeerLostError);
 * ```
 */
export class PeerLostError extends ShrapnelError implements PeerLost {
  /** The client. */
  readonly client: string;
  /** The call that was running. */
  readonly operation: string;
  /** What was seen. */
  declare readonly cause: unknown;

  /**
   * Makes the error (clients mostly mark their own with {@linkcode markPeerLost}).
   * @param client the client's name
   * @param operation the call
   * @param cause what was seen
   */
  constructor(client: string, operation: string, cause: unknown) {
    super(
      `${client} ${operation}: the server went away mid-call${
        cause instanceof Error ? ` (${cause.message})` : ""
      }`,
      { cause },
    );
    this.client = client;
    this.operation = operation;
    (this as unknown as Record<symbol, boolean>)[PEER_LOST] = true;
  }

  /** True for a PeerLostError and for any error marked by {@linkcode markPeerLost}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[PEER_LOST] === true;
  }
}

/**
 * Marks a client's own error as a {@linkcode PeerLostError} (the server went away during
 * `operation`), keeping its type; returns it. `cause` defaults to the error's own cause.
 *
 * @example
 * ```ts
 * import { markPeerLost, PeerLostError } from "./errors.ts";
 * const e = markPeerLost(new Error("Connection terminated"), "postgres", "query");
 * console.log(e instanceof PeerLostError, e.operation); // true query
 * ```
 */
export function markPeerLost<E extends object>(
  error: E,
  client: string,
  operation: string,
  cause?: unknown,
): E & PeerLost {
  const fields = error as unknown as Record<string | symbol, unknown>;
  if (fields[PEER_LOST] === true) return error as E & PeerLost;
  Object.defineProperty(error, "client", { value: client, enumerable: true });
  Object.defineProperty(error, "operation", { value: operation, enumerable: true });
  if (cause !== undefined && fields.cause === undefined) {
    Object.defineProperty(error, "cause", { value: cause, enumerable: false });
  }
  Object.defineProperty(error, PEER_LOST, { value: true });
  return error as E & PeerLost;
}
