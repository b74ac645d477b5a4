/**
 * DNS: an iterative (or stub, or forwarding) resolver with a cache, on shrapnel sockets;
 * every lookup interruptible. `new DnsResolver(...).install()` makes it the resolver of
 * every `connectTo("host:port")`.
 *
 * @example
 * ```ts ignore
 * import { DnsResolver } from "./mod.ts";
 * const dns = new DnsResolver({ mode: "stub" });
 * console.log(await dns.resolve4("example.com"));
 * ```
 *
 * @module
 */

export * from "./cache.ts";
export * from "./errors.ts";
export * from "./exchange.ts";
export * from "./packet.ts";
export * from "./resolver.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
