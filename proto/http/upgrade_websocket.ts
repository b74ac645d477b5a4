/**
 * `upgradeWebSocket(request)` for fetch-style handlers: `Deno.upgradeWebSocket`'s shape,
 * with our RFC 6455 connection underneath.
 *
 * @module
 */

import { markClientGone } from "./request.ts";
import { ClosedError, Interrupted } from "../../core/errors.ts";
import { scheduler } from "../../core/scheduler.ts";
import { SocketError } from "../../net/errors.ts";
import { sleep } from "../../core/sleep.ts";
import { spawn, type Thread } from "../../core/thread.ts";
import { waitFor } from "../../core/wait_for.ts";
import { WebSocket as Connection, type WebSocketOptions } from "../websocket/connection.ts";
import { CloseCode } from "../websocket/frame.ts";
import { acceptKey, isValidKey } from "../websocket/handshake.ts";
import { httpRequestOf, registerUpgrade } from "./_upgrades.ts";
import type { HttpRequest } from "./request.ts";

/** Options of {@linkcode upgradeWebSocket}. */
export interface UpgradeWebSocketOptions extends WebSocketOptions {
  /** The subprotocol to agree on (one the client offered); none by default. */
  protocol?: string;
}

const encoder = new TextEncoder();

type Outgoing = string | Uint8Array | Blob;

/**
 * The server's end of a WebSocket accepted by {@linkcode upgradeWebSocket}, shaped like
 * the standard `WebSocket` (events `open`, `message`, `close`, `error`; `send`, `close`,
 * `readyState`, `bufferedAmount`, `binaryType`).
 *
 * Listeners run outside any thread, as callbacks do in Deno: they must not block; spawn a
 * thread for work that does. `send` never blocks: messages queue (`bufferedAmount`) and a
 * writer thread sends them in order. Messages are reassembled, pings answered and the close
 * handshake done by our connection (limits from the options: `maxMessageBytes`, 1 MiB).
 *
 * @example
 * ```ts ignore
 * const { socket, response } = upgradeWebSocket(request);
 * socket.onmessage = (e) => socket.send(e.data);
 * return response;
 * ```
 */
export class FetchWebSocket extends EventTarget {
  /** The connection is being made. */
  static readonly CONNECTING = 0;
  /** Open: messages flow. */
  static readonly OPEN = 1;
  /** The close handshake is under way. */
  static readonly CLOSING = 2;
  /** Closed. */
  static readonly CLOSED = 3;
  /** The connection is being made. */
  readonly CONNECTING = 0;
  /** Open: messages flow. */
  readonly OPEN = 1;
  /** The close handshake is under way. */
  readonly CLOSING = 2;
  /** Closed. */
  readonly CLOSED = 3;

  /** The request's URL. */
  readonly url: string;
  /** The subprotocol agreed on, or "". */
  readonly protocol: string;
  /** Extensions agreed on: none. */
  readonly extensions = "";
  /** How binary messages are given to listeners: `Blob` (default) or `ArrayBuffer`. */
  binaryType: BinaryType = "blob";
  /** Listener of `open`. */
  onopen: ((event: Event) => void) | null = null;
  /** Listener of `message`. */
  onmessage: ((event: MessageEvent) => void) | null = null;
  /** Listener of `close`. */
  onclose: ((event: CloseEvent) => void) | null = null;
  /** Listener of `error`. */
  onerror: ((event: Event) => void) | null = null;

  #state = 0;
  #connection: Connection | null = null;
  #queue: (Outgoing | { code: number; reason: string })[] = [];
  #buffered = 0;
  #writer: Thread | null = null;
  readonly #closeTimeout: number;

