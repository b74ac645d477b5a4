/**
 * PostgreSQL through npm:pg (chosen: the complete, maintained protocol implementation,
 * SCRAM and md5 included) running over shrapnel sockets via {@linkcode SocketDuplex}; COPY
 * through npm:pg-copy-streams (pg's own COPY support). Every call is an interruption
 * point: an interrupted query is cancelled on the server (a CancelRequest), not just
 * abandoned.
 *
 * @module
 */

// The client's code, npm:pg and npm:pg-copy-streams load on the first connect, not with
// this module.
import { ProtocolError, ShrapnelError } from "../../core/errors.ts";
import { implementation } from "./_implementation.ts";
import type { PostgresSession } from "./_client.ts";

/** The code, loaded by the first connect. */

/** Where and as whom to connect. */
export interface PostgresOptions {
  /** Host name or address ("127.0.0.1"). */
  host?: string;
  /** Port (5432). */
  port?: number;
  /** User name. */
  user: string;
  /** Password (SCRAM-SHA-256 or md5, as the server asks). */
  password?: string;
  /** Database (the user's name). */
  database?: string;
  /**
   * Seconds an interrupted query's cancel may take (1): sending the CancelRequest and
   * waiting for the server to end the query. Past it (a frozen or unreachable server) the
   * connection is closed and the interrupt delivered anyway.
   */
  cancelGraceSeconds?: number;
}

/** A query's result. */
export interface QueryResult<Row = Record<string, unknown>> {
  /** The rows. */
  rows: Row[];
  /** Rows affected or returned. */
  rowCount: number;
  /** The command ("SELECT", "INSERT"...). */
  command: string;
  /** Column names. */
  fields: string[];
}

/** A NOTIFY received. */
export interface Notification {
  /** The channel. */
  channel: string;
  /** The payload. */
  payload: string;
  /** The notifying backend's process id. */
  processId: number;
}

/**
 * The server reported an error; `code` is its SQLSTATE ("42P01" undefined table,
 * "57014" query cancelled...).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PostgresError } from "./client.ts";
 * assert.equal(new PostgresError("42P01", "relation does not exist").code, "42P01");
 * ```
 */
export class PostgresError extends ShrapnelError {
  /** SQLSTATE code. */
  readonly code: string;
  /**
   * Creates a {@linkcode PostgresError}.
   *
   * @param code SQLSTATE; @param message the server's message
   */
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The connection broke or the peer did not speak the protocol (a closed socket, a
 * malformed message): a `ProtocolError` of protocol "postgres".
 *
 * @example
 * ```ts
 * import { PostgresProtocolError } from "./client.ts";
 * console.log(new PostgresProtocolError("Connection terminated unexpectedly").name);
 * ```
 */
export class PostgresProtocolError extends ProtocolError {
  /**
   * Makes the error, of protocol "postgres".
   *
   * @param message what was wrong
   * @param options its cause
   */
  constructor(message?: string, options?: ErrorOptions) {
    super("postgres", message, options);
  }
}

/**
 * A PostgreSQL connection.
 *
 * @example
 * ```ts ignore
 * const db = await PostgresClient.connect({ host: "127.0.0.1", user: "app", password: "..." });
 * const { rows } = await db.query("SELECT $1::int + 1 AS n", [41]);
 * await db.close();
 * ```
 */
export class PostgresClient {
  readonly #impl: PostgresSession;

  private constructor(impl: PostgresSession) {
    this.#impl = impl;
  }
  /**
   * Connects and logs in. Interruption point (the half-open connection is closed).
   * @throws {PostgresError} if the server refuses the login (28P01 bad password...)
   */
  static async connect(options: PostgresOptions): Promise<PostgresClient> {
    const { PostgresSession } = await implementation();
    return new PostgresClient(await PostgresSession.connect(options));
  }

  /** Whether the connection is known to be unusable (lost, or closed after a cancel). */
  get broken(): boolean {
    return this.#impl.broken;
  }

  /** Closes the socket at once, without a goodbye (the server rolls back what was open). */
  destroy(): void {
    return this.#impl.destroy();
  }

  /** The server process serving this connection. */
  get processId(): number {
    return this.#impl.processId;
  }

  /**
   * Runs a query: simple when there are no parameters, extended (parse, bind, execute)
   * with them.
   *
   * Interruption point: the query is cancelled on the server (a CancelRequest), and the
   * interrupt thrown once the server has ended it, or after `cancelGraceSeconds` (1) at
   * most: then the connection is closed (a frozen server cannot hold the caller) and
   * later calls throw {@linkcode PostgresProtocolError}.
   * @throws {PostgresError} what the server reports
   * @throws {PostgresProtocolError} when the connection broke (then also a
   *   {@linkcode PeerLostError}) or was closed by a cancel
   *   that did not finish in time
   */
  query<Row = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<QueryResult<Row>> {
    return this.#impl.query(text, params);
  }

  /**
   * Asks the server to cancel what this connection is running (a CancelRequest on a
   * connection of its own, as the protocol wants).
   */
  cancel(): Promise<void> {
    return this.#impl.cancel();
  }

  /**
   * COPY ... FROM STDIN: sends the pieces (text or bytes, in the COPY format). Returns the
   * rows copied. Interruption point.
   * @throws {PeerLostError} (operation "copyIn") if the server went away mid-copy
   */
  copyIn(
    sql: string,
    pieces: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  ): Promise<number> {
    return this.#impl.copyIn(sql, pieces);
  }

  /**
   * COPY ... TO STDOUT: all the data, as text. Interruption point.
   * @throws {PeerLostError} (operation "copyOut") if the server went away mid-copy
   */
  copyOut(sql: string): Promise<string> {
    return this.#impl.copyOut(sql);
  }

  /** LISTEN on `channel`. */
  listen(channel: string): Promise<void> {
    return this.#impl.listen(channel);
  }

  /** NOTIFY `channel` with `payload`. */
  notify(channel: string, payload = ""): Promise<void> {
    return this.#impl.notify(channel, payload);
  }

  /** Blocks until a notification arrives. Interruption point. */
  notification(): Promise<Notification> {
    return this.#impl.notification();
  }

  /**
   * Closes the connection (a Terminate message, then the socket). A connection that is
   * already broken just goes. Interruption point: interrupted, the socket is closed at
   * once and the interrupt thrown.
   */
  close(): Promise<void> {
    return this.#impl.close();
  }
}
