/**
 * The backdoor: a live JavaScript REPL into a running server, over a unix socket,
 * loopback TCP or SSH, with helpers to list and interrupt threads.
 *
 * @example
 * ```ts ignore
 * import { serve } from "./mod.ts";
 * serve({ unixPath: "/run/app/backdoor.sock", welcome: "my server", globals: { config } });
 * // socat - UNIX-CONNECT:/run/app/backdoor.sock   (mode 0600: this user only)
 * serve({ port: 8023, login: (user, password) => checkPassword(user, password) });
 * // nc 127.0.0.1 8023   (TCP needs a login: any local user can connect)
 * ```
 *
 * @module
 */

export * from "./login_throttle.ts";
export * from "./repl.ts";
export * from "./server.ts";
export * from "./ssh.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
