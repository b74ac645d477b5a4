/**
 * A pool of PostgreSQL connections: bounded, health-checked, dead connections replaced,
 * safe calls retried once on a fresh connection.
 *
 * @module
 */

import { implementation } from "./_implementation.ts";
import { type PoolDriver, PoolTimeoutError, SqlPool, type SqlPoolOptions } from "../_sql_pool.ts";
import {
  PostgresClient,
  PostgresError,
  type PostgresOptions,
  PostgresProtocolError,
  type QueryResult,
} from "./client.ts";

export { PoolTimeoutError, type SqlPoolOptions };

/** Options of a {@linkcode PostgresPool}: where to connect, and the pool's limits. */
export type PostgresPoolOptions = PostgresOptions & SqlPoolOptions;

/** Options of one {@linkcode PostgresPool.query}. */
export interface PoolQueryOptions {
  /**
   * Whether running the statement twice does no harm. Default: true for a plain read
   * (`SELECT`, `SHOW`, `VALUES`, `TABLE`, without `FOR UPDATE`/`FOR SHARE` or `INTO`),
   * false for anything else.
   */
  idempotent?: boolean;
}

/**
 * Whether `sql` reads only, by its first word: SELECT (not SELECT ... INTO or FOR
 * UPDATE/SHARE), SHOW, VALUES, TABLE. A read calling a function that writes is the
 * caller's to mark `idempotent: false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { looksLikeRead } from "./pool.ts";
 * assert.equal(looksLikeRead("SELECT 1"), true);
 * assert.equal(looksLikeRead("SELECT * FROM t FOR UPDATE"), false);
 * assert.equal(looksLikeRead("INSERT INTO t VALUES (1)"), false);
 * ```
 */
export function looksLikeRead(sql: string): boolean {
  const text = sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, "");
  if (!/^(select|show|values|table)\b/i.test(text)) return false;
  return !/\b(into|for\s+(update|share|no\s+key\s+update|key\s+share))\b/i.test(text);
}

/**
 * The session is gone: the connection broke, or the server ended it (57P01 terminated by
 * an administrator or a fast shutdown, 57P02 crash shutdown).
 */
function lostConnection(e: unknown): boolean {
  return e instanceof PostgresProtocolError ||
    (e instanceof PostgresError && (e.code === "57P01" || e.code === "57P02"));
}

const driver = (options: PostgresOptions): PoolDriver<PostgresClient> => ({
  connect: () => PostgresClient.connect(options),
  isDead: (c) => c.broken,
  ping: async (c) => {
    await c.query("SELECT 1");
  },
  close: (c) => c.close(),
  destroy: (c) => c.destroy(),
  isLost: lostConnection,
});

/**
 * A pool of {@linkcode PostgresClient}s, opened as needed up to `maxSize` (10).
 *
 * - A connection handed out is healthy as far as can be known without a round trip (one
 *   the server ended while it sat idle, by `pg_terminate_backend` or a restart, is
 *   replaced), and pinged first when it sat idle over `pingAfterIdle` (30 s).
 * - {@linkcode PostgresPool.query} runs outside any transaction; if the connection turns
 *   out lost during it ({@linkcode PostgresProtocolError}, or the server's 57P01/57P02
 *   "terminating connection"), the statement is run once more
 *   on a fresh connection when that is safe: a read, or marked `idempotent`. Otherwise the
 *   error is thrown: the statement may or may not have run.
 * - {@linkcode PostgresPool.transaction} is never retried: the caller decides.
 * - A caller waits at most `acquireTimeout` (10 s) for a connection, then
 *   {@linkcode PoolTimeoutError}.
 *
 * Interruption points: every method. Interrupted while waiting for a connection, nothing
 * is taken; interrupted in a query, the client cancels it (see
 * {@linkcode PostgresClient.query}) and the connection is closed rather than reused;
 * interrupted in a transaction, the connection is closed, which rolls it back.
 *
 * @example
 * ```ts ignore
 * const pool = new PostgresPool({ user: "app", password: "...", maxSize: 4 });
 * const { rows } = await pool.query("SELECT 1 AS n");
 * console.log(rows[0].n); // 1
 * await pool.close();
 * ```
 */
export class PostgresPool {
  readonly #pool: SqlPool<PostgresClient>;

  /** Makes the pool; it connects on first use. @param options login and limits */
  constructor(options: PostgresPoolOptions) {
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
   * @throws {PostgresError} what the server reports
   * @throws {PostgresProtocolError} if the connection was lost and a retry was not safe (or
   *   failed too)
   */
  query<Row = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    options: PoolQueryOptions = {},
  ): Promise<QueryResult<Row>> {
    const safe = options.idempotent ?? looksLikeRead(text);
    return this.#pool.run((c) => c.query<Row>(text, params), safe);
  }

  /**
   * Runs `fn` in a transaction (BEGIN, then COMMIT, or ROLLBACK if `fn` throws), on one
   * connection. Never retried. Interruption point.
   * @throws {PoolTimeoutError} if no connection became free in time
   */
  transaction<T>(fn: (client: PostgresClient) => Promise<T>): Promise<T> {
    return this.#pool.run(async (c) => {
      await c.query("BEGIN");
      let result: T;
      try {
        result = await fn(c);
      } catch (e) {
        if (!c.broken) await c.query("ROLLBACK");
        throw e;
      }
      await c.query("COMMIT");
      return result;
    }, false);
  }

  /**
   * Runs `fn` with a connection of its own (for LISTEN, COPY, session settings), given
   * back after. Never retried. Interruption point.
   */
  withConnection<T>(fn: (client: PostgresClient) => Promise<T>): Promise<T> {
    return this.#pool.run(fn, false);
  }

  /** Closes the idle connections; those in use close when given back. Interruption point. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}
