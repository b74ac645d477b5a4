/**
 * MySQL/MariaDB through npm:mysql2 (the client everyone uses: every login method,
 * TLS, prepared statements, compression) running over shrapnel sockets via
 * {@linkcode SocketDuplex}. Every call is an interruption point: an interrupted query is
 * stopped on the server (`KILL QUERY` from a connection of its own) and the connection
 * stays usable.
 *
 * mysql2 is loaded at the first connect, so that importing the library does not load it.
 *
 * @module
 */

import type * as Mysql2 from "mysql2";
import { ProtocolError, ShrapnelError } from "../../core/errors.ts";

import { implementation, mysql2 } from "./_implementation.ts";
import type { MysqlSession, Outcome } from "./_client.ts";

/** The code, loaded by the first connect. */

/** TLS settings of {@linkcode MysqlOptions}. */
export interface MysqlTlsOptions {
  /** Extra trusted CA certificates (PEM), beside the system's. */
  caCerts?: string[];
  /**
   * Accept any certificate (encryption without authentication). Off by default: the
   * server's certificate is verified, and so is its name when `host` is a name.
   */
  unverifiedCertificate?: boolean;
}

/** Where and as whom. */
export interface MysqlOptions {
  /** Host ("127.0.0.1"). */
  host?: string;
  /** Port (3306). */
  port?: number;
  /** User. */
  user: string;
  /** Password. */
  password?: string;
  /** Database to use. */
  database?: string;
  /**
   * TLS: `true` (verified against the system's roots) or settings. When given, a server
   * without TLS is refused (no silent fallback to plain text).
   */
  tls?: boolean | MysqlTlsOptions;
  /** Seconds the login may take (10). */
  connectTimeout?: number;
  /**
   * Most bytes one call's answer may bring (64 MiB): a result beyond it closes the
   * connection with a MysqlProtocolError ("RESULT_TOO_LARGE"), so that a server cannot
   * make us hold more.
   */
  maxResultBytes?: number;
}

/** A query's outcome: rows for statements that return them, counts for the others. */
export interface MysqlResult<Row = Record<string, unknown>> {
  /** The rows (empty for statements without a result set). */
  rows: Row[];
  /** Column names. */
  columns: string[];
  /** Rows affected (INSERT, UPDATE, DELETE). */
  affectedRows: number;
  /** The last AUTO_INCREMENT id. */
  insertId: number;
}

/**
 * The server reported an error: `code` is its number (1146 no such table, 1045 access
 * denied, 1317 query interrupted...), `sqlState` the SQLSTATE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MysqlError } from "./client.ts";
 * const e = new MysqlError(1146, "42S02", "Table 'x' doesn't exist");
 * assert.equal(e.code, 1146);
 * assert.equal(e.sqlState, "42S02");
 * ```
 */
export class MysqlError extends ShrapnelError {
  /** Error number. */
  readonly code: number;
  /** SQLSTATE. */
  readonly sqlState: string;
  /**
   * Makes the error the server sent.
   * @param code the error number
   * @param sqlState the SQLSTATE
   * @param message the server's text
   */
  constructor(code: number, sqlState: string, message: string) {
    super(`${code} (${sqlState}): ${message}`);
    this.code = code;
    this.sqlState = sqlState;
  }
}

/**
 * The connection broke, the peer did not speak the protocol, or TLS failed (`reason` is
 * mysql2's or the TLS layer's code: "PROTOCOL_CONNECTION_LOST",
 * "HANDSHAKE_NO_SSL_SUPPORT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"...): a `ProtocolError` of
 * protocol "mysql".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MysqlProtocolError } from "./client.ts";
 * const e = new MysqlProtocolError("PROTOCOL_CONNECTION_LOST", "Connection lost");
 * assert.equal(e.reason, "PROTOCOL_CONNECTION_LOST");
 * ```
 */
export class MysqlProtocolError extends ProtocolError {
  /** mysql2's or the TLS layer's error code ("" when it gave none). */
  readonly reason: string;
  /**
   * Makes the error.
   * @param reason mysql2's or the TLS layer's code
   * @param message what happened
   */
  constructor(reason: string, message: string) {
    super("mysql", reason ? `${reason}: ${message}` : message);
    this.reason = reason;
  }
}

/**
 * Loads mysql2 now rather than at the first connect (a server may want it loaded at
 * startup, before its first request). Calling it again does nothing. The first call is an
 * interruption point inside a thread: interrupted, it throws the interrupt and the load
 * goes on, for the next call to find.
 *
 * @example
 * ```ts
 * import { loadMysql2 } from "./client.ts";
 * await loadMysql2();
 * ```
 */
export async function loadMysql2(): Promise<void> {
  await mysql2();
}

