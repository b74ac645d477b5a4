/**
 * The WebSocket client's handshake, behind {@linkcode connectWebSocket} (client.ts):
 * loaded by its first call, so that importing the library does not compile it.
 *
 * @module
 */

import { SocketReader } from "../../net/buffered_reader.ts";
import { connectTo } from "../../net/constructors.ts";
import { UnsupportedOperationError } from "../../net/errors.ts";
import { HttpProtocolError, InvalidFieldError } from "../http/errors.ts";
import { checkField, isToken } from "../http/headers.ts";
import { parseResponseHead } from "../http/parse.ts";
import { WebSocket } from "./connection.ts";
import {
  CLIENT_OFFER,
  deflateAccepted,
  type DeflateParams,
  MessageDeflate,
  parseExtensions,
} from "./deflate.ts";
import { WebSocketError } from "./frame.ts";
import { acceptKey, newKey } from "./handshake.ts";
import type { WebSocketClientOptions } from "./client.ts";

/** What {@linkcode connectWebSocket} does once loaded, within its timeout. */
export async function open(url: string, options: WebSocketClientOptions): Promise<WebSocket> {
  const target = new URL(url);
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    throw new TypeError(`not a WebSocket URL: ${url}`);
  }
  if (target.protocol === "wss:" && options.connect === undefined) {
    throw new UnsupportedOperationError(
      "wss:// without a TLS connector",
      "plain",
      "pass { connect }",
    );
  }
  // The caller's fields go into the request as they are: refuse, before connecting, what
  // would add a line to it (CR/LF) or is not a field at all.
  for (const [name, value] of Object.entries(options.headers ?? {})) checkField(name, value);
  for (const protocol of options.protocols ?? []) {
    if (!isToken(protocol)) throw new InvalidFieldError("sec-websocket-protocol", "value");
  }
  const connect = options.connect ??
    ((host: string, port: number) =>
      connectTo(`${host.includes(":") ? `[${host}]` : host}:${port}`));
  const host = target.hostname.replace(/^\[|\]$/g, "");
  const port = Number(target.port || (target.protocol === "wss:" ? 443 : 80));
  const socket = await connect(host, port);
  try {
    const key = newKey();
    const extra = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await socket.send(new TextEncoder().encode(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\n` +
        "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n" +
        `sec-websocket-key: ${key}\r\n` +
        (options.protocols?.length
          ? `sec-websocket-protocol: ${options.protocols.join(", ")}\r\n`
          : "") +
        (options.deflate ? `sec-websocket-extensions: ${CLIENT_OFFER}\r\n` : "") +
        extra + "\r\n",
    ));
    const reader = new SocketReader(socket);
    const bytes = await reader.readHead(16384);
    if (bytes === null) throw new HttpProtocolError("connection closed during the handshake", 502);
    const head = parseResponseHead(bytes);
    if (head.status !== 101) {
      throw new HttpProtocolError(`server answered ${head.status} ${head.reason}`, 502);
    }
    // RFC 6455 4.1: without these the server has not switched to WebSocket at all.
    if (!head.headers.hasToken("upgrade", "websocket")) {
      throw new HttpProtocolError("the server's 101 has no Upgrade: websocket", 502);
    }
    if (!head.headers.hasToken("connection", "upgrade")) {
      throw new HttpProtocolError("the server's 101 has no Connection: Upgrade", 502);
    }
    if (head.headers.get("sec-websocket-accept") !== acceptKey(key)) {
      throw new HttpProtocolError("bad Sec-WebSocket-Accept", 502);
    }
    const protocol = head.headers.get("sec-websocket-protocol") ?? "";
    if (protocol !== "" && !(options.protocols ?? []).includes(protocol)) {
      throw new HttpProtocolError(`server chose a protocol not offered: ${protocol}`, 502);
    }
    const extensions = head.headers.get("sec-websocket-extensions");
    if (parseExtensions(extensions).length > 0 && !options.deflate) {
      throw new HttpProtocolError(`server agreed to an extension not offered: ${extensions}`, 502);
    }
    let agreed: DeflateParams | null;
    try {
      agreed = deflateAccepted(extensions);
    } catch (e) {
      if (e instanceof WebSocketError) throw new HttpProtocolError(e.message, 502);
      throw e;
    }
    const deflate = agreed ? new MessageDeflate(agreed) : null;
    return new WebSocket(socket, reader, true, protocol, options, deflate);
  } catch (e) {
    socket.close();
    throw e;
  }
}
