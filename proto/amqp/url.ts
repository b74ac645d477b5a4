/**
 * `amqp://user:password@host:port/vhost` URLs (RabbitMQ's URI spec) as connect options.
 *
 * @module
 */

import type { AmqpOptions } from "./client.ts";

/**
 * The connect options an `amqp://` URL names: user and password (percent-decoded),
 * host (IPv6 in brackets), port (5672 if absent), vhost (the path without its leading
 * slash, percent-decoded: `%2F` is "/"; no path is "/"), and the query's `heartbeat` and
 * `connection_timeout` (milliseconds). `amqps://` is refused: this client has no TLS yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAmqpUrl } from "./url.ts";
 * assert.deepEqual(parseAmqpUrl("amqp://bob:s%40cret@10.0.0.2:5673/prod"), {
 *   host: "10.0.0.2",
 *   port: 5673,
 *   user: "bob",
 *   password: "s@cret",
 *   vhost: "prod",
 * });
 * assert.equal(parseAmqpUrl("amqp://[::1]").host, "::1");
 * assert.throws(() => parseAmqpUrl("http://x"), TypeError);
 * ```
 * @throws {TypeError} for what is not an `amqp://` URL
 */
export function parseAmqpUrl(url: string): AmqpOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new TypeError(`not an AMQP URL: ${JSON.stringify(url)}`, { cause: e });
  }
  if (u.protocol === "amqps:") {
    throw new TypeError(`amqps:// (TLS) is not supported by this client yet: ${url}`);
  }
  if (u.protocol !== "amqp:") throw new TypeError(`not an amqp:// URL: ${JSON.stringify(url)}`);
  const options: AmqpOptions = {};
  if (u.hostname !== "") options.host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (u.port !== "") options.port = Number(u.port);
  if (u.username !== "") options.user = decodeURIComponent(u.username);
  if (u.password !== "") options.password = decodeURIComponent(u.password);
  if (u.pathname.length > 1) options.vhost = decodeURIComponent(u.pathname.slice(1));
  const heartbeat = u.searchParams.get("heartbeat");
  if (heartbeat !== null) options.heartbeat = nonNegative(heartbeat, "heartbeat", url);
  const timeout = u.searchParams.get("connection_timeout");
  if (timeout !== null) {
    options.connectTimeoutSeconds = nonNegative(timeout, "connection_timeout", url) / 1000;
  }
  return options;
}

function nonNegative(raw: string, name: string, url: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new TypeError(`bad ${name} in ${url}`);
  return n;
}