  /** @internal Made by `upgradeWebSocket`. */
  constructor(url: string, protocol: string, closeTimeout: number) {
    super();
    this.url = url;
    this.protocol = protocol;
    this.#closeTimeout = closeTimeout;
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED. */
  get readyState(): number {
    return this.#state;
  }

  /** Bytes queued by `send` and not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  #fire(event: Event): void {
    // Outside any thread: a listener's blocking call would otherwise block the reader.
    scheduler.context.exit(() => {
      const handler = (this as unknown as Record<string, unknown>)[`on${event.type}`];
      if (typeof handler === "function") {
        try {
          handler.call(this, event);
        } catch (e) {
          console.error(`shrapnel websocket: an on${event.type} listener threw:`, e);
        }
      }
      this.dispatchEvent(event);
    });
  }

  /**
   * Queues a message: text for a string, binary otherwise.
   * @throws {DOMException} InvalidStateError while connecting
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#state === 0) throw new DOMException("the WebSocket is not open", "InvalidStateError");
    let item: Outgoing;
    if (typeof data === "string") item = data;
    else if (data instanceof Blob) item = data;
    else if (ArrayBuffer.isView(data)) {
      item = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    } else item = new Uint8Array(data as ArrayBuffer).slice();
    const size = typeof item === "string"
      ? encoder.encode(item).length
      : item instanceof Blob
      ? item.size
      : item.length;
    if (this.#state !== 1) return; // closing or closed: dropped, as the standard says
    this.#buffered += size;
    this.#queue.push(item);
    this.#drain();
  }

  /**
   * Starts the close handshake (after the queued messages).
   * @throws {DOMException} InvalidAccessError for a code other than 1000 or 3000-4999
   * @throws {DOMException} SyntaxError for a reason longer than 123 bytes
   */
  close(code?: number, reason = ""): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`close code ${code} is not allowed`, "InvalidAccessError");
    }
    if (encoder.encode(reason).length > 123) {
      throw new DOMException("close reason longer than 123 bytes", "SyntaxError");
    }
    if (this.#state >= 2) return;
    this.#state = 2;
    this.#queue.push({ code: code ?? CloseCode.normal, reason });
    this.#drain();
  }

  #drain(): void {
    if (this.#writer !== null || this.#connection === null) return;
    const connection = this.#connection;
    this.#writer = spawn({ name: `websocket writer ${this.url}` }, async () => {
      try {
        while (this.#queue.length > 0) {
          const item = this.#queue.shift()!;
          if (typeof item === "string") {
            this.#buffered -= encoder.encode(item).length;
            await connection.sendText(item);
          } else if (item instanceof Uint8Array) {
            this.#buffered -= item.length;
            await connection.sendBinary(item);
          } else if (item instanceof Blob) {
            this.#buffered -= item.size;
            await connection.sendBinary(new Uint8Array(await waitFor(item.arrayBuffer())));
          } else {
            await connection.sendCloseFrame(item.code, item.reason);
            // The reader finishes when the peer answers; a peer that never does is cut off.
            await sleep(this.#closeTimeout);
            connection.socket.close();
            return;
          }
        }
      } catch (e) {
        // A failed send means the connection is gone: the reader sees it and fires close.
        this.#queue = [];
        this.#buffered = 0;
        if (!connection.closed) connection.socket.close();
        if (!(e instanceof ClosedError || e instanceof SocketError || e instanceof Interrupted)) {
          this.#fire(new ErrorEvent("error", { error: e, message: String(e) }));
        }
      } finally {
        this.#writer = null;
      }
      if (this.#queue.length > 0) this.#drain();
    });
  }

  /** @internal Serves the connection in the calling (connection) thread until it closes. */
  async _run(connection: Connection): Promise<void> {
    this.#connection = connection;
    this.#state = 1;
    this.#fire(new Event("open"));
    this.#drain();
    try {
      for (;;) {
        const message = await connection.receive();
        if (message === null) break;
        let data: string | Blob | ArrayBuffer;
        if (message.type === "text") data = message.data;
        else {
          const bytes = message.data.slice();
          data = this.binaryType === "arraybuffer" ? bytes.buffer : new Blob([bytes]);
        }
        this.#fire(new MessageEvent("message", { data }));
      }
    } finally {
      this.#state = 3;
      const writer = this.#writer;
      if (writer !== null && !writer.dead) writer.shutdown();
      if (!connection.closed) connection.socket.close();
      const code = connection.closeCode;
      this.#fire(
        new CloseEvent("close", {
          code,
          reason: connection.closeReason,
          wasClean: code !== CloseCode.abnormal,
        }),
      );
    }
  }
}

/**
 * Accepts a WebSocket in a fetch-style handler (see {@linkcode fetchHandler}), as
 * `Deno.upgradeWebSocket` does: returns the socket and the response to return from the
 * handler. The socket opens once that response has been handed back; the connection is
 * then served in its own thread until it closes.
 *
 * The response stands for "101 Switching Protocols" (a `Response` cannot carry 1xx: its
 * status reads 200); return it as it is.
 *
 * @example
 * ```ts ignore
 * server.push(fetchHandler((request) => {
 *   if (request.headers.get("upgrade") !== "websocket") return new Response("hello");
 *   const { socket, response } = upgradeWebSocket(request);
 *   socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * }));
 * ```
 * @throws {TypeError} if `request` is not a WebSocket upgrade (method, Upgrade,
 *   Connection, Sec-WebSocket-Version 13, a valid key) or did not come from our server
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeWebSocketOptions = {},
): { socket: FetchWebSocket; response: Response } {
  const http = httpRequestOf(request);
  if (http === undefined) {
    throw new TypeError("upgradeWebSocket takes a request given by fetchHandler");
  }
  const h = http.headers;
  if (request.method !== "GET") throw new TypeError("a WebSocket upgrade must be a GET");
  if (!h.hasToken("upgrade", "websocket")) {
    throw new TypeError("Invalid Header: 'upgrade' header must contain 'websocket'");
  }
  if (!h.hasToken("connection", "upgrade")) {
    throw new TypeError("Invalid Header: 'connection' header must contain 'Upgrade'");
  }
  if (h.get("sec-websocket-version") !== "13") {
    throw new TypeError("Invalid Header: 'sec-websocket-version' header must be '13'");
  }
  const key = h.get("sec-websocket-key");
  if (!isValidKey(key)) throw new TypeError("Invalid Header: 'sec-websocket-key' is not valid");
  const protocol = options.protocol ?? "";
  if (protocol !== "") {
    const offered = (h.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(protocol)) {
      throw new TypeError(`the client did not offer the subprotocol ${protocol}`);
    }
  }
  const socket = new FetchWebSocket(request.url, protocol, options.closeTimeout ?? 5);
  const response = new Response(null, { status: 200 });
  registerUpgrade(response, async (served: HttpRequest) => {
    const { socket: raw, reader } = served.upgrade();
    try {
      await raw.send(encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
          `sec-websocket-accept: ${acceptKey(key)}\r\n` +
          (protocol ? `sec-websocket-protocol: ${protocol}\r\n` : "") + "\r\n",
      ));
    } catch (e) {
      throw markClientGone(e); // the client gone before its 101: nothing to report
    }
    await socket._run(new Connection(raw, reader, false, protocol, options));
  });
  return { socket, response };
}
