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
 * @throws {TypeError} for what is not an `amqp://` URL (also `amqp:host`, without `//`),
 *   or has a bad percent-escape
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
  // "amqp:host" parses as a URL without a host (and a path of "host"): refused, rather
  // than read as the default host with a vhost made of the name.
  if (u.protocol !== "amqp:" || !/^\s*amqp:\/\//i.test(url)) {
    throw new TypeError(`not an amqp:// URL: ${JSON.stringify(url)}`);
  }
  const options: AmqpOptions = {};
  if (u.hostname !== "") options.host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (u.port !== "") options.port = Number(u.port);
  if (u.username !== "") options.user = decoded(u.username, "user", url);
  if (u.password !== "") options.password = decoded(u.password, "password", url);
  if (u.pathname.length > 1) options.vhost = decoded(u.pathname.slice(1), "vhost", url);
  const heartbeat = u.searchParams.get("heartbeat");
  if (heartbeat !== null) options.heartbeat = nonNegative(heartbeat, "heartbeat", url);
  const timeout = u.searchParams.get("connection_timeout");
  if (timeout !== null) {
    options.connectTimeoutSeconds = nonNegative(timeout, "connection_timeout", url) / 1000;
  }
  return options;
}

function decoded(raw: string, name: string, url: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (e) {
    // URIError: a "%" not followed by two hex digits, or escapes that are not UTF-8.
    throw new TypeError(`bad percent-escape in the ${name} of ${url}`, { cause: e });
  }
}

function nonNegative(raw: string, name: string, url: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new TypeError(`bad ${name} in ${url}`);
  return n;
}
