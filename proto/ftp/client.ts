/**
 * An FTP client (RFC 959, RFC 2428 extended passive, RFC 4217 explicit TLS) on shrapnel
 * sockets: listings, retrieval and storage as streams. Every call is an interruption
 * point (an interrupted transfer closes its data connection and aborts).
 *
 * @module
 */

import { familyHasInstance } from "../../core/_error_family.ts";
import { ProtocolError, ShrapnelError } from "../../core/errors.ts";
import { loadOnce } from "../_load_once.ts";
import type { FtpSession } from "./_client.ts";

/** The code, loaded by the first connect. */
const implementation = loadOnce(() => import("./_client.ts"), "the FTP client");

/** Where and as whom. */
export interface FtpOptions {
  /** Host (an address, or a name for the resolver). */
  host: string;
  /** Port (21). */
  port?: number;
  /** User ("anonymous"). */
  user?: string;
  /** Password ("anonymous@"). */
  password?: string;
  /** Explicit TLS (AUTH TLS, then protected data connections). */
  tls?: boolean;
  /** CAs to trust for TLS (PEM), beyond the system's. */
  caCerts?: string[];
  /** The name to check the certificate against (default: `host`). */
  tlsHostname?: string;
  /** Seconds a connect (control or data) may take (10); past it, `TimeoutError`. */
  connectTimeoutSeconds?: number;
  /** Seconds to wait for a reply on the control connection (30); past it, `TimeoutError`. */
  replyTimeoutSeconds?: number;
  /**
   * Seconds a data connection may stay silent (or not take our bytes) in a transfer
   * (30); past it the transfer is aborted with `TimeoutError`.
   */
  dataIdleSeconds?: number;
}

/** A reply: its code and text (the lines of a multi-line reply joined by "\n"). */
export interface FtpReply {
  /** The three-digit code. */
  code: number;
  /** The text after the code. */
  text: string;
}

/**
 * The server answered with an error (`code` is its reply code), or the connection closed
 * inside a reply (`code` 0). {@linkcode FtpProtocolError}, for a reply that is not FTP,
 * is one too: `instanceof FtpError` is true for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FtpError } from "./client.ts";
 * assert.deepEqual(new FtpError(550, "No such file").code, 550);
 * ```
 */
export class FtpError extends ShrapnelError {
  /** The reply code (0 when the reply itself was malformed). */
  readonly code: number;
  /**
   * Creates a {@linkcode FtpError}.
   *
   * @param code the reply code; @param text the reply text
   */
  constructor(code: number, text: string) {
    super(`${code} ${text}`);
    this.code = code;
  }

  /** True for an FtpError, and (asked of FtpError itself) for an {@linkcode FtpProtocolError}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return familyHasInstance(this, FtpError, [FtpProtocolError], value);
  }
}

/**
 * The server's reply was not FTP (no three-digit code, longer than 1000 lines, an EPSV or
 * PASV reply without a port): a `ProtocolError` of protocol "ftp", and an
 * {@linkcode FtpError} with `code` 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "../../core/errors.ts";
 * import { FtpError, FtpProtocolError } from "./client.ts";
 * const e = new FtpProtocolError('malformed reply "hello"');
 * assert.ok(e instanceof ProtocolError && e instanceof FtpError);
 * assert.deepEqual([e.protocol, e.code], ["ftp", 0]);
 * ```
 */
export class FtpProtocolError extends ProtocolError {
  /** Always 0: there was no valid reply code (as on an {@linkcode FtpError} of code 0). */
  readonly code: number = 0;
  /**
   * Makes the error.
   *
   * @param message what was wrong with the reply
   */
  constructor(message: string) {
    super("ftp", `0 ${message}`);
  }
}

/**
 * An FTP session.
 *
 * @example
 * ```ts ignore
 * const ftp = await FtpClient.connect({ host: "127.0.0.1", tls: true });
 * console.log(await ftp.list("/pub"));
 * await ftp.store("/upload/a.txt", new TextEncoder().encode("hi"));
 * await ftp.quit();
 * ```
 */
export class FtpClient {
  readonly #impl: FtpSession;

  private constructor(impl: FtpSession) {
    this.#impl = impl;
  }
  /**
   * Connects, upgrades to TLS if asked, and logs in. Interruption point.
   * @throws {FtpError} if the server refuses
   */
  static async connect(options: FtpOptions): Promise<FtpClient> {
    const { FtpSession } = await implementation();
    return new FtpClient(await FtpSession.connect(options));
  }

  /**
   * Reads one reply (multi-line ones whole). Interruption point.
   * @throws {FtpProtocolError} for a malformed reply
   * @throws {FtpError} with code 0 for a closed connection
   * @throws {TimeoutError} when the reply takes over `replyTimeoutSeconds` (30)
   */
  reply(): Promise<FtpReply> {
    return this.#impl.reply();
  }

  /** Sends a command and reads its reply. Interruption point. */
  command(line: string): Promise<FtpReply> {
    return this.#impl.command(line);
  }

  /** Names in a directory (NLST). Interruption point. */
  list(path = ""): Promise<string[]> {
    return this.#impl.list(path);
  }

  /** The long listing of a directory (LIST), one line per entry. Interruption point. */
  listDetails(path = ""): Promise<string[]> {
    return this.#impl.listDetails(path);
  }

  /**
   * Retrieves a file, handing each piece to `sink` as it comes (a stream: nothing is
   * held whole). Returns the bytes received, once the server confirmed the transfer
   * complete. Interruption point.
   * @throws {PeerLostError} ("ftp", "RETR") if the server went away mid-transfer: the
   *   pieces handed to `sink` are then not the whole file
   * @throws {FtpError} if the server reports the transfer failed (426, 451, 550...)
   */
  retrieve(path: string, sink: (piece: Uint8Array) => Promise<void> | void): Promise<number> {
    return this.#impl.retrieve(path, sink);
  }

  /** Retrieves a whole file. Interruption point. */
  retrieveBytes(path: string): Promise<Uint8Array> {
    return this.#impl.retrieveBytes(path);
  }

  /**
   * Stores a file from bytes or a stream of pieces. Returns the bytes sent.
   * Interruption point.
   */
  store(
    path: string,
    source: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<number> {
    return this.#impl.store(path, source);
  }

  /** The working directory. */
  pwd(): Promise<string> {
    return this.#impl.pwd();
  }

  /** Changes directory. */
  cwd(path: string): Promise<void> {
    return this.#impl.cwd(path);
  }

  /** Makes a directory. */
  mkdir(path: string): Promise<void> {
    return this.#impl.mkdir(path);
  }

  /** Deletes a file. */
  delete(path: string): Promise<void> {
    return this.#impl.delete(path);
  }

  /** Renames. */
  rename(from: string, to: string): Promise<void> {
    return this.#impl.rename(from, to);
  }

  /** A file's size (SIZE). */
  size(path: string): Promise<number> {
    return this.#impl.size(path);
  }

  /**
   * Ends the session (QUIT, then the socket). A connection that is already broken, or a
   * server that does not answer within `replyTimeoutSeconds`, just closes. Interruption
   * point: interrupted, the socket closes and the interrupt is thrown.
   */
  quit(): Promise<void> {
    return this.#impl.quit();
  }

  /** "ftp host:port" */
  toString(): string {
    return this.#impl.toString();
  }
}
