/**
 * `shrapnelFetch`: the standard `fetch` signature on our `HttpClient`, so that code written
 * for `fetch` runs through our sockets, resolver and connection pool.
 *
 * @module
 */

import { awaitModule } from "../../core/_lazy_import.ts";
import { currentFor } from "../../core/thread.ts";
import type { HttpClient } from "./client.ts";

/** The code, loaded by the first call. */
let fetchModule: typeof import("./_shrapnel_fetch.ts") | undefined;

/** `fetch`'s init, plus the client to use. */
export interface ShrapnelFetchInit extends RequestInit {
  /** The client (its pool, TLS roots, redirect limit); the shared one by default. */
  shrapnelClient?: HttpClient;
}

/**
 * `fetch(input, init)` through our {@linkcode HttpClient} (the shared one unless
 * `init.shrapnelClient` names one): pooled keep-alive connections, our resolver, https with
 * the client's roots, redirects as `init.redirect` says ("follow" up to the client's
 * `maxRedirects`, "manual" returns them, "error" throws), `init.signal`. The response is a
 * standard `Response` whose body is read from the connection as it is consumed; the
 * connection goes back to the pool once the body has been read (or cancelled).
 *
 * Must be called in a thread: it is an interruption point until the response head has
 * arrived (an interruption throws, and the connection is dropped). An aborted signal
 * rejects with its reason, as `fetch` does, and errors a body being read.
 *
 * @example
 * ```ts ignore
 * const response = await shrapnelFetch("http://127.0.0.1:8080/data", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ a: 1 }),
 * });
 * console.log(response.status, await response.json());
 * ```
 * @throws {TypeError} for what `fetch` refuses (a bad URL or init), a redirect with
 *   `redirect: "error"`, a scheme other than http(s)
 * @throws {HttpProtocolError} for a response `Response` cannot represent (status 502)
 * @throws {SocketError} | {TlsError} if the connection fails
 */
export async function shrapnelFetch(
  input: string | URL | Request,
  init?: ShrapnelFetchInit,
): Promise<Response> {
  currentFor("shrapnelFetch");
  fetchModule ??= await awaitModule(() => import("./_shrapnel_fetch.ts"), "shrapnelFetch");
  return await fetchModule.fetchThroughClient(input, init);
}
