/**
 * A pool of MySQL/MariaDB connections: bounded, health-checked, dead connections
 * replaced, safe calls retried once on a fresh connection.
 *
 * @module
 */

import { implementation } from "./_implementation.ts";
import { type PoolDriver, PoolTimeoutError, SqlPool, type SqlPoolOptions } from "../_sql_pool.ts";
import {
  MysqlClient,
  MysqlError,
  type MysqlOptions,
  MysqlProtocolError,
  type MysqlResult,
} from "./client.ts";

export { PoolTimeoutError, type SqlPoolOptions };

/** Options of a {@linkcode MysqlPool}: where to connect, and the pool's limits. */
export type MysqlPoolOptions = MysqlOptions & SqlPoolOptions;

/** Options of one {@linkcode MysqlPool.query}. */
export interface PoolQueryOptions {
  /**
   * Whether running the statement twice does no harm. Default: true for a plain read
   * (`SELECT`, `SHOW`, `DESCRIBE`, `EXPLAIN`, without `FOR UPDATE`, `LOCK IN SHARE MODE` or
   * `INTO`), false for anything else.
   */
  idempotent?: boolean;
}

/**
 * Whether `sql` reads only, by its first word: SELECT (not SELECT ... INTO, FOR UPDATE or
 * LOCK IN SHARE MODE), SHOW, DESCRIBE, EXPLAIN. A read calling a function that writes is
 * the caller's to mark `idempotent: false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { looksLikeRead } from "./pool.ts";
 * assert.equal(looksLikeRead("SELECT 1"), true);
 * assert.equal(looksLikeRead("SELECT * FROM t FOR UPDATE"), false);
 * assert.equal(looksLikeRead("DELETE FROM t"), false);
 * ```
 */
export function looksLikeRead(sql: string): boolean {
  const text = sql.replace(/^(\s|--[^\n]*\n|#[^\n]*\n|\/\*[\s\S]*?\*\/)+/, "");
  if (!/^(select|show|describe|desc|explain)\b/i.test(text)) return false;
  return !/\b(into|for\s+update|lock\s+in\s+share\s+mode)\b/i.test(text);
}

const LOST_REASONS = new Set(["PROTOCOL_CONNECTION_LOST", "CLOSED", "ECONNRESET", "EPIPE"]);

/**
 * The session is gone: the connection broke, or the server ended it (1927 connection
 * killed, 1053 server shutdown, 4031 disconnected for inactivity).
 */
function lostConnection(e: unknown): boolean {
  if (e instanceof MysqlProtocolError) return LOST_REASONS.has(e.reason);
  return e instanceof MysqlError && (e.code === 1927 || e.code === 1053 || e.code === 4031);
}

const driver = (options: MysqlOptions): PoolDriver<MysqlClient> => ({
  connect: () => MysqlClient.connect(options),
  isDead: (c) => c.closed,
  ping: (c) => c.ping(),
  close: (c) => c.close(),
  destroy: (c) => c.destroy(),
  isLost: lostConnection,
});

/**
 * A pool of {@linkcode MysqlClient}s, opened as needed up to `maxSize` (10).
 *
 * - A connection handed out is healthy as far as can be known without a round trip (one
 *   the server closed while it sat idle, by `KILL` or a restart, is replaced), and pinged
 *   first when it sat idle over `pingAfterIdle` (30 s).
 * - {@linkcode MysqlPool.query} runs outside any transaction (autocommit); if the
 *   connection turns out lost during it, the statement is run once more on a fresh
 *   connection when that is safe: a read, or marked `idempotent`. Otherwise the error is
 *   thrown: the statement may or may not have run.
 * - {@linkcode MysqlPool.transaction} is never retried: the caller decides.
 * - A caller waits at most `acquireTimeout` (10 s) for a connection, then
 *   {@linkcode PoolTimeoutError}.
 *
 * Interruption points: every method. Interrupted while waiting for a connection, nothing
 * is taken; interrupted in a query, the client stops it (see {@linkcode MysqlClient.query})
 * and the connection is closed rather than reused; interrupted in a transaction, the
 * connection is closed, which rolls it back.
 *
 * @example
 * ```ts ignore
 * const pool = new MysqlPool({ user: "app", password: "...", maxSize: 4 });
 * const { rows } = await pool.query("SELECT 1 AS n");
 * console.log(rows[0].n); // 1
 * await pool.close();
 * ```
 */
export class MysqlPool {
  readonly #pool: SqlPool<MysqlClient>;

  /** Makes the pool; it connects on first use. @param options login and limits */
  constructor(options: MysqlPoolOptions) {
    implementation.begin();
    this.#pool = new SqlPool(driver(options), options);
  }

  /** Connections open (idle or in use). */
  get size(): number {
    return this.#pool.size;
  }

  /** Connections idle in the pool. */
  get idle(): number {
    return this.#pool.idle;
  }

  /** Dead connections found and replaced, and calls retried on a fresh one, since start. */
  get statistics(): { replaced: number; retried: number } {
    return { replaced: this.#pool.replaced, retried: this.#pool.retried };
  }

  /**
   * Runs one statement on a pooled connection (see the class notes for retries).
   * Interruption point.
   * @throws {PoolTimeoutError} if no connection became free in time
   * @throws {MysqlError} what the server reports
   * @throws {MysqlProtocolError} if the connection was lost and a retry was not safe (or
   *   failed too)
   */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options: PoolQueryOptions = {},
  ): Promise<MysqlResult<Row>> {
    const safe = options.idempotent ?? looksLikeRead(sql);
    return this.#pool.run((c) => c.query<Row>(sql, params), safe);
  }

  /**
   * Runs `fn` in a transaction (START TRANSACTION, then COMMIT, or ROLLBACK if `fn`
   * throws), on one connection. Never retried. Interruption point.
   * @throws {PoolTimeoutError} if no connection became free in time
   */
  transaction<T>(fn: (client: MysqlClient) => Promise<T>): Promise<T> {
    return this.#pool.run(async (c) => {
      await c.query("START TRANSACTION");
      let result: T;
      try {
        result = await fn(c);
      } catch (e) {
        if (!c.closed) await c.query("ROLLBACK");
        throw e;
      }
      await c.query("COMMIT");
      return result;
    }, false);
  }

  /**
   * Runs `fn` with a connection of its own (prepared statements, session settings), given
   * back after. Never retried. Interruption point.
   */
  withConnection<T>(fn: (client: MysqlClient) => Promise<T>): Promise<T> {
    return this.#pool.run(fn, false);
  }

  /** Closes the idle connections; those in use close when given back. Interruption point. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** @deprecated Renamed {@linkcode looksLikeRead} (the name Postgres's pool uses). */
export const looksLikeMysqlRead: typeof looksLikeRead = looksLikeRead;
/** @deprecated Renamed {@linkcode PoolQueryOptions} (the name Postgres's pool uses). */
export type MysqlPoolQueryOptions = PoolQueryOptions;
