/**
 * A request being served, and its reply: Shrapnel's request object (`push`, `done`,
 * `error`) in TypeScript.
 *
 * @module
 */

import type { Address } from "../../net/address.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import type { Socket } from "../../net/socket.ts";
import { BodyReader, type PeerDeadline } from "./body.ts";
import {
  ContentLengthError,
  HttpError,
  InvalidFieldError,
  PeerTimeoutError,
  STATUS_TEXT,
} from "./errors.ts";
import {
  CONNECTION,
  CONTENT_LENGTH,
  framingBit,
  HttpHeaders,
  lower,
  TRANSFER_ENCODING,
  valueHasToken,
} from "./headers.ts";
import type { RequestHead } from "./parse.ts";
import { ClosedError, Interrupted, TimeoutError } from "../../core/errors.ts";
import { EOFError, PeerLostError, SocketError, TooManyOpenFilesError } from "../../net/errors.ts";
import { HttpTimeoutError } from "./client_timeouts.ts";

import type { StreamResetError } from "./h2/errors.ts";
import {
  assembledLength,
  assembledSince,
  byteLength,
  type HeldReplies,
  putBytes,
  putChunk,
  putDecimal,
  putFieldName,
  putFieldValue,
  putText,
  replyIsEmpty,
  sendReply,
  SENT,
  startReply,
} from "./reply_bytes.ts";

/** Pushed data is sent once this much is buffered (and at `done`). */
const FLUSH_AT = 16384;

type Chunk = string | Uint8Array;

/** `respond`'s default fields: none (shared, frozen). */
const NO_FIELDS: Record<string, string> = Object.freeze({});

const NO_BODY = { kind: "length", length: 0 } as const;

let dateText = new Date().toUTCString();
/** Bumped when `dateText` is re-read: head starts made before are stale. */
let dateEpoch = 0;
let dateUses = 0;

/** A reply's first bytes for one version and status, with the date of one epoch. */
interface HeadStart {
  bytes: Uint8Array;
  epoch: number;
}
const headStarts: (HeadStart | undefined)[][] = [[], []];

/**
 * The bytes of "HTTP/1.1 200 OK\r\ndate: <date>", made once per status and date. The
 * date is refreshed by the server's sweeper thread about once a second
 * (`refreshHttpDate`), and here every 4096 replies in case no sweeper runs: no clock read
 * per reply.
 */
function headStart(minor: 0 | 1, status: number): Uint8Array {
  if (++dateUses === 4096) refreshHttpDate();
  const row = headStarts[minor];
  const start = row[status];
  if (start !== undefined && start.epoch === dateEpoch) return start.bytes;
  // A status not seen this second: checked here, so the cached ones cost nothing.
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new InvalidFieldError(String(status), "status");
  }
  const bytes = new TextEncoder().encode(
    `HTTP/1.${minor} ${status} ${STATUS_TEXT[status] ?? "Unknown"}\r\ndate: ${dateText}`,
  );
  row[status] = { bytes, epoch: dateEpoch };
  return bytes;
}

/**
 * The whole head of the last reply made from `respond`'s fields with no framing field
 * among them, and what it was made of: a client repeating its request (the rule on a
 * busy route) gets the same head, copied in one piece instead of assembled and checked
 * field by field. Names and values in turn in `lastFields`, as `for...in` gave them.
 */
let lastHead: Uint8Array | null = null;
let lastFields: string[] = [];
let lastEpoch = -1, lastStatus = 0, lastMinor = 0, lastLength = -1, lastClose = false;
/**
 * Heads that could have been kept since the last hit: one in 32 is kept, so replies
 * whose fields differ every time do not pay for a copy each (and a new date, once a
 * second, is kept after 32 replies).
 */
let headMisses = 0;
const KEEP_EVERY = 32;

/** Whether `fields` are `lastFields`, in the same order. */
function sameFields(fields: Record<string, string> | null): boolean {
  const last = lastFields;
  let i = 0;
  for (const name in fields) {
    if (i >= last.length || last[i] !== name || last[i + 1] !== fields[name]) return false;
    i += 2;
  }
  return i === last.length;
}

/** @internal Re-reads the clock for the Date header. */
export function refreshHttpDate(): void {
  dateUses = 0;
  dateText = new Date().toUTCString();
  dateEpoch++;
}

