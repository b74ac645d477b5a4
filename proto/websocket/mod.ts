/**
 * WebSocket (RFC 6455) server and client on shrapnel sockets, and the hixie-76 server
 * handshake for old clients.
 *
 * @example
 * ```ts ignore
 * import { HttpServer } from "../http/mod.ts";
 * import { connectWebSocket, websocketHandler } from "./mod.ts";
 * const server = new HttpServer();
 * server.push(websocketHandler("/echo", async (ws) => {
 *   for await (const m of ws) if (m.type === "text") await ws.sendText(m.data);
 * }));
 * server.listen("127.0.0.1:8080");
 * const ws = await connectWebSocket("ws://127.0.0.1:8080/echo");
 * ```
 *
 * @module
 */

export * from "./client.ts";
export * from "./connection.ts";
export * from "./deflate.ts";
export * from "./frame.ts";
export * from "./handshake.ts";
export * from "./hixie76.ts";
export * from "./server.ts";
// The types this module's API names from /core and /net, for its docs.
export type * from "../../core/mod.ts";
export type * from "../../net/mod.ts";
export type * from "../http/mod.ts";
