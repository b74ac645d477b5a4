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
import { Interrupted, ProtocolError, ShrapnelError } from "../../core/errors.ts";
import { waitFor } from "../../core/wait_for.ts";
import { awaitModule } from "../../core/_lazy_import.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { SocketDuplex } from "../../net/duplex.ts";
import { markPeerLost } from "../../net/errors.ts";

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

type Mysql2Module = typeof Mysql2;
let loaded: Mysql2Module | null = null;

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
  if (loaded !== null) return;
  // Begun outside any thread's async context, waited on as an interruption point (see
  // core/_lazy_import.ts); the module loader keeps one load for calls that overlap.
  const m = await awaitModule(() => import("mysql2"), "npm:mysql2");
  loaded = (m.default ?? m) as Mysql2Module;
}

/** mysql2, loaded on first use (an interruption point the first time only). */
async function mysql2(): Promise<Mysql2Module> {
  if (loaded === null) await loadMysql2();
  return loaded!;
}

/**
 * Marks `error` as a {@linkcode PeerLostError} when it says the server went away mid-call:
 * the connection was lost or reset, or the server killed it (1927) or is shutting down
 * (1053).
 */
function lost(error: unknown, what: string): unknown {
  if (
    (error instanceof MysqlProtocolError &&
      ["PROTOCOL_CONNECTION_LOST", "ECONNRESET", "EPIPE"].includes(error.reason)) ||
    (error instanceof MysqlError && (error.code === 1927 || error.code === 1053))
  ) {
    return markPeerLost(error, "mysql", what.replace(/^mysql /, ""));
  }
  return error;
}

function wrap(e: unknown): unknown {
  if (e instanceof ShrapnelError) return e;
  const err = e as { errno?: unknown; sqlState?: unknown; sqlMessage?: unknown; code?: unknown };
  if (typeof err?.errno === "number" && typeof err.sqlState === "string") {
    return new MysqlError(err.errno, err.sqlState, String(err.sqlMessage ?? ""));
  }
  if (e instanceof Error) {
    return new MysqlProtocolError(typeof err.code === "string" ? err.code : "", e.message);
  }
  return e;
}

/** Column types whose values are converted after mysql2 (see `typed`). */
const LONGLONG = 0x08;
const BINARY_CHARSET = 63;

type Converter = (value: unknown) => unknown;

const toBytes: Converter = (v) =>
  v instanceof Uint8Array ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
const toBigint: Converter = (v) => typeof v === "string" ? BigInt(v) : v;

/**
 * The values as this library gives them: BIGINT beyond 2^53 as a bigint (mysql2 gives a
 * string), binary strings as plain Uint8Arrays (mysql2 gives Buffers). The rest is
 * mysql2's (numbers, DECIMAL as exact text, dates as text, NULL as null).
 */
function typed<Row>(rows: Record<string, unknown>[], fields: Mysql2.FieldPacket[]): Row[] {
  const conversions: [string, Converter][] = [];
  for (const f of fields) {
    if (f.columnType === LONGLONG) conversions.push([f.name, toBigint]);
    else if (f.characterSet === BINARY_CHARSET) conversions.push([f.name, toBytes]);
  }
  if (conversions.length > 0) {
    for (const row of rows) {
      for (const [name, convert] of conversions) row[name] = convert(row[name]);
    }
  }
  return rows as Row[];
}

type Outcome = [unknown, Mysql2.FieldPacket[] | undefined];

function result<Row>([raw, fields]: Outcome): MysqlResult<Row> {
  if (Array.isArray(raw)) {
    // A CALL gives several result sets and a final OK: the first set is the answer.
    const nested = raw.length > 0 && Array.isArray(raw[0]);
    const rows = (nested ? raw[0] : raw) as Record<string, unknown>[];
    const columns = ((nested ? fields?.[0] : fields) ?? []) as Mysql2.FieldPacket[];
    return {
      rows: typed<Row>(rows, Array.isArray(columns) ? columns : []),
      columns: (Array.isArray(columns) ? columns : []).map((f) => f.name),
      affectedRows: 0,
      insertId: 0,
    };
  }
  const ok = raw as Mysql2.ResultSetHeader;
  return { rows: [], columns: [], affectedRows: ok.affectedRows, insertId: ok.insertId };
}

