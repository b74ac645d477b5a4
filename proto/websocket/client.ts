/**
 * The client side: `connectWebSocket("ws://host:port/path")`.
 *
 * @module
 */

import { awaitModule } from "../../core/_lazy_import.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import type { Socket } from "../../net/socket.ts";
import type { WebSocket, WebSocketOptions } from "./connection.ts";

/** The handshake's code, loaded by the first call. */
let handshakeModule: typeof import("./_client_handshake.ts") | undefined;

/** Options of {@linkcode connectWebSocket}. */
export interface WebSocketClientOptions extends WebSocketOptions {
  /** Subprotocols to offer (tokens). */
  protocols?: string[];
  /** Extra request header fields (Origin, Authorization...), checked as `HttpHeaders` does. */
  headers?: Record<string, string>;
  /**
   * Opens the connection (default: `connectTo`); `wss://` URLs need one that speaks TLS,
   * e.g. `connectTls`.
   */
  connect?: (host: string, port: number) => Promise<Socket>;
  /** Offer permessage-deflate (false). */
  deflate?: boolean;
  /**
   * Seconds for connecting and the whole opening handshake (10): a server that accepts and
   * never answers cannot hold the caller.
   */
  handshakeTimeout?: number;
}

/**
 * Opens a WebSocket to a `ws://` URL (`wss://` needs TLS, see `connectTls`).
 *
 * Interruption point: while connecting and during the handshake (the socket is closed).
 * Connecting and the handshake together take at most `handshakeTimeout` (10 s).
 *
 * @example
 * ```ts ignore
 * const ws = await connectWebSocket("ws://127.0.0.1:8080/echo");
 * await ws.sendText("hi");
 * ```
 * @throws {HttpProtocolError} if the server does not complete the handshake (status 502): another
 *   status, no `Upgrade: websocket` or `Connection: Upgrade`, a wrong accept key, or a
 *   subprotocol or extension that was not offered
 * @throws {TimeoutError} if connecting and the handshake took over `handshakeTimeout`
 * @throws {InvalidFieldError} before connecting, for a header field that is not a token
 *   or whose value holds CR, LF or NUL, or a subprotocol that is not a token
 */
export function connectWebSocket(
  url: string,
  options: WebSocketClientOptions = {},
): Promise<WebSocket> {
  return withTimeout(options.handshakeTimeout ?? 10, async () => {
    handshakeModule ??= await awaitModule(
      () => import("./_client_handshake.ts"),
      "the WebSocket client",
    );
    return await handshakeModule.open(url, options);
  });
}
