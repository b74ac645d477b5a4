/**
 * Fetch-style handlers on our server: `(Request, info) => Response`, as `Deno.serve` and
 * the frameworks written for it (Hono, `app.fetch`) expect.
 *
 * @module
 */

import { awaitModule } from "../../core/_lazy_import.ts";
import type { HttpRequest } from "./request.ts";
import { lazyHandler } from "./_lazy_handler.ts";
import type { Handler } from "./server.ts";

/** The exchange's code, loaded by the first request of any fetch handler. */
let fetchModule: typeof import("./_fetch_handler.ts") | undefined;

/** What a fetch-style handler learns besides the request (as `Deno.ServeHandlerInfo`). */
export interface FetchHandlerInfo {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  /** Settles when the response has been sent (rejects if sending it failed). */
  readonly completed: Promise<void>;
  /** The request as our server parsed it (for `params`, the raw head, `remote`). */
  readonly request: HttpRequest;
}

/** A fetch-style handler: `Deno.serve`'s, Hono's `app.fetch`. */
export type FetchHandlerFunction = (
  request: Request,
  info: FetchHandlerInfo,
) => Response | Promise<Response>;

/** Options of {@linkcode fetchHandler}. */
export interface FetchHandlerOptions {
  /** Which requests this handler takes (all). */
  match?: (request: HttpRequest) => boolean;
  /**
   * The scheme of `request.url`. By default it is the connection's: "https" on a TLS
   * connection (`HttpServer.listenTls`, HTTP/2 over TLS, a TLS socket given to
   * `serve`), "http" otherwise. Set it behind a proxy that ends TLS for us ("https"), or
   * that speaks plain HTTP to clients while we speak TLS to it ("http"). An
   * `X-Forwarded-Proto` field is not trusted (any client can send one): to honour it
   * from a proxy you trust, read it in your handler, or give each listener its own
   * `fetchHandler` with this option.
   */
  scheme?: "http" | "https";
  /**
   * Makes the response for a handler that threw or rejected (as `Deno.serve`'s
   * `onError`), its own timeouts included (a `withTimeout` of its own, a client's
   * `HttpTimeoutError`, a socket error of its own upstream). Without it the error goes to
   * the server: an `HttpError` becomes its status, anything else a 500 (504 for an
   * `HttpTimeoutError`, 502 for an upstream connection's failure such as a
   * `ConnectionRefusedError` or a `PeerLostError`) reported to the server's `onError`.
   * Interruptions of the exchange (the server's close, its deadlines on the client, the
   * client gone: its watch, or a socket error of the request's own connection) never
   * come here: they end the exchange.
   */
  onError?: (error: unknown) => Response | Promise<Response>;
}

/**
 * A handler running a fetch-style function (`Deno.serve`'s signature, Hono's `app.fetch`)
 * on our {@linkcode HttpServer}.
 *
 * Each request runs in its connection's thread: the function may block on our primitives
 * (`sleep`, a `Mutex`, `withTimeout`, our sockets and clients), and those calls are
 * interruption points. A client that goes away while the function works interrupts that
 * thread and aborts `request.signal` (noticed once the request body has been read); a
 * function awaiting only foreign promises is reached through the signal. So is one still
 * running when `server.close()`'s grace is over: the signal aborts with `Shutdown` and a
 * streamed response body is stopped. `request.url` has the connection's scheme (`https`
 * over TLS) unless the `scheme` option says otherwise.
 *
 * The `Request` is a real one (made lazily: `method`, `url` and headers cost little). Its
 * body is a `ReadableStream` read from the socket as it is consumed (backpressure reaches
 * the client), with the server's `maxBodyBytes`; `Expect: 100-continue` is answered at
 * the first read. The `Response` body may be text, bytes, `Blob`, `FormData`,
 * `URLSearchParams` or a `ReadableStream`: bodies held whole go out in one write with a
 * Content-Length; streams go out piece by piece as they are produced (chunked unless the
 * response sets Content-Length), so server-sent events are not held back. Keep-alive,
 * pipelining, the server's limits and timeouts and HEAD work as for native handlers.
 * Trailers are not sent (a `Response` has none). A WebSocket is accepted with
 * {@linkcode upgradeWebSocket}.
 *
 * The exchange's code is loaded by the first request a fetch handler takes (that request
 * waits for it, once per process).
 *
 * @example
 * ```ts
 * import { HttpServer } from "./server.ts";
 * import { fetchHandler } from "./fetch_handler.ts";
 * import { HttpClient } from "./client.ts";
 * import { spawn } from "../../core/thread.ts";
 * const server = new HttpServer();
 * server.push(fetchHandler((request) => Response.json({ path: new URL(request.url).pathname })));
 * server.listen("127.0.0.1:0");
 * const text = await spawn(async () => {
 *   const client = new HttpClient();
 *   try {
 *     return await (await client.request(`${server.url}/hi`)).text();
 *   } finally {
 *     client.close();
 *     await server.close();
 *   }
 * }).join();
 * if (text !== '{"path":"/hi"}') throw new Error(text);
 * ```
 */
export function fetchHandler(
  fn: FetchHandlerFunction,
  options: FetchHandlerOptions = {},
): Handler {
  if (fetchModule !== undefined) return fetchModule.makeFetchHandler(fn, options);
  return lazyHandler(options.match ?? (() => true), async () => {
    fetchModule ??= await awaitModule(() => import("./_fetch_handler.ts"), "the fetch handler");
    return fetchModule.makeFetchHandler(fn, options);
  });
}
