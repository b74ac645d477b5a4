/**
 * An SSH client on shrapnel sockets (npm:ssh2): password and key login, exec, shell,
 * port forwarding; the server's host key verified by default (known_hosts or a pinned
 * fingerprint).
 *
 * @example
 * ```ts ignore
 * import { SshClient } from "./mod.ts";
 * const ssh = await SshClient.connect({ host: "127.0.0.1", username: "me", privateKey });
 * console.log((await ssh.exec("hostname")).stdout);
 * ssh.close();
 * ```
 *
 * @module
 */

export * from "./client.ts";
export * from "./errors.ts";
export * from "./known_hosts.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
