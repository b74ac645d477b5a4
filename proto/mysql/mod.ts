/**
 * MySQL/MariaDB on shrapnel sockets (npm:mysql2 over a Duplex adapter, loaded at the
 * first connect): every login method mysql2 knows, TLS, queries, prepared statements,
 * interrupted queries stopped on the server with the connection kept.
 *
 * @example
 * ```ts ignore
 * import { MysqlClient } from "./mod.ts";
 * const db = await MysqlClient.connect({ user: "app", password: "...", database: "shop" });
 * console.log((await db.query("SELECT VERSION() AS v")).rows);
 * await db.close();
 * ```
 *
 * @module
 */

export * from "./client.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
