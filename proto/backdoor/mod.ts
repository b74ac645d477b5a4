/**
 * The backdoor: a live JavaScript REPL into a running server, over a unix socket,
 * loopback TCP or SSH, with helpers to list and interrupt threads.
 *
 * @example
 * ```ts ignore
 * import { serve } from "./mod.ts";
 * serve({ port: 8023, welcome: "my server", globals: { config } });
 * // nc 127.0.0.1 8023
 * ```
 *
 * @module
 */

export * from "./repl.ts";
export * from "./server.ts";
export * from "./ssh.ts";
