/**
 * `get(url)`: the common case of the HTTP client in one call.
 *
 * @module
 */

import { defaultHttpClient, type HttpClient } from "./client.ts";
import type { HttpHeaders } from "./headers.ts";

/** Options of {@linkcode get}. */
export interface GetOptions {
  /** Request header fields. */
  headers?: Record<string, string>;
  /** The client (its pool, TLS roots, redirect limit); the shared one by default. */
  client?: HttpClient;
}

/** What {@linkcode get} returns: the response with its whole body. */
export interface GetResult {
  /** The status code. */
  status: number;
  /** Whether the status is 2xx. */
  ok: boolean;
  /** The header fields. */
  headers: HttpHeaders;
  /** The whole body. */
  body: Uint8Array;
  /** The URL the response came from, after redirects. */
  url: string;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON. @throws {SyntaxError} */
  json(): unknown;
}

/**
 * GETs `url` (http or https, redirects followed) and reads the whole body, on the shared
 * client unless `options.client` is given.
 *
 * Interruption point, like every call of the client: an interrupted `get` (a timeout,
 * `interrupt`) throws the interruption and drops the connection it was using; nothing is
 * left half-read in the pool.
 *
 * @example
 * ```ts ignore
 * const { status, headers, text } = await withTimeout(5, () => get("https://example.com/"));
 * console.log(status, headers.get("content-type"), text().length);
 * ```
 * @throws {BodyTooLargeError} past the client's `maxBodyBytes`
 * @throws {TooManyRedirectsError} past the client's `maxRedirects`
 * @throws {SocketError} | {TlsError} if the connection fails
 */
export async function get(url: string, options: GetOptions = {}): Promise<GetResult> {
  const client = options.client ?? defaultHttpClient();
  const response = await client.request(url, { headers: options.headers });
  const body = await response.bytes();
  return {
    status: response.status,
    ok: response.ok,
    headers: response.headers,
    body,
    url: response.url,
    text: () => new TextDecoder().decode(body),
    json: () => JSON.parse(new TextDecoder().decode(body)),
  };
}
