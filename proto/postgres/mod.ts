/**
 * PostgreSQL on shrapnel sockets (npm:pg over a Duplex adapter): SCRAM and md5 logins,
 * simple and extended queries, COPY in and out, LISTEN/NOTIFY, cancel on interrupt.
 *
 * @example
 * ```ts ignore
 * import { PostgresClient } from "./mod.ts";
 * const db = await PostgresClient.connect({ user: "app", password: "..." });
 * console.log((await db.query("SELECT now()")).rows);
 * ```
 *
 * @module
 */

export * from "./client.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
