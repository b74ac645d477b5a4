/**
 * A request on an HTTP/2 stream: the same {@linkcode HttpRequest} API as on HTTP/1.1
 * (`respond`, `push`, `done`, `error`, `body`), over HEADERS and DATA frames.
 *
 * @module
 */

import type { Address } from "../../../net/address.ts";
import type { SocketReader } from "../../../net/buffered_reader.ts";
import type { Socket } from "../../../net/socket.ts";
import { withTimeout } from "../../../core/with_timeout.ts";
import { TimeoutError } from "../../../core/errors.ts";
import { Http2BodyReader } from "../body.ts";
import {
  BodyTooLargeError,
  HttpError,
  HttpProtocolError,
  InvalidFieldError,
  PeerTimeoutError,
  STATUS_TEXT,
} from "../errors.ts";
import { checkField, HttpHeaders, lower } from "../headers.ts";
import type { RequestHead } from "../parse.ts";
import { escapeHtml, Http2Request } from "../request.ts";
import { SENT } from "../reply_bytes.ts";
import { CANCEL, CONNECTION_FIELDS, INTERNAL_ERROR } from "./constants.ts";
import type { Http2Stream } from "./_stream.ts";
import type { StreamResetError } from "./errors.ts";

const EMPTY = new Uint8Array(0);
const UTF8 = new TextEncoder();
const NO_FIELDS: Record<string, string> = Object.freeze({});
/** Pushed data is sent once this much is buffered (and at `done`). */
const FLUSH_AT = 16384;

let dateText = new Date().toUTCString();
let dateAt = performance.now();

/** The Date header, re-read at most once a second. */
function httpDate(): string {
  const t = performance.now();
  if (t - dateAt >= 1000) {
    dateAt = t;
    dateText = new Date().toUTCString();
  }
  return dateText;
}

/** A request body arriving in DATA frames (see {@linkcode Http2BodyReader}). */
export class Http2StreamBodyReader extends Http2BodyReader {
  readonly #stream: Http2Stream;
  readonly #limit: number;
  #done = false;
  #total = 0;

  /** @internal Made by the HTTP/2 connection for a request with a body. */
  constructor(stream: Http2Stream, reader: SocketReader, limit: number) {
    const declared = stream.declaredLength;
    super(
      reader,
      declared >= 0 ? { kind: "length", length: declared } : { kind: "close" },
      limit,
    );
    this.#stream = stream;
    this.#limit = limit;
  }

  /** Whether the whole body has been read. */
  override get done(): boolean {
    return this.#done || super.tooLarge;
  }

  /** Bytes read so far. */
  override get received(): number {
    return this.#total;
  }

