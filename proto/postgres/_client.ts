/**
 * The implementation of ./client.ts's {@linkcode PostgresClient}, loaded by its first connect.
 *
 * @module
 */

// npm:pg and npm:pg-copy-streams load on the first connect, not with this module.
// @ts-types="@types/pg"
import type pg from "pg";
// @ts-types="@types/pg-copy-streams"
import type * as PgCopyStreams from "pg-copy-streams";
import { Interrupted, ShrapnelError } from "../../core/errors.ts";
import { Fifo } from "../../core/sync/fifo.ts";
import { waitFor } from "../../core/wait_for.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { connectTo } from "../../net/constructors.ts";
import { SocketDuplex } from "../../net/duplex.ts";
import { markPeerLost } from "../../net/errors.ts";

import { awaitModule } from "../../core/_lazy_import.ts";
import { importNpm } from "../_npm.ts";
import {
  type Notification,
  PostgresError,
  type PostgresOptions,
  PostgresProtocolError,
  type QueryResult,
} from "./client.ts";

let pgModule: typeof pg | null = null;
let copyStreams: typeof PgCopyStreams | null = null;

/** Loads npm:pg and npm:pg-copy-streams once (a program without Postgres never does). */
async function loadPg(): Promise<typeof pg> {
  if (pgModule === null) {
    const [driver, copy] = await awaitModule(
      () =>
        Promise.all([
          importNpm<typeof pg & { default?: typeof pg }>("pg"),
          importNpm<typeof PgCopyStreams>("pg-copy-streams"),
        ]),
      "npm:pg",
    );
    pgModule = (driver.default ?? driver) as typeof pg;
    copyStreams = copy as typeof PgCopyStreams;
  }
  return pgModule;
}

/**
 * Marks `error` as a {@linkcode PeerLostError} when it says the server went away: the
 * stream ended or broke, or the server ended the session (57P01 terminated by an
 * administrator or a fast shutdown, 57P02 crash shutdown).
 */
function lost(error: unknown, operation: string): unknown {
  if (
    (error instanceof PostgresProtocolError &&
      /terminated|connection lost|ECONNRESET|EPIPE|end of stream/i.test(error.message)) ||
    (error instanceof PostgresError && (error.code === "57P01" || error.code === "57P02"))
  ) {
    return markPeerLost(error, "postgres", operation);
  }
  return error;
}

