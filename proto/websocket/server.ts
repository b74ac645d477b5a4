/**
 * The server side: an HTTP handler that upgrades matching requests to WebSockets
 * (RFC 6455, and hixie-76 for old clients) and runs a callback per connection in the
 * connection's own thread.
 *
 * @module
 */

import { loadEarly } from "../../core/_lazy_import.ts";
import type { HttpRequest } from "../http/request.ts";
import type { Handler } from "../http/server.ts";
import { lazyHandler } from "../http/_lazy_handler.ts";
import type { WebSocket, WebSocketOptions } from "./connection.ts";
import type { Hixie76Socket } from "./hixie76.ts";

/** The handshakes' code, loaded by the first request of any WebSocket handler. */
let handshakeModule: typeof import("./_server_handshake.ts") | undefined;

/** Options of {@linkcode websocketHandler}. */
export interface WebSocketServerOptions extends WebSocketOptions {
  /** Subprotocols this server speaks, in preference order. */
  protocols?: string[];
  /** Accept hixie-76 clients too (true). */
  hixie76?: boolean;
  /** Agree to permessage-deflate when a client offers it (false). */
  deflate?: boolean;
  /**
   * Which pages may open a connection, by the `Origin` browsers send (other clients
   * usually send none, and are let in). "same-host" (the default) lets in an origin whose
   * host and port are the request's `Host`: a page of another site cannot open a
   * connection with the user's cookies (cross-site WebSocket hijacking). A list lets in
   * exactly those origins (`"https://app.example.com"`); "any" lets in every page. The
   * others get 403.
   */
  origins?: "same-host" | "any" | string[];
  /**
   * Seconds a hixie-76 client has to send the 8 key bytes after its head (10); the
   * connection is closed past it.
   */
  handshakeTimeout?: number;
}

/** What a connection callback gets: an RFC 6455 socket, or a hixie-76 one. */
export type ServerWebSocket = WebSocket | Hixie76Socket;

/**
 * An HTTP handler upgrading requests for `path` to WebSockets; `onConnect(ws, request)`
 * runs in the connection's thread, and the connection is closed when it returns.
 * Requests that are not valid upgrades get 400 (426 for another protocol version). An
 * error `onConnect` throws, its own timeouts included (a `withTimeout` of its own, a
 * client's `HttpTimeoutError`) and its own upstream's socket errors (a refused
 * `HttpClient`, a lost database connection), is reported to the server's `onError` after
 * the close; the server closing (`Shutdown`), a client too slow to take its handshake,
 * and the client gone (the errors of `ws`'s own sends) end the connection without a
 * report.
 *
 * @example
 * ```ts ignore
 * server.push(websocketHandler("/echo", async (ws) => {
 *   for await (const m of ws) {
 *     if (m.type === "text") await ws.sendText(m.data);
 *     else await ws.sendBinary(m.data);
 *   }
 * }));
 * ```
 */
export function websocketHandler(
  path: string,
  onConnect: (ws: ServerWebSocket, request: HttpRequest) => Promise<void> | void,
  options: WebSocketServerOptions = {},
): Handler {
  if (handshakeModule !== undefined) {
    return handshakeModule.makeWebsocketHandler(path, onConnect, options);
  }
  const loading = loadEarly(() => import("./_server_handshake.ts"), "the WebSocket server");
  return lazyHandler((request) => request.path === path, async () => {
    handshakeModule ??= await loading();
    return handshakeModule.makeWebsocketHandler(path, onConnect, options);
  });
}