/** Whether `text` holds a "%" (a loop: `includes` is a builtin call, dearer for short paths). */
function hasPercent(text: string): boolean {
  if (text.length > 64) return text.includes("%");
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 37) return true;
  return false;
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
  #body: BodyReader | null;
  /** The client's address. */
  readonly remote: Address;
  /** Made on first use: most routes capture nothing, and most handlers never look. */
  #params: Record<string, string> | null = null;
  /** The reply's status code (200 unless set). */
  status = 200;
  #replyHeaders: HttpHeaders | null = null;
  /**
   * The fields given to `respond` while no reply headers had been asked for: written
   * into the head as they are, without making a headers object (the common reply).
   */
  #replyFields: Record<string, string> | null = null;
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  #rawPath: string | null = null;
  #rawQuery: string | null = null;
  #path: string | null = null;
  #query: URLSearchParams | null = null;
  #pending: Chunk[] | null = null;
  #pendingSize = 0;
  #headSent = false;
  #chunked = false;
  #finished = false;
  #keepAlive: boolean;
  #upgraded = false;
  #untilClose = false;
  /** A streamed body's Content-Length as the handler set it (-1: none), and its text. */
  #declared = -1;
  #declaredText = "";
  /** Body bytes sent so far under `#declared`. */
  #declaredSent = 0;
  readonly #deadline: PeerDeadline | null;
  /** The connection's held pipelined replies (see `HeldReplies`), if it holds any. */
  readonly #held: HeldReplies | null;

  /** @internal Made by the server for each request. */
  constructor(
    head: RequestHead,
    body: BodyReader | null,
    socket: Socket,
    reader: SocketReader,
    remote: Address,
    keepAlive: boolean,
    deadline: PeerDeadline | null = null,
    held: HeldReplies | null = null,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.minor = head.minor;
    this.headers = head.headers;
    this.#body = body;
    this.remote = remote;
    this.#socket = socket;
    this.#reader = reader;
    this.#keepAlive = keepAlive;
    this.#deadline = deadline;
    this.#held = held;
  }

  /** Parameters captured by a route pattern (":name"); empty if it captured none. */
  get params(): Record<string, string> {
    return this.#params ??= {};
  }
  set params(params: Record<string, string>) {
    this.#params = params;
  }

  /** The reply's header fields (made on first use). */
  get replyHeaders(): HttpHeaders {
    let headers = this.#replyHeaders;
    if (headers === null) {
      headers = this.#replyHeaders = new HttpHeaders();
      const fields = this.#replyFields;
      if (fields !== null) {
        this.#replyFields = null;
        for (const name in fields) headers.set(name, fields[name]);
      }
    }
    return headers;
  }

  /** The request body (empty for most GETs). */
  get body(): BodyReader {
    // Made on first use when the request has none: most GETs never look.
    return this.#body ??= new BodyReader(this.#reader, NO_BODY);
  }

  /** @internal The connection's socket and reader, without taking the connection over. */
  get _connection(): { socket: Socket; reader: SocketReader } {
    return { socket: this.#socket, reader: this.#reader };
  }

  /** @internal The body if the request has one or it was looked at; null otherwise. */
  get _bodyIfAny(): BodyReader | null {
    return this.#body;
  }

  #split(): void {
    if (this.#rawPath !== null) return;
    let t = this.target;
    if (t === "/") {
      this.#rawPath = "/";
      this.#rawQuery = "";
      return;
    }
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
    if (hasPercent(raw)) {
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

  /**
   * Assembles the reply's head (see `reply_bytes.ts`); `length` null: not known yet, and
   * `first` bytes of it are about to follow.
   * @throws {ContentLengthError} the handler's Content-Length disagrees with the body
   */
  #putHead(length: number | null, first = 0): void {
    const close = !this.keepAlive;
    if (
      lastHead !== null && this.#replyHeaders === null && length === lastLength &&
      this.status === lastStatus && this.minor === lastMinor && close === lastClose &&
      lastEpoch === dateEpoch && sameFields(this.#replyFields)
    ) {
      if (++dateUses === 4096) refreshHttpDate(); // as `headStart` counts
      headMisses = 0;
      putBytes(lastHead);
      return;
    }
    const from = assembledLength();
    putBytes(headStart(this.minor, this.status));
    // The handler's fields, and which framing fields among them.
    let framing = 0, connection: string | null = null, declared: string | null = null;
    const headers = this.#replyHeaders;
    if (headers !== null) {
      const fields = headers._flat();
      for (let i = 0; i < fields.length; i += 2) {
        putFieldName(fields[i]);
        putFieldValue(fields[i], fields[i + 1]);
      }
      if (headers._mayHave(CONTENT_LENGTH) && headers.has("content-length")) {
        framing |= CONTENT_LENGTH;
        declared = headers.get("content-length");
      }
      if (headers._mayHave(TRANSFER_ENCODING) && headers.has("transfer-encoding")) {
        framing |= TRANSFER_ENCODING;
      }
      if (headers._mayHave(CONNECTION)) connection = headers.get("connection");
    } else {
      const fields = this.#replyFields;
      for (const name in fields) {
        const key = lower(name), value = fields[name];
        putFieldName(key);
        putFieldValue(key, value);
        const bit = framingBit(key);
        framing |= bit;
        if (bit === CONNECTION) {
          connection = connection === null ? value : `${connection}, ${value}`;
        } else if (bit === CONTENT_LENGTH) {
          declared = declared === null ? value : `${declared}, ${value}`;
        }
      }
    }
    if (connection !== null && valueHasToken(connection, "close")) this.#keepAlive = false;
    if (declared !== null && this.#bodyAllowed()) this.#declare(declared, length, first);
    // The framing field the server decides goes straight into the head.
    const noBody = this.status < 200 || this.status === 204 || this.status === 304;
    if (!noBody && (framing & CONTENT_LENGTH) === 0) {
      if (length !== null) {
        putFieldName("content-length");
        putDecimal(length);
      } else if (this.minor === 1) {
        if ((framing & TRANSFER_ENCODING) === 0) {
          putFieldName("transfer-encoding");
          putText("chunked");
        }
        this.#chunked = true;
      } else {
        this.#untilClose = true; // HTTP/1.0 without a length: the end is the close
      }
    }
    if (connection === null) {
      if (!this.keepAlive) putText("\r\nconnection: close");
      else if (this.minor === 0) putText("\r\nconnection: keep-alive");
    }
    putText("\r\n\r\n");
    // Nothing but the status, version, length and keep-alive shaped this head: keep it.
    if (
      headers === null && framing === 0 && length !== null && !this.#chunked &&
      ++headMisses >= KEEP_EVERY
    ) {
      headMisses = 0;
      const fields = this.#replyFields, names: string[] = [];
      for (const name in fields) names.push(name, fields[name]);
      lastHead = assembledSince(from);
      lastFields = names;
      lastEpoch = dateEpoch;
      lastStatus = this.status;
      lastMinor = this.minor;
      lastLength = length;
      lastClose = close;
    }
  }

  /**
   * Checks the handler's Content-Length against the body: a whole body must have exactly
   * that length (refused, not corrected: the handler's idea of its reply is wrong, and a
   * proxy forwarding an upstream length is the usual way); a streamed one is counted.
   * @throws {ContentLengthError} before anything is sent
   */
  #declare(text: string, length: number | null, first: number): void {
    const declared = /^[0-9]{1,15}$/.test(text) ? Number(text) : -1;
    if (length !== null) {
      if (declared !== length) throw new ContentLengthError(text, length);
      return;
    }
    if (declared < first) throw new ContentLengthError(text, first);
    this.#declared = declared;
    this.#declaredText = text;
    this.#declaredSent = 0;
  }

  /**
   * Counts `size` more bytes of a body streamed under the handler's Content-Length.
   * @throws {ContentLengthError} past the declared length (the connection is closed)
   */
  #countDeclared(size: number): void {
    const sent = this.#declaredSent + size;
    if (sent > this.#declared) {
      this.#keepAlive = false;
      throw new ContentLengthError(this.#declaredText, sent);
    }
    this.#declaredSent = sent;
  }

  /**
   * `#putHead`; when a field or the status is malformed, forgets the reply's fields (the
   * error page that follows must not carry them) and the finished mark, then throws.
   * @throws {InvalidFieldError} before anything is sent
   * @throws {ContentLengthError} before anything is sent
   */
  #putHeadOrForget(length: number | null, first = 0): void {
    try {
      this.#putHead(length, first);
    } catch (e) {
      startReply();
      this.#replyFields = null;
      this.#replyHeaders = null;
      this.#finished = false;
      throw e;
    }
  }

  /** Takes the pending body: its chunks, or null if there are none. */
  #take(): Chunk[] | null {
    const parts = this.#pending;
    this.#pending = null;
    this.#pendingSize = 0;
    return parts;
  }

  /** Assembles `body` (chunked if the reply is), after whatever was assembled before. */
  #putBody(body: Chunk[] | null, last: Chunk | undefined, size: number): void {
    if (size === 0 || !this.#bodyAllowed()) return;
    if (this.#chunked) putText(`${size.toString(16)}\r\n`);
    if (body !== null) { for (let i = 0; i < body.length; i++) putChunk(body[i]); }
    if (last !== undefined) putChunk(last);
    if (this.#chunked) putText("\r\n");
  }

  #send(complete: boolean): Promise<void> {
    return sendReply(this.#socket, this.#deadline, this.#held, complete) as Promise<void>;
  }

  /**
   * Adds data to the reply; it goes out once 16 KiB are buffered, or at `done`.
   * Interruption point when it sends.
   * @throws {HttpError} after `done`
   * @throws {ContentLengthError} when it sends more than the reply's Content-Length
   */
  async push(data: string | Uint8Array): Promise<void> {
    if (this.#finished) throw new HttpError(500, "push after done");
    const size = byteLength(data);
    if (size === 0) return;
    (this.#pending ??= []).push(data);
    this.#pendingSize += size;
    if (this.#pendingSize >= FLUSH_AT) await this.flush();
  }

  /**
   * Sends what `push` buffered now (the head first, chunked if no length was set).
   * @throws {ContentLengthError} when that is more than the reply's Content-Length
   */
  flush(): Promise<void> {
    startReply();
    const size = this.#pendingSize;
    if (!this.#headSent) {
      this.#putHeadOrForget(null, size);
      this.#headSent = true;
    }
    if (this.#declared >= 0) this.#countDeclared(size);
    this.#putBody(this.#take(), undefined, size);
    return replyIsEmpty() ? SENT : this.#send(false);
  }

  /**
   * Completes the reply (with `data` appended, if given). Called by the server if the
   * handler returns without it. Interruption point.
   * @throws {ContentLengthError} when the handler set a Content-Length other than the
   * body's: before anything is sent if the whole body is known here (a server answers 500);
   * else before the bytes past it are sent, and the connection is closed. A streamed body
   * shorter than its Content-Length closes the connection after it.
   */
  done(data?: string | Uint8Array): Promise<void> {
    // Not async: a handler's `return request.respond(...)` costs no extra frames.
    if (this.#finished) return SENT;
    this.#finished = true;
    let size = this.#pendingSize;
    const body = this.#take();
    // `data` goes after the pending chunks as it is: no array made for the common reply.
    let last: Chunk | undefined;
    if (data !== undefined) {
      const dataSize = byteLength(data);
      if (dataSize > 0) {
        last = data;
        size += dataSize;
      }
    }
    startReply();
    if (!this.#headSent) {
      // HEAD gets the length GET would have (RFC 9110 9.3.2), without the body.
      this.#putHeadOrForget(this.#bodyAllowed() || this.method === "HEAD" ? size : 0);
      this.#headSent = true;
      this.#putBody(body, last, size);
    } else {
      if (this.#declared >= 0) {
        this.#countDeclared(size);
        // Shorter than declared: only the close tells the client where it ends.
        if (this.#declaredSent < this.#declared) this.#keepAlive = false;
      }
      this.#putBody(body, last, size);
      if (this.#chunked && this.#bodyAllowed()) putText("0\r\n\r\n");
    }
    return replyIsEmpty() ? SENT : this.#send(true);
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
    headers: Record<string, string> = NO_FIELDS,
  ): Promise<void> {
    this.status = status;
    if (this.#replyHeaders === null && this.#replyFields === null) this.#replyFields = headers;
    else for (const name in headers) this.replyHeaders.set(name, headers[name]);
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
   * @throws {HttpError} 503 if replies to earlier pipelined requests on the connection
   *   cannot be sent first without waiting (a client that pipelines and does not read)
   */
  upgrade(): { socket: Socket; reader: SocketReader } {
    const held = this.#held;
    if (held !== null && (held.length > 0 || held.sender !== null)) {
      // Replies to earlier pipelined requests go first. The server holds none when it
      // hands over a request with a Connection field (as an upgrade has), so this is a
      // handler upgrading a plain request while its client does not read.
      held.sendBehind(this.#socket, this.#deadline);
      if (held.sender !== null) {
        throw new HttpError(503, "earlier pipelined replies are still unsent: no upgrade");
      }
    }
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

/**
 * A request on an HTTP/2 stream. Everything {@linkcode HttpRequest} offers works the
 * same (the version reads "HTTP/2"); `upgrade` is not available (WebSocket stays on
 * HTTP/1.1: RFC 8441 is not implemented), and `replyTrailers` adds trailer fields sent
 * after the body.
 *
 * An error after the head went out resets the stream (INTERNAL_ERROR) instead of closing
 * a connection. Sending blocks the handler while the peer's flow-control windows are shut:
 * `push`, `flush`, `done`, `respond`, `error` are interruption points.
 *
 * @example
 * ```ts ignore
 * server.route("GET", "/", (request) => {
 *   if (request instanceof Http2Request) request.replyTrailers.set("x-checksum", "abc");
 *   return request.respond(200, `hello over ${request.version}\n`);
 * });
 * ```
 */
export abstract class Http2Request extends HttpRequest {
  // Implemented in h2/request.ts, loaded with the HTTP/2 connection code (_h2_lazy.ts):
  // this class is what `instanceof` and the docs need, without that code.

  /** The stream's identifier. */
  abstract get streamId(): number;

  /** Trailer fields sent after the reply's body (made on first use). */
  abstract get replyTrailers(): HttpHeaders;

  /**
   * @internal Calls `fn` once if the stream is reset (by the client, or by the connection
   * ending): what the client going away looks like on HTTP/2 (the fetch adapter aborts
   * its request's signal with it). The stream's thread is interrupted as well.
   */
  abstract _onReset(fn: (error: StreamResetError) => void): void;
}

// What ends an exchange quietly: the line between an interruption of a connection (or
// HTTP/2 stream) and a handler's own failure, drawn in one place for every handler kind.
//
// A socket error is only an interruption when it is the exchange's own: the server's
// own operations on the client's connection (reading the request's body, sending the
// reply, an HTTP/2 connection's writer, a server WebSocket's sends) mark the errors they
// raise with `markClientGone`, on their failure path only. The same error types
// from anything else a handler does (its `HttpClient`, a Postgres or AMQP client) are
// the handler's failure: reported, and answered 502.

const CLIENT_GONE: unique symbol = Symbol("shrapnel.http.clientGone");

/**
 * Marks `error`, raised by an operation on the exchange's own connection, as its client
 * gone (a `SocketError`, `EOFError` or `ClosedError`; anything else is left as it is);
 * returns it.
 */
export function markClientGone<E>(error: E): E {
  if (
    (error instanceof SocketError || error instanceof EOFError || error instanceof ClosedError) &&
    (error as Record<symbol, unknown>)[CLIENT_GONE] !== true
  ) {
    Object.defineProperty(error, CLIENT_GONE, { value: true });
  }
  return error;
}

/**
 * Whether `error`, escaping a handler, interrupts its exchange (the connection or stream
 * ends with no reply and no report) rather than fails it (reported, answered): an error
 * of the exchange's own connection (marked by {@linkcode markClientGone}: the client
 * gone), an `Interrupted` that is not a `TimeoutError` (the server's close or its owner's
 * `Shutdown`, a stream reset, the client gone, an interrupt), or the server's own
 * deadline on the client ({@linkcode PeerTimeoutError}). Any other `TimeoutError` is the
 * handler's: its own `withTimeout` (which turns only its own expiry into one), a client's
 * deadline (`HttpTimeoutError`, `ConfirmTimeoutError`); so is any other socket error
 * (its own upstream's).
 */
export function interruptsExchange(error: unknown): boolean {
  if (error instanceof Interrupted) {
    return !(error instanceof TimeoutError) || error instanceof PeerTimeoutError;
  }
  return typeof error === "object" && error !== null &&
    (error as Record<symbol, unknown>)[CLIENT_GONE] === true;
}

/**
 * The status answering a handler's failure: 504 for an `HttpTimeoutError` (an upstream
 * HTTP server did not answer in time), 502 for an upstream connection's failure (a
 * `SocketError` but EMFILE/ENFILE, an `EOFError`, a `PeerLostError`: refused, reset,
 * closed mid-answer), 500 for anything else.
 */
export function failureStatus(error: unknown): number {
  if (error instanceof HttpTimeoutError) return 504;
  if (error instanceof PeerLostError || error instanceof EOFError) return 502;
  if (error instanceof SocketError && !(error instanceof TooManyOpenFilesError)) return 502;
  return 500;
}