function wrap(e: unknown): unknown {
  const err = e as { code?: unknown; message?: string };
  if (typeof err?.code === "string" && /^[0-9A-Z]{5}$/.test(err.code)) {
    return new PostgresError(err.code, err.message ?? "");
  }
  // pg's own failures (a broken stream, a message it cannot parse) are plain Errors.
  if (e instanceof Error && !(e instanceof ShrapnelError)) {
    return new PostgresProtocolError(e.message);
  }
  return e;
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
export class PostgresSession {
  readonly #client: pg.Client;
  readonly #options: PostgresOptions;
  readonly #notifications = new Fifo<Notification>();
  /** Why the connection can no longer be used, once it cannot. */
  #broken: PostgresProtocolError | null = null;

  constructor(client: pg.Client, options: PostgresOptions) {
    this.#client = client;
    this.#options = options;
    client.on("notification", (n) => {
      this.#notifications.push({
        channel: n.channel,
        payload: n.payload ?? "",
        processId: n.processId,
      });
    });
    // pg emits "error" for a connection that breaks while idle; a call in flight gets the
    // same error as its own rejection. Keep it for the next call, which raises it.
    client.on("error", (e: Error) => {
      this.#broken ??= new PostgresProtocolError(`connection lost: ${e.message}`);
    });
  }

  /**
   * Connects and logs in. Interruption point (the half-open connection is closed).
   * @throws {PostgresError} if the server refuses the login (28P01 bad password...)
   */
  static async connect(options: PostgresOptions): Promise<PostgresSession> {
    const { Client } = await loadPg();
    const client = new Client({
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 5432,
      user: options.user,
      password: options.password,
      database: options.database ?? options.user,
      stream: () => new SocketDuplex() as unknown as import("node:net").Socket,
    } as pg.ClientConfig);
    try {
      await waitFor(client.connect(), "postgres connect");
    } catch (e) {
      // The half-open connection goes; its own end's outcome adds nothing to `e`.
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream
        .destroy();
      throw wrap(e);
    }
    return new PostgresSession(client, options);
  }

  /** Whether the connection is known to be unusable (lost, or closed after a cancel). */
  get broken(): boolean {
    return this.#broken !== null;
  }

  /** Closes the socket at once, without a goodbye (the server rolls back what was open). */
  destroy(): void {
    this.#break("destroyed");
  }

  /** The server process serving this connection. */
  get processId(): number {
    return (this.#client as unknown as { processID: number }).processID;
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
  async query<Row = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<QueryResult<Row>> {
    if (this.#broken) throw lost(this.#broken, "query");
    const pending = this.#client.query(text, params as unknown[]);
    try {
      const r = await waitFor(pending, "postgres query");
      return {
        rows: r.rows as Row[],
        rowCount: r.rowCount ?? 0,
        command: r.command,
        fields: r.fields.map((f) => f.name),
      };
    } catch (e) {
      if (e instanceof Interrupted) await this.#cancelInterrupted(pending);
      throw lost(wrap(e), "query");
    }
  }

  /**
   * Stops the server's work on an interrupted query and lets the query settle before the
   * next, within the grace; a server that does not manage costs the connection instead.
   */
  async #cancelInterrupted(pending: Promise<unknown>): Promise<void> {
    // The query's own outcome is moot: the caller gets the interrupt.
    const settled = pending.then(() => undefined, () => undefined);
    const grace = this.#options.cancelGraceSeconds ?? 1;
    try {
      await withTimeout(grace, async () => {
        await this.cancel();
        await waitFor(settled, "postgres cancelled query");
      });
    } catch (e) {
      if (!(e instanceof ShrapnelError)) throw e;
      // Includes a second interrupt: either way the query's end cannot be awaited.
      this.#break(`the cancelled query did not end within ${grace} s (${e.message})`);
    }
  }

  #break(reason: string): void {
    this.#broken ??= new PostgresProtocolError(`connection closed: ${reason}`);
    (this.#client as unknown as { connection: { stream: { destroy(): void } } }).connection
      .stream.destroy();
  }

  /**
   * Asks the server to cancel what this connection is running (a CancelRequest on a
   * connection of its own, as the protocol wants).
   */
  async cancel(): Promise<void> {
    const { processID, secretKey } = this.#client as unknown as {
      processID: number;
      secretKey: number;
    };
    const host = this.#options.host ?? "127.0.0.1", port = this.#options.port ?? 5432;
    const socket = await connectTo(`${host.includes(":") ? `[${host}]` : host}:${port}`);
    try {
      const message = new Uint8Array(16);
      const v = new DataView(message.buffer);
      v.setInt32(0, 16);
      v.setInt32(4, 80877102); // the cancel request code
      v.setInt32(8, processID);
      v.setInt32(12, secretKey);
      await socket.send(message);
    } finally {
      socket.close();
    }
  }

  /**
   * COPY ... FROM STDIN: sends the pieces (text or bytes, in the COPY format). Returns the
   * rows copied. Interruption point.
   * @throws {PeerLostError} (operation "copyIn") if the server went away mid-copy
   */
  async copyIn(
    sql: string,
    pieces: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  ): Promise<number> {
    const stream = this.#client.query(copyStreams!.from(sql));
    const done = new Promise<void>((resolve, reject) => {
      stream.on("finish", resolve);
      stream.on("error", reject);
    });
    try {
      for await (const piece of pieces) {
        if (!stream.write(piece)) {
          await waitFor(new Promise((r) => stream.once("drain", r)), "copy drain");
        }
      }
      stream.end();
      await waitFor(done, "postgres copy in");
    } catch (e) {
      throw lost(wrap(e), "copyIn");
    }
    return (stream as unknown as { rowCount: number }).rowCount;
  }

  /**
   * COPY ... TO STDOUT: all the data, as text. Interruption point.
   * @throws {PeerLostError} (operation "copyOut") if the server went away mid-copy
   */
  async copyOut(sql: string): Promise<string> {
    const stream = this.#client.query(copyStreams!.to(sql));
    const chunks: Uint8Array[] = [];
    try {
      await waitFor(
        new Promise<void>((resolve, reject) => {
          stream.on("data", (c: Uint8Array) => chunks.push(c));
          stream.on("end", resolve);
          stream.on("error", reject);
        }),
        "postgres copy out",
      );
    } catch (e) {
      throw lost(wrap(e), "copyOut");
    }
    const decoder = new TextDecoder();
    return chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
  }

  /** LISTEN on `channel`. */
  async listen(channel: string): Promise<void> {
    await this.query(`LISTEN ${this.#client.escapeIdentifier(channel)}`);
  }

  /** NOTIFY `channel` with `payload`. */
  async notify(channel: string, payload = ""): Promise<void> {
    await this.query("SELECT pg_notify($1, $2)", [channel, payload]);
  }

  /** Blocks until a notification arrives. Interruption point. */
  notification(): Promise<Notification> {
    return this.#notifications.pop();
  }

  /**
   * Closes the connection (a Terminate message, then the socket). A connection that is
   * already broken just goes. Interruption point: interrupted, the socket is closed at
   * once and the interrupt thrown.
   */
  async close(): Promise<void> {
    if (this.#broken) return this.#break("closed");
    try {
      await waitFor(this.#client.end(), "postgres close");
    } catch (e) {
      this.#break("closed");
      // A connection that broke while closing is closed all the same.
      if (e instanceof Interrupted) throw e;
    }
  }
}
