/**
 * The implementation of ./client.ts's {@linkcode MysqlClient}, loaded by its first connect.
 *
 * @module
 */

import type * as Mysql2 from "mysql2";
import { Interrupted, ShrapnelError } from "../../core/errors.ts";
import { waitFor } from "../../core/wait_for.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { SocketDuplex } from "../../net/duplex.ts";
import { markPeerLost } from "../../net/errors.ts";
import { MysqlError, type MysqlOptions, MysqlProtocolError, type MysqlResult } from "./client.ts";
import { mysql2 } from "./_implementation.ts";

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

export type Outcome = [unknown, Mysql2.FieldPacket[] | undefined];

export function result<Row>([raw, fields]: Outcome): MysqlResult<Row> {
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
 * A MySQL/MariaDB connection.
 *
 * @example
 * ```ts ignore
 * const db = await MysqlClient.connect({ user: "app", password: "...", database: "shop" });
 * const { rows } = await db.query("SELECT ? + 1 AS n", [41]);
 * await db.close();
 * ```
 */
export class MysqlSession {
  readonly #connection: Mysql2.Connection;
  readonly #config: Mysql2.ConnectionOptions;
  readonly #maxResultBytes: number;
  #closed = false;
  /** Bytes the running call's answer brought so far. */
  #received = 0;
  #tooLarge = false;

  constructor(
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
  static async connect(options: MysqlOptions): Promise<MysqlSession> {
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
    return new MysqlSession(connection, config, options.maxResultBytes ?? 64 << 20);
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
  async prepare(sql: string): Promise<[Mysql2.PrepareStatementInfo, number]> {
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
    return [s, s.parameterCount];
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
