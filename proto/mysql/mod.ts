/**
 * A MySQL/MariaDB client on shrapnel sockets (our own protocol implementation):
 * native-password and caching_sha2 logins, queries, prepared statements.
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
export * from "./protocol.ts";
