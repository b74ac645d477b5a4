/**
 * HTTP/1.1 on shrapnel sockets: a server with one thread per connection, handlers,
 * streaming bodies, limits and timeouts; a client with keep-alive pooling.
 *
 * @example
 * ```ts
 * import { HttpServer } from "./mod.ts";
 * import { spawn } from "../../core/thread.ts";
 * const server = new HttpServer();
 * server.route("GET", "/", (request) => request.respond(200, "hello\n"));
 * server.listen("127.0.0.1:0");
 * await spawn(() => server.close()).join();
 * ```
 *
 * @module
 */

export * from "./body.ts";
export * from "./client.ts";
export * from "./connector.ts";
export * from "./errors.ts";
export * from "./fetch_handler.ts";
export * from "./get.ts";
export * from "./handlers.ts";
// Helpers of the parser and the reply path (lower, valueHasToken, bodyFraming,
// refreshHttpDate) stay internal.
export { HttpHeaders } from "./headers.ts";
export {
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "./parse.ts";
export * from "./redirects.ts";
export { escapeHtml, Http2Request, HttpRequest } from "./request.ts";
export * from "./server.ts";
export * from "./auth.ts";
export * from "./json_rpc.ts";
export * from "./session.ts";
export { Http2Error, Http2StreamError, StreamResetError } from "./h2/errors.ts";
export type { Http2Options } from "./h2/server_connection.ts";
export * from "./shrapnel_fetch.ts";
export { type HttpClientPhase, HttpTimeoutError } from "./client_timeouts.ts";
export * from "./upgrade_websocket.ts";
// The types this module's API names from /core, /net and /websocket, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
export type { WebSocketOptions } from "../websocket/connection.ts";