/**
 * A prepared statement (`?` parameters, the binary protocol both ways).
 *
 * @example
 * ```ts ignore
 * const insert = await db.prepare("INSERT INTO t (id, name) VALUES (?, ?)");
 * await insert.execute([1, "one"]);
 * await insert.close();
 * ```
 */
export class MysqlStatement {
  readonly #client: MysqlClient;
  readonly #statement: Mysql2.PrepareStatementInfo;
  /** Number of parameters. */
  readonly params: number;

  /** @internal */
  constructor(client: MysqlClient, statement: Mysql2.PrepareStatementInfo, params: number) {
    this.#client = client;
    this.#statement = statement;
    this.params = params;
  }

  /**
   * Executes with `values` for the parameters (numbers, bigints, strings, booleans,
   * Uint8Arrays, Dates, null).
   *
   * Interruption point: as {@linkcode MysqlClient.query}.
   * @throws {TypeError} if the number of values is not `params`
   * @throws {MysqlError} what the server reports
   */
  execute<Row = Record<string, unknown>>(values: unknown[] = []): Promise<MysqlResult<Row>> {
    if (values.length !== this.params) {
      return Promise.reject(
        new TypeError(`the statement has ${this.params} parameters, ${values.length} given`),
      );
    }
    return this.#client._run(
      "mysql execute",
      (done) => this.#statement.execute(values, (e, r, f) => done(e, r, f)),
      true,
    ).then((outcome) => implementation.loaded!.result<Row>(outcome));
  }

  /** Frees it on the server (no reply is awaited: the protocol sends none). */
  close(): Promise<void> {
    this.#statement.close();
    return Promise.resolve();
  }
}

/**
 * A MySQL/MariaDB connection.
 *
 * @example
 * ```ts ignore
 * const db = await MysqlClient.connect({ user: "app", password: "...", database: "shop" });
 * const { rows } = await db.query("SELECT ? + 1 AS n", [41]);
 * await db.close();
 * ```
 */
export class MysqlClient {
  readonly #impl: MysqlSession;

  private constructor(impl: MysqlSession) {
    this.#impl = impl;
  }
  /**
   * Connects, upgrades to TLS if asked, and logs in. Interruption point (the half-open
   * connection is closed).
   * @throws {MysqlError} if the server refuses the login (1045 access denied...)
   * @throws {MysqlProtocolError} if TLS fails or the peer is not a MySQL server
   * @throws {ConnectionRefusedError} if nobody listens there
   */
  static async connect(options: MysqlOptions): Promise<MysqlClient> {
    const { MysqlSession } = await implementation();
    return new MysqlClient(await MysqlSession.connect(options));
  }

  /** The server's version string. */
  get serverVersion(): string {
    return this.#impl.serverVersion;
  }

  /** The connection id (the server's thread id, for KILL). */
  get connectionId(): number {
    return this.#impl.connectionId;
  }

  /** Whether the connection is closed (by `close`, the peer, or a failed clean-up). */
  get closed(): boolean {
    return this.#impl.closed;
  }

  /**
   * @internal Runs one mysql2 command. When interrupted, the server is told to stop it
   * (`KILL QUERY`) and the command is let settle, so that the connection is in step again;
   * if that fails the connection is dropped.
   */
  _run(
    what: string,
    start: (done: (e: unknown, rows?: unknown, fields?: unknown) => void) => void,
    killable: boolean,
  ): Promise<Outcome> {
    return this.#impl._run(what, start, killable);
  }

  /**
   * Runs `sql`; `?` placeholders take `params`, escaped on our side (use `prepare` for
   * server-side parameters).
   *
   * Interruption point: the query is stopped on the server (`KILL QUERY` from a
   * connection of its own), the connection stays usable, and the interruption is thrown.
   * @throws {MysqlError} what the server reports
   */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<MysqlResult<Row>> {
    return this.#impl.query(sql, params);
  }

  /**
   * Prepares a statement with `?` parameters. Interruption point (the preparation is let
   * finish, then the error thrown).
   * @throws {MysqlError} if the server rejects the SQL
   */
  async prepare(sql: string): Promise<MysqlStatement> {
    const [statement, params] = await this.#impl.prepare(sql);
    return new MysqlStatement(this, statement, params);
  }

  /** Pings the server. Interruption point. */
  ping(): Promise<void> {
    return this.#impl.ping();
  }

  /**
   * Asks the server to stop what this connection is running (`KILL QUERY` on a connection
   * of its own, with the same login). Interruption point.
   * @throws {MysqlError} if the server refuses (a user without the right to kill)
   */
  cancel(): Promise<void> {
    return this.#impl.cancel();
  }

  /** Closes the socket at once, without a goodbye (the server rolls back what was open). */
  destroy(): void {
    return this.#impl.destroy();
  }

  /** Says goodbye (COM_QUIT) and closes. Interruption point (the socket is closed anyway). */
  close(): Promise<void> {
    return this.#impl.close();
  }
}
