/**
 * The `HttpClient` that `get` and `shrapnelFetch` use unless given one.
 *
 * @module
 */

import { HttpClient } from "./client.ts";

let shared: HttpClient | null = null;

/**
 * The shared client (made on first use, with default options): one connection pool for
 * every `get` and `shrapnelFetch` that names no client.
 *
 * @example
 * ```ts
 * import { defaultHttpClient } from "./default_client.ts";
 * if (defaultHttpClient() !== defaultHttpClient()) throw new Error("not shared");
 * ```
 */
export function defaultHttpClient(): HttpClient {
  return shared ??= new HttpClient();
}

/**
 * Replaces the shared client (e.g. one trusting a private CA); returns the previous one,
 * which is not closed.
 *
 * @example
 * ```ts
 * import { HttpClient } from "./client.ts";
 * import { setDefaultHttpClient } from "./default_client.ts";
 * const previous = setDefaultHttpClient(new HttpClient({ maxRedirects: 5 }));
 * setDefaultHttpClient(previous)?.close();
 * ```
 */
export function setDefaultHttpClient(client: HttpClient | null): HttpClient | null {
  const previous = shared;
  shared = client;
  return previous;
}
