/**
 * The WebSocket server's handshakes, behind {@linkcode websocketHandler} (server.ts):
 * loaded by such a handler's first request, so that importing the library does not
 * compile it.
 *
 * @module
 */

import { TimeoutError } from "../../core/errors.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { EOFError, SocketError } from "../../net/errors.ts";
import type { HttpRequest } from "../http/request.ts";
import type { Handler } from "../http/server.ts";
import { WebSocket } from "./connection.ts";
import { acceptDeflate, MessageDeflate } from "./deflate.ts";
import { acceptKey, hixie76Answer, isValidKey } from "./handshake.ts";
import { Hixie76Socket } from "./hixie76.ts";

import type { ServerWebSocket, WebSocketServerOptions } from "./server.ts";

const encoder = new TextEncoder();

/** What {@linkcode websocketHandler} makes once loaded: see there. */
export function makeWebsocketHandler(
  path: string,
  onConnect: (ws: ServerWebSocket, request: HttpRequest) => Promise<void> | void,
  options: WebSocketServerOptions = {},
): Handler {
  return {
    match: (request) => request.path === path,
    async handle(request) {
      const h = request.headers;
      if (!h.hasToken("upgrade", "websocket")) {
        return request.error(426, "this resource speaks WebSocket only");
      }
      if (!originAllowed(request, options.origins ?? "same-host")) {
        return request.error(403, "this page's origin may not open a WebSocket here");
      }
      if (
        options.hixie76 !== false && h.has("sec-websocket-key1") && h.has("sec-websocket-key2")
      ) {
        return await hixie76(request, onConnect, options);
      }
      if (request.method !== "GET" || request.minor !== 1 || !h.hasToken("connection", "upgrade")) {
        return request.error(400, "not a WebSocket upgrade");
      }
      if (h.get("sec-websocket-version") !== "13") {
        request.replyHeaders.set("sec-websocket-version", "13");
        return request.error(426, "WebSocket version 13 only");
      }
      const key = h.get("sec-websocket-key");
      if (!isValidKey(key)) return request.error(400, "bad Sec-WebSocket-Key");
      const offered = (h.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
      const protocol = (options.protocols ?? []).find((p) => offered.includes(p)) ?? "";
      const deflate = options.deflate ? acceptDeflate(h.get("sec-websocket-extensions")) : null;
      const { socket, reader } = request.upgrade();
      const answer = encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
          `sec-websocket-accept: ${acceptKey(key)}\r\n` +
          (protocol ? `sec-websocket-protocol: ${protocol}\r\n` : "") +
          (deflate ? `sec-websocket-extensions: ${deflate.header}\r\n` : "") + "\r\n",
      );
      try {
        await withTimeout(options.sendTimeout ?? 30, () => socket.send(answer));
      } catch (e) {
        socket.close(); // a client that does not read its 101 gets nothing more
        if (e instanceof TimeoutError || e instanceof SocketError) return;
        throw e;
      }
      const ws = new WebSocket(
        socket,
        reader,
        false,
        protocol,
        options,
        deflate ? new MessageDeflate(deflate.params) : null,
      );
      try {
        await onConnect(ws, request);
      } finally {
        if (!ws.closed) await ws.close();
      }
    },
  };
}

/** Whether the page that asked (its `Origin`, if any) may connect: see `origins`. */
function originAllowed(request: HttpRequest, allowed: "same-host" | "any" | string[]): boolean {
  const origin = request.headers.get("origin");
  if (origin === null || allowed === "any") return true;
  if (Array.isArray(allowed)) return allowed.includes(origin);
  const host = request.headers.get("host");
  if (host === null) return false;
  try {
    const page = new URL(origin);
    // The Host read with the page's scheme, so that a default port compares equal.
    return page.host === new URL(`${page.protocol}//${host}`).host;
  } catch (e) {
    if (e instanceof TypeError) return false; // "null", or not a URL at all
    throw e;
  }
}

async function hixie76(
  request: HttpRequest,
  onConnect: (ws: ServerWebSocket, request: HttpRequest) => Promise<void> | void,
  options: WebSocketServerOptions,
): Promise<void> {
  const h = request.headers;
  const { socket, reader } = request.upgrade();
  let answer: Uint8Array;
  try {
    const key3 = await withTimeout(options.handshakeTimeout ?? 10, () => reader.readExact(8));
    answer = hixie76Answer(h.get("sec-websocket-key1")!, h.get("sec-websocket-key2")!, key3);
  } catch (e) {
    socket.close();
    // A client too slow, gone, or with bad keys loses its connection; that is all it gets.
    if (
      e instanceof TimeoutError || e instanceof EOFError || e instanceof SocketError ||
      e instanceof RangeError
    ) return;
    throw e;
  }
  const head = encoder.encode(
    "HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Origin: ${h.get("origin") ?? "null"}\r\n` +
      `Sec-WebSocket-Location: ws://${h.get("host") ?? "localhost"}${request.target}\r\n\r\n`,
  );
  const reply = new Uint8Array(head.length + answer.length);
  reply.set(head);
  reply.set(answer, head.length);
  const ws = new Hixie76Socket(socket, reader, options.maxMessageBytes, options.sendTimeout);
  try {
    await withTimeout(options.sendTimeout ?? 30, () => socket.send(reply));
  } catch (e) {
    socket.close();
    if (e instanceof TimeoutError || e instanceof SocketError) return;
    throw e;
  }
  try {
    await onConnect(ws, request);
  } finally {
    await ws.close();
  }
}
