/**
 * An FTP client on shrapnel sockets: passive and extended passive data connections,
 * listings, streamed retrieve and store, explicit TLS.
 *
 * @example
 * ```ts ignore
 * import { FtpClient } from "./mod.ts";
 * const ftp = await FtpClient.connect({ host: "ftp.example.org" });
 * console.log(await ftp.list());
 * await ftp.quit();
 * ```
 *
 * @module
 */

export * from "./client.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