/** Seconds the clean-up of an interrupted query may take before the connection is dropped. */
const CANCEL_SECONDS = 10;

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
    ).then(result<Row>);
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
  readonly #connection: Mysql2.Connection;
  readonly #config: Mysql2.ConnectionOptions;
  readonly #maxResultBytes: number;
  #closed = false;
  /** Bytes the running call's answer brought so far. */
  #received = 0;
  #tooLarge = false;

  private constructor(
    connection: Mysql2.Connection,
    config: Mysql2.ConnectionOptions,
    maxResultBytes: number,
  ) {
    this.#connection = connection;
    this.#config = config;
    this.#maxResultBytes = maxResultBytes;
    // Counted where mysql2 reads (the TLS socket when there is one), after the login, and
    // before mysql2's parser sees the bytes.
    const stream = (connection as unknown as { stream: import("node:stream").Readable }).stream;
    stream.prependListener("data", (chunk: Uint8Array) => {
      this.#received += chunk.length;
      if (this.#received > this.#maxResultBytes && !this.#tooLarge) {
        this.#tooLarge = true;
        this.#closed = true;
        connection.destroy();
      }
    });
    // A broken connection is reported by the call that was running, or the next one.
    connection.on("error", () => {
      this.#closed = true;
    });
    connection.on("end", () => {
      this.#closed = true;
    });
  }

  /**
   * Connects, upgrades to TLS if asked, and logs in. Interruption point (the half-open
   * connection is closed).
   * @throws {MysqlError} if the server refuses the login (1045 access denied...)
   * @throws {MysqlProtocolError} if TLS fails or the peer is not a MySQL server
   * @throws {ConnectionRefusedError} if nobody listens there
   */
  static async connect(options: MysqlOptions): Promise<MysqlClient> {
    const mysql = await mysql2();
    const host = options.host ?? "127.0.0.1", port = options.port ?? 3306;
    const tls = options.tls === true ? {} : options.tls || null;
    const config: Mysql2.ConnectionOptions = {
      host,
      port,
      user: options.user,
      password: options.password,
      database: options.database,
      connectTimeout: (options.connectTimeout ?? 10) * 1000,
      // A server must not read our files (LOAD DATA LOCAL INFILE).
      flags: ["-LOCAL_FILES"],
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
      decimalNumbers: false,
      stream: () => new SocketDuplex().connect(port, host) as unknown as import("node:net").Socket,
      ssl: tls === null ? undefined : {
        ca: tls.caCerts,
        rejectUnauthorized: !tls.unverifiedCertificate,
        verifyIdentity: !tls.unverifiedCertificate,
      },
    };
    const connection = mysql.createConnection(config);
    try {
      await waitFor(
        new Promise<void>((resolve, reject) =>
          connection.connect((e) => e === null ? resolve() : reject(e))
        ),
        "mysql connect",
      );
    } catch (e) {
      connection.destroy();
      throw wrap(e);
    }
    return new MysqlClient(connection, config, options.maxResultBytes ?? 64 << 20);
  }

  /** The server's version string. */
  get serverVersion(): string {
    const handshake = (this.#connection as unknown as {
      _handshakePacket?: { serverVersion?: string };
    })._handshakePacket;
    return handshake?.serverVersion ?? "";
  }

  /** The connection id (the server's thread id, for KILL). */
  get connectionId(): number {
    return this.#connection.threadId ?? 0;
  }

  /** Whether the connection is closed (by `close`, the peer, or a failed clean-up). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * @internal Runs one mysql2 command. When interrupted, the server is told to stop it
   * (`KILL QUERY`) and the command is let settle, so that the connection is in step again;
   * if that fails the connection is dropped.
   */
  async _run(
    what: string,
    start: (done: (e: unknown, rows?: unknown, fields?: unknown) => void) => void,
    killable: boolean,
  ): Promise<Outcome> {
    if (this.#closed) throw new MysqlProtocolError("CLOSED", `${what} on a closed connection`);
    this.#received = 0;
    const pending = new Promise<Outcome>((resolve, reject) =>
      start((e, rows, fields) =>
        e ? reject(e) : resolve([rows, fields as Mysql2.FieldPacket[] | undefined])
      )
    );
    try {
      const outcome = await waitFor(pending, what);
      if (this.#tooLarge) throw new MysqlProtocolError("RESULT_TOO_LARGE", "");
      return outcome;
    } catch (e) {
      if (e instanceof Interrupted) {
        try {
          await withTimeout(CANCEL_SECONDS, async () => {
            if (killable) await this.cancel();
            // Only the query's end matters here: its outcome (after KILL QUERY, the error
            // "query execution was interrupted") is superseded by the interrupt thrown below.
            await waitFor(pending.then(settledAnyway, settledAnyway), `${what} (cancelled)`);
          });
        } catch {
          this.#connection.destroy(); // out of step with the server: unusable
          this.#closed = true;
        }
        throw e;
      }
      if (this.#tooLarge) {
        throw new MysqlProtocolError(
          "RESULT_TOO_LARGE",
          `${what}: the answer passed maxResultBytes (${this.#maxResultBytes}); connection closed`,
        );
      }
      throw lost(wrap(e), what);
    }
  }

  /**
   * Runs `sql`; `?` placeholders take `params`, escaped on our side (use `prepare` for
   * server-side parameters).
   *
   * Interruption point: the query is stopped on the server (`KILL QUERY` from a
   * connection of its own), the connection stays usable, and the interruption is thrown.
   * @throws {MysqlError} what the server reports
   */
  async query<Row = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<MysqlResult<Row>> {
    return result<Row>(
      await this._run(
        "mysql query",
        (done) => this.#connection.query(sql, params ?? [], (e, r, f) => done(e, r, f)),
        true,
      ),
    );
  }

  /**
   * Prepares a statement with `?` parameters. Interruption point (the preparation is let
   * finish, then the error thrown).
   * @throws {MysqlError} if the server rejects the SQL
   */
  async prepare(sql: string): Promise<MysqlStatement> {
    let statement: Mysql2.PrepareStatementInfo | null = null;
    await this._run(
      "mysql prepare",
      (done) =>
        this.#connection.prepare(sql, (e, s) => {
          statement = s;
          done(e);
        }),
      false,
    );
    const s = statement! as Mysql2.PrepareStatementInfo & { parameterCount: number };
    return new MysqlStatement(this, s, s.parameterCount);
  }

  /** Pings the server. Interruption point. */
  async ping(): Promise<void> {
    await this._run("mysql ping", (done) => this.#connection.ping((e) => done(e)), false);
  }

  /**
   * Asks the server to stop what this connection is running (`KILL QUERY` on a connection
   * of its own, with the same login). Interruption point.
   * @throws {MysqlError} if the server refuses (a user without the right to kill)
   */
  async cancel(): Promise<void> {
    const mysql = await mysql2();
    const side = mysql.createConnection({ ...this.#config, database: undefined });
    try {
      await waitFor(
        new Promise<void>((resolve, reject) =>
          side.query("KILL QUERY ?", [this.connectionId], (e) => e ? reject(e) : resolve())
        ),
        "mysql kill query",
      );
    } catch (e) {
      throw wrap(e);
    } finally {
      side.destroy();
    }
  }

  /** Closes the socket at once, without a goodbye (the server rolls back what was open). */
  destroy(): void {
    this.#closed = true;
    this.#connection.destroy();
  }

  /** Says goodbye (COM_QUIT) and closes. Interruption point (the socket is closed anyway). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await waitFor(
        new Promise<void>((resolve) => this.#connection.end(() => resolve())),
        "mysql close",
      );
    } finally {
      this.#connection.destroy();
    }
  }
}

/** The end of a cancelled query, whichever way it ended (see `_run`'s interrupt path). */
function settledAnyway(): void {}