  /**
   * The next piece of the body (at most `max` bytes), or an empty array at its end.
   * Interruption point: nothing is lost.
   * @throws {BodyTooLargeError} past the limit
   * @throws {StreamResetError} if the peer reset the stream
   * @throws {PeerTimeoutError} if no data came within the body timeout (the stream is reset)
   */
  override async read(max = 65536): Promise<Uint8Array> {
    if (super.tooLarge) throw new BodyTooLargeError(this.#limit);
    if (this.#done) return EMPTY;
    if (this.onFirstRead !== null) {
      const first = this.onFirstRead;
      this.onFirstRead = null;
      await first();
    }
    const s = this.#stream;
    while (s.buffered === 0 && !s.remoteEnded) {
      if (s.reset !== null) throw s.reset;
      try {
        await withTimeout(s.host.bodyTimeout, () => s.changed());
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
        s.host.reset(s, CANCEL);
        // The server's deadline on its client, not the handler's failure.
        throw new PeerTimeoutError(s.host.bodyTimeout, "body");
      }
    }
    if (s.reset !== null && s.buffered === 0) throw s.reset;
    if (s.buffered === 0) {
      this.#done = true;
      this.trailers = s.trailers;
      return EMPTY;
    }
    const chunk = s.chunks[s.chunkAt];
    let piece: Uint8Array;
    if (chunk.length <= max) {
      piece = chunk;
      s.chunks[s.chunkAt++] = EMPTY;
      if (s.chunkAt === s.chunks.length) {
        s.chunks.length = 0;
        s.chunkAt = 0;
      }
    } else {
      piece = chunk.subarray(0, max);
      s.chunks[s.chunkAt] = chunk.subarray(max);
    }
    s.buffered -= piece.length;
    this.#total += piece.length;
    s.host.consumed(s, piece.length);
    if (this.#total > this.#limit) throw new BodyTooLargeError(this.#limit);
    if (s.buffered === 0 && s.remoteEnded) {
      this.#done = true;
      this.trailers = s.trailers;
    }
    return piece;
  }

  /** Reads and drops the rest of the body, up to `max` bytes; false if more remained. */
  override async skip(max: number): Promise<boolean> {
    if (super.tooLarge) return false;
    let skipped = 0;
    while (!this.#done) {
      if (skipped > max) return false;
      skipped += (await this.read()).length;
    }
    return true;
  }
}

/** A request on an HTTP/2 stream (see {@linkcode Http2Request}). */
export class Http2StreamRequest extends Http2Request {
  readonly #stream: Http2Stream;
  #headers: HttpHeaders | null = null;
  #fields: Record<string, string> | null = null;
  #trailers: HttpHeaders | null = null;
  #pending: (string | Uint8Array)[] | null = null;
  #pendingSize = 0;
  #headSent = false;
  #finished = false;

  /** @internal Made by the HTTP/2 connection for each stream. */
  constructor(
    head: RequestHead,
    body: Http2StreamBodyReader | null,
    socket: Socket,
    reader: SocketReader,
    remote: Address,
    stream: Http2Stream,
  ) {
    super(head, body, socket, reader, remote, true);
    this.#stream = stream;
  }

  /** The stream's identifier. */
  get streamId(): number {
    return this.#stream.id;
  }

  /**
   * @internal Calls `fn` once if the stream is reset (by the client, or by the connection
   * ending): what the client going away looks like on HTTP/2 (the fetch adapter aborts
   * its request's signal with it). The stream's thread is interrupted as well.
   */
  _onReset(fn: (error: StreamResetError) => void): void {
    const s = this.#stream;
    if (s.reset !== null) fn(s.reset);
    else s.onReset = fn;
  }

  /** "HTTP/2". */
  override get version(): string {
    return "HTTP/2";
  }

  /** The reply's header fields (made on first use). */
  override get replyHeaders(): HttpHeaders {
    let headers = this.#headers;
    if (headers === null) {
      headers = this.#headers = new HttpHeaders();
      const fields = this.#fields;
      if (fields !== null) {
        this.#fields = null;
        for (const name in fields) headers.set(name, fields[name]);
      }
    }
    return headers;
  }

  /** Trailer fields sent after the reply's body (made on first use). */
  get replyTrailers(): HttpHeaders {
    return this.#trailers ??= new HttpHeaders();
  }

  /** Whether the reply's head has been sent. */
  override get headSent(): boolean {
    return this.#headSent;
  }

  /** Whether the reply is complete. */
  override get finished(): boolean {
    return this.#finished;
  }

  /** @internal Streams are never kept or upgraded. */
  override get keepAlive(): boolean {
    return true;
  }

  /** @internal */
  override get upgraded(): boolean {
    return false;
  }

  /** @internal Nothing to do: the connection's GOAWAY says it. */
  override closeAfter(): void {}

  #bodyAllowed(): boolean {
    return this.method !== "HEAD" && this.status >= 200 && this.status !== 204 &&
      this.status !== 304;
  }

  /**
   * The reply head's fields; `length` the body's length, or -1 if not known yet. Checks
   * the status and the fields given as a record (an `HttpHeaders` checks on `set`) as
   * HTTP/1.1 does: HPACK would carry CR, LF or NUL through to whoever translates the
   * reply back to HTTP/1.1. When one is malformed, forgets the reply's fields (the error
   * page that follows must not carry them) and throws.
   * @throws {InvalidFieldError} before anything is sent
   */
  #headFields(length: number): string[] {
    try {
      return this.#checkedHeadFields(length);
    } catch (e) {
      this.#fields = null;
      this.#headers = null;
      throw e;
    }
  }

  #checkedHeadFields(length: number): string[] {
    const status = this.status;
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw new InvalidFieldError(String(status), "status");
    }
    const out = [":status", String(status)];
    let hasLength = false;
    const headers = this.#headers;
    if (headers !== null) {
      const flat = headers._flat();
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i];
        if (CONNECTION_FIELDS.has(name)) continue;
        if (name === "content-length") hasLength = true;
        out.push(name, flat[i + 1]);
      }
    } else {
      const fields = this.#fields;
      for (const name in fields) {
        const key = lower(name);
        const value = fields[name];
        checkField(key, value);
        if (CONNECTION_FIELDS.has(key)) continue;
        if (key === "content-length") hasLength = true;
        out.push(key, value);
      }
    }
    if (!hasLength && length >= 0 && this.status >= 200 && this.status !== 204) {
      if (this.status !== 304) out.push("content-length", String(length));
    }
    out.push("date", httpDate());
    return out;
  }

  #trailerFields(): string[] | null {
    const t = this.#trailers;
    if (t === null || t.size === 0) return null;
    const out: string[] = [];
    const flat = t._flat();
    for (let i = 0; i < flat.length; i += 2) {
      if (!CONNECTION_FIELDS.has(flat[i])) out.push(flat[i], flat[i + 1]);
    }
    return out;
  }

  #take(): Uint8Array | null {
    const parts = this.#pending;
    if (parts === null) return null;
    this.#pending = null;
    this.#pendingSize = 0;
    if (parts.length === 1) return bytesOf(parts[0]);
    const chunks = parts.map(bytesOf);
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /**
   * Adds data to the reply; it goes out once 16 KiB are buffered, or at `done`.
   * Interruption point when it sends.
   * @throws {HttpError} after `done`
   */
  override async push(data: string | Uint8Array): Promise<void> {
    if (this.#finished) throw new HttpError(500, "push after done");
    const size = typeof data === "string" ? data.length : data.length;
    if (size === 0) return;
    (this.#pending ??= []).push(data);
    this.#pendingSize += size;
    if (this.#pendingSize >= FLUSH_AT) await this.flush();
  }

  /** Sends the head (if not sent) and what `push` buffered, now. Interruption point. */
  override async flush(): Promise<void> {
    const s = this.#stream;
    if (!this.#headSent) {
      const fields = this.#headFields(-1);
      this.#headSent = true;
      s.host.sendHeaders(s, fields, false);
    }
    const body = this.#take();
    if (body !== null && this.#bodyAllowed()) await s.host.sendData(s, body, false);
  }

  /**
   * Completes the reply (with `data` appended): the head if not sent, the rest of the
   * body, the trailers. Called by the server if the handler returns without it.
   * Interruption point.
   */
  override done(data?: string | Uint8Array): Promise<void> {
    if (this.#finished) return SENT;
    this.#finished = true;
    if (data !== undefined && (typeof data === "string" ? data.length : data.length) > 0) {
      (this.#pending ??= []).push(data);
    }
    const body = this.#take();
    const s = this.#stream, host = s.host;
    const allowed = this.#bodyAllowed();
    const size = body === null || !allowed ? 0 : body.length;
    const trailers = this.#trailerFields();
    if (!this.#headSent) {
      let fields: string[];
      try {
        fields = this.#headFields(allowed ? size : this.method === "HEAD" ? -1 : 0);
      } catch (e) {
        this.#finished = false; // the error page that follows is the reply
        throw e;
      }
      this.#headSent = true;
      host.sendHeaders(s, fields, size === 0 && trailers === null);
    } else if (size === 0 && trailers === null) {
      // Head and body already went out: an empty DATA frame ends the stream.
      return this.#finish(EMPTY, true);
    }
    if (size > 0) return this.#finish(body!, trailers === null, trailers);
    if (trailers !== null) host.sendHeaders(s, trailers, true);
    return SENT;
  }

  /** Sends `body` (ending the stream if `end`), then the trailers if any. */
  #finish(body: Uint8Array, end: boolean, trailers: string[] | null = null): Promise<void> {
    const s = this.#stream, host = s.host;
    const sent = host.trySendData(s, body, end);
    if (sent === body.length) {
      if (trailers !== null) host.sendHeaders(s, trailers, true);
      return SENT;
    }
    return (async () => {
      await host.sendData(s, body.subarray(sent), end);
      if (trailers !== null) host.sendHeaders(s, trailers, true);
    })();
  }

  /** Sends a whole reply: status, body and extra header fields. Interruption point. */
  override respond(
    status: number,
    body: string | Uint8Array = "",
    headers: Record<string, string> = NO_FIELDS,
  ): Promise<void> {
    this.status = status;
    if (this.#headers === null && this.#fields === null) this.#fields = headers;
    else for (const name in headers) this.replyHeaders.set(name, headers[name]);
    return this.done(body);
  }

  /**
   * Replies with an error page for `status`. If the head was already sent, the stream is
   * reset (INTERNAL_ERROR) instead: the other streams go on.
   */
  override async error(status: number, detail = ""): Promise<void> {
    if (this.#headSent) {
      if (!this.#finished) {
        this.#finished = true;
        this.#stream.host.reset(this.#stream, INTERNAL_ERROR);
      }
      return;
    }
    this.#pending = null;
    this.#pendingSize = 0;
    this.status = status;
    const reason = STATUS_TEXT[status] ?? "Error";
    const headers = this.replyHeaders;
    headers.delete("content-length");
    headers.set("content-type", "text/html; charset=utf-8");
    await this.done(
      `<!doctype html><title>${status} ${reason}</title><h1>${status} ${reason}</h1>` +
        (detail ? `<p>${escapeHtml(detail)}</p>` : "") + "\n",
    );
  }

  /**
   * Not available on HTTP/2 (RFC 8441's extended CONNECT is not implemented: WebSocket
   * stays on HTTP/1.1).
   * @throws {HttpProtocolError} always (501)
   */
  override upgrade(): never {
    throw new HttpProtocolError("upgrades are not available on HTTP/2", 501);
  }

  /** "GET /path HTTP/2" */
  override toString(): string {
    return `${this.method} ${this.target} HTTP/2`;
  }
}

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? UTF8.encode(data) : data;
}
