/**
 * shrapnel for Deno: lightweight threads with ids and names, interruptible blocking
 * calls, `withTimeout` around any call, sync primitives, sockets, protocols and the
 * profiler.
 *
 * Each part is also published as a subpath (`@shrapnel/shrapnel/core`, `/net`, `/http`,
 * ...). Importing this module loads no npm package: the protocols that use one load it on
 * their first call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fifo, sleep, spawn, withTimeout } from "./mod.ts";
 * const q = new Fifo<string>();
 * spawn(async () => { await sleep(0.01); q.push("hello"); });
 * assert.equal(await spawn(() => withTimeout(1, () => q.pop())).join(), "hello");
 * ```
 *
 * @module
 */

export * from "./core/mod.ts";
export * from "./core/profiler/mod.ts";
export * from "./net/mod.ts";
export * from "./proto/http/mod.ts";
export * from "./proto/websocket/mod.ts";
export * from "./proto/dns/mod.ts";
// Protocol clients and services, as namespaces (their names would collide flat); each is
// also a subpath export, to load only one: "@shrapnel/shrapnel/postgres"...
export * as amqp from "./proto/amqp/mod.ts";
export * as backdoor from "./proto/backdoor/mod.ts";
export * as ftp from "./proto/ftp/mod.ts";
export * as ldap from "./proto/ldap/mod.ts";
export * as mysql from "./proto/mysql/mod.ts";
export * as postgres from "./proto/postgres/mod.ts";
export * as ssh from "./proto/ssh/mod.ts";
