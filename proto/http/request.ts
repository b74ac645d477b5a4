/**
 * A request being served, and its reply: Shrapnel's request object (`push`, `done`,
 * `error`) in TypeScript.
 *
 * @module
 */

import { concatBytes } from "../../core/bytes.ts";
import type { Address } from "../../net/address.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import type { Socket } from "../../net/socket.ts";
import type { BodyReader } from "./body.ts";
import { HttpError, STATUS_TEXT } from "./errors.ts";
import { HttpHeaders } from "./headers.ts";
import type { RequestHead } from "./parse.ts";

const encoder = new TextEncoder();
const RESOLVED: Promise<void> = Promise.resolve();
/** Pushed data is sent once this much is buffered (and at `done`). */
const FLUSH_AT = 16384;

let dateText = new Date().toUTCString();
let dateUses = 0;
/**
 * The Date header. Refreshed by the server's sweeper thread about once a second
 * (`refreshHttpDate`), and here every 4096 replies in case no sweeper runs: no clock read
 * per reply.
 */
function httpDate(): string {
  if (++dateUses === 4096) refreshHttpDate();
  return dateText;
}

/** @internal Re-reads the clock for the Date header. */
export function refreshHttpDate(): void {
  dateUses = 0;
  dateText = new Date().toUTCString();
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * One request on a connection, with its reply. Set `status` and `replyHeaders`, then
 * `push` data and call `done` (or `respond` in one go); `error(code)` sends an error page.
 * Without a Content-Length, data pushed past 16 KiB goes out chunked (HTTP/1.1) or until
 * the connection closes (HTTP/1.0).
 *
 * Sending blocks the handler's thread while the socket is full: each of `push`, `done`,
 * `respond`, `error` is an interruption point.
 *
 * @example
 * ```ts ignore
 * server.route("GET", "/hello/:name", async (request) => {
 *   await request.respond(200, `hello ${request.params.name}\n`, { "content-type": "text/plain" });
 * });
 * ```
 */
export class HttpRequest {
  /** The method ("GET"...). */
  readonly method: string;
  /** The request target as sent ("/path?query"). */
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: 0 | 1;
  /** The request's header fields. */
  readonly headers: HttpHeaders;
  /** The request body (empty for most GETs). */
  readonly body: BodyReader;
  /** The client's address. */
  readonly remote: Address;
  /** Parameters captured by a route pattern (":name"). */
  params: Record<string, string> = {};
  /** The reply's status code (200 unless set). */
  status = 200;
  /** The reply's header fields. */
  readonly replyHeaders: HttpHeaders = new HttpHeaders();
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  #rawPath: string | null = null;
  #rawQuery: string | null = null;
  #path: string | null = null;
  #query: URLSearchParams | null = null;
  #pending: Uint8Array[] = [];
  #pendingSize = 0;
  #headSent = false;
  #chunked = false;
  #finished = false;
  #keepAlive: boolean;
  #upgraded = false;
  #untilClose = false;

  /** @internal Made by the server for each request. */
  constructor(
    head: RequestHead,
    body: BodyReader,
    socket: Socket,
    reader: SocketReader,
    remote: Address,
    keepAlive: boolean,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.minor = head.minor;
    this.headers = head.headers;
    this.body = body;
    this.remote = remote;
    this.#socket = socket;
    this.#reader = reader;
    this.#keepAlive = keepAlive;
  }

  #split(): void {
    if (this.#rawPath !== null) return;
    let t = this.target;
    if (t.charCodeAt(0) !== 47 /* / */ && /^https?:\/\//i.test(t)) {
      const slash = t.indexOf("/", t.indexOf("//") + 2); // absolute form: drop the authority
      t = slash < 0 ? "/" : t.slice(slash);
    }
    const hash = t.indexOf("#");
    if (hash >= 0) t = t.slice(0, hash);
    const q = t.indexOf("?");
    this.#rawPath = q < 0 ? t : t.slice(0, q);
    this.#rawQuery = q < 0 ? "" : t.slice(q + 1);
  }

  /** The path, percent-decoded ("/a b" for "/a%20b"); as sent if it cannot be decoded. */
  get path(): string {
    if (this.#path !== null) return this.#path;
    this.#split();
    const raw = this.#rawPath!;
    let path = raw;
    if (raw.includes("%")) {
      try {
        path = decodeURIComponent(raw);
      } catch {
        path = raw;
      }
    }
    return this.#path = path;
  }

  /** The query parameters. */
  get query(): URLSearchParams {
    if (this.#query === null) {
      this.#split();
      this.#query = new URLSearchParams(this.#rawQuery!);
    }
    return this.#query;
  }

  /** "HTTP/1.1" or "HTTP/1.0". */
  get version(): string {
    return this.minor === 1 ? "HTTP/1.1" : "HTTP/1.0";
  }

  /** Whether the reply's head has been sent. */
  get headSent(): boolean {
    return this.#headSent;
  }

  /** Whether the reply is complete. */
  get finished(): boolean {
    return this.#finished;
  }

  /** @internal Whether the connection can carry another request after this one. */
  get keepAlive(): boolean {
    return this.#keepAlive && !this.#untilClose && !this.#upgraded;
  }

  /** @internal Whether a handler took the connection over. */
  get upgraded(): boolean {
    return this.#upgraded;
  }

  /** @internal The server is closing: no more requests on this connection. */
  closeAfter(): void {
    this.#keepAlive = false;
  }

  #bodyAllowed(): boolean {
    return this.method !== "HEAD" && this.status >= 200 && this.status !== 204 &&
      this.status !== 304;
  }

  #head(length: number | null): string {
    const reason = STATUS_TEXT[this.status] ?? "Unknown";
    let head = `HTTP/1.${this.minor} ${this.status} ${reason}\r\ndate: ${httpDate()}\r\n`;
    const headers = this.replyHeaders;
    if (headers.hasToken("connection", "close")) this.#keepAlive = false;
    const noBody = this.status < 200 || this.status === 204 || this.status === 304;
    if (!headers.has("content-length") && !noBody) {
      if (length !== null) headers.set("content-length", String(length));
      else if (this.minor === 1) {
        headers.set("transfer-encoding", "chunked");
        this.#chunked = true;
      } else {
        this.#untilClose = true; // HTTP/1.0 without a length: the end is the close
      }
    }
    head += headers.toString();
    if (!headers.has("connection")) {
      if (!this.keepAlive) head += "connection: close\r\n";
      else if (this.minor === 0) head += "connection: keep-alive\r\n";
    }
    return head + "\r\n";
  }

  #write(parts: Uint8Array[]): Promise<void> {
    return this.#socket.send(concatBytes(parts)) as Promise<unknown> as Promise<void>;
  }

  /** Head and body in one buffer and one send: the common whole reply. */
  #writeWhole(head: string, body: Uint8Array[], size: number): Promise<void> {
    const n = head.length;
    const out = new Uint8Array(n + size);
    // ASCII, byte by byte: cheaper than a call into the encoder for a head this short.
    for (let i = 0; i < n; i++) {
      const c = head.charCodeAt(i);
      if (c > 0x7f) return this.#write([encoder.encode(head), ...body]); // non-ASCII value
      out[i] = c;
    }
    let offset = n;
    for (const b of body) {
      out.set(b, offset);
      offset += b.length;
    }
    return this.#socket.send(out) as Promise<unknown> as Promise<void>;
  }

  #take(): Uint8Array[] {
    const parts = this.#pending;
    this.#pending = [];
    this.#pendingSize = 0;
    return parts;
  }

  /**
   * Adds data to the reply; it goes out once 16 KiB are buffered, or at `done`.
   * Interruption point when it sends.
   * @throws {HttpError} after `done`
   */
  async push(data: string | Uint8Array): Promise<void> {
    if (this.#finished) throw new HttpError(500, "push after done");
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length === 0) return;
    this.#pending.push(bytes);
    this.#pendingSize += bytes.length;
    if (this.#pendingSize >= FLUSH_AT) await this.flush();
  }

  /** Sends what `push` buffered now (the head first, chunked if no length was set). */
  async flush(): Promise<void> {
    const parts: Uint8Array[] = [];
    if (!this.#headSent) {
      this.#headSent = true;
      parts.push(encoder.encode(this.#head(null)));
    }
    const body = this.#take();
    if (this.#bodyAllowed() && body.length > 0) {
      if (this.#chunked) {
        let size = 0;
        for (const b of body) size += b.length;
        parts.push(encoder.encode(`${size.toString(16)}\r\n`), ...body, encoder.encode("\r\n"));
      } else parts.push(...body);
    }
    if (parts.length > 0) await this.#write(parts);
  }

  /**
   * Completes the reply (with `data` appended, if given). Called by the server if the
   * handler returns without it. Interruption point.
   */
  done(data?: string | Uint8Array): Promise<void> {
    // Not async: a handler's `return request.respond(...)` costs no extra frames.
    if (this.#finished) return RESOLVED;
    if (data !== undefined) {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      if (bytes.length > 0) {
        this.#pending.push(bytes);
        this.#pendingSize += bytes.length;
      }
    }
    this.#finished = true;
    if (!this.#headSent) {
      this.#headSent = true;
      const allowed = this.#bodyAllowed();
      const size = this.#pendingSize;
      const head = this.#head(allowed ? size : 0);
      const body = this.#take();
      return allowed ? this.#writeWhole(head, body, size) : this.#writeWhole(head, [], 0);
    }
    const parts: Uint8Array[] = [];
    const body = this.#take();
    if (this.#bodyAllowed()) {
      if (this.#chunked) {
        const size = this.#pendingSizeOf(body);
        if (size > 0) {
          parts.push(encoder.encode(`${size.toString(16)}\r\n`), ...body, encoder.encode("\r\n"));
        }
        parts.push(encoder.encode("0\r\n\r\n"));
      } else parts.push(...body);
    }
    return parts.length > 0 ? this.#write(parts) : RESOLVED;
  }

  #pendingSizeOf(parts: Uint8Array[]): number {
    let size = 0;
    for (const p of parts) size += p.length;
    return size;
  }

  /**
   * Sends a whole reply: status, body and extra header fields. Interruption point.
   *
   * @example
   * ```ts ignore
   * await request.respond(200, JSON.stringify(data), { "content-type": "application/json" });
   * ```
   */
  respond(
    status: number,
    body: string | Uint8Array = "",
    headers: Record<string, string> = {},
  ): Promise<void> {
    this.status = status;
    for (const name in headers) this.replyHeaders.set(name, headers[name]);
    return this.done(body);
  }

  /**
   * Replies with an error page for `status`. If the head was already sent, the reply
   * cannot change any more: the connection is closed after it instead.
   */
  async error(status: number, detail = ""): Promise<void> {
    if (this.#headSent) {
      this.#keepAlive = false;
      if (!this.#finished) {
        this.#finished = true;
        this.#untilClose = true;
      }
      return;
    }
    this.#take();
    this.status = status;
    const reason = STATUS_TEXT[status] ?? "Error";
    this.replyHeaders.delete("content-length");
    this.replyHeaders.delete("transfer-encoding");
    this.replyHeaders.set("content-type", "text/html; charset=utf-8");
    if (status >= 400 && status !== 404 && status !== 405) this.#keepAlive = false;
    await this.done(
      `<!doctype html><title>${status} ${reason}</title><h1>${status} ${reason}</h1>` +
        (detail ? `<p>${escapeHtml(detail)}</p>` : "") + "\n",
    );
  }

  /**
   * Takes the connection over (WebSocket and other upgrades): the server stops serving
   * it and does not close it. Returns the socket and the reader holding any bytes the
   * client sent after the head.
   */
  upgrade(): { socket: Socket; reader: SocketReader } {
    this.#upgraded = true;
    this.#finished = true;
    this.#headSent = true;
    return { socket: this.#socket, reader: this.#reader };
  }

  /** "GET /path HTTP/1.1" */
  toString(): string {
    return `${this.method} ${this.target} ${this.version}`;
  }
}
