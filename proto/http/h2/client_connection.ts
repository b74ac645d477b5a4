/**
 * The client side of HTTP/2 (RFC 9113) for `HttpClient`: one connection per https origin
 * whose server chose "h2" by ALPN, carrying the concurrent requests of many threads as
 * streams. A reader thread takes the server's frames; the calling threads send their
 * requests and read their responses, blocking only on their own stream's windows and data.
 *
 * @module
 */

import { Interrupted, TimeoutError } from "../../../core/errors.ts";
import { ConditionVariable } from "../../../core/sync/condition_variable.ts";
import { Latch } from "../../../core/sync/latch.ts";
import { current, spawn, type Thread } from "../../../core/thread.ts";
import { SocketReader } from "../../../net/buffered_reader.ts";
import { EOFError, markPeerLost, SocketError } from "../../../net/errors.ts";
import type { Socket } from "../../../net/socket.ts";
import { ClosedError } from "../../../core/errors.ts";
import { BodyReader } from "../body.ts";
import { HttpHeaders } from "../headers.ts";
import { HttpProtocolError } from "../errors.ts";
import {
  ACK,
  CANCEL,
  CONNECTION_FIELDS,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  ENHANCE_YOUR_CALM,
  errorName,
  FLOW_CONTROL_ERROR,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  HIGH_WATER,
  MAX_WINDOW,
  NO_ERROR,
  PADDED,
  PING,
  PREFACE,
  PRIORITY_FLAG,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  WINDOW_UPDATE,
} from "./constants.ts";
import { Budget } from "./_budget.ts";
import { Http2Error, StreamResetError } from "./errors.ts";
import { FrameWriter, readFrameHeader, readUint32 } from "./frames.ts";
import { HpackDecoder, HpackEncoder } from "./hpack.ts";
import { Http2StreamBodyReader } from "./request.ts";
import { Http2Stream, type StreamHost } from "./_stream.ts";

/** What a request sends, as `HttpClient` gives it. */
export interface Http2ClientRequest {
  /** The method, upper case. */
  method: string;
  /** The path and query. */
  path: string;
  /** The authority (host and port as in the URL). */
  authority: string;
  /** Header fields (connection-specific ones are dropped). */
  headers: HttpHeaders;
  /** The body: bytes, or pieces; null for none. */
  body: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null;
}

/** A response's head and body, for `HttpClient` to wrap. */
export interface Http2ClientResponse {
  /** The status code. */
  status: number;
  /** The header fields. */
  headers: HttpHeaders;
  /** The body. */
  body: BodyReader;
  /** Ends the stream: `complete` after the body was read to its end, else it is reset. */
  release(complete: boolean): void;
}

/**
 * What a hostile server may make an {@linkcode Http2ClientConnection} hold or do.
 *
 * @example
 * ```ts
 * import type { Http2ClientOptions } from "./client_connection.ts";
 * import assert from "node:assert/strict";
 * const options: Http2ClientOptions = { maxQueuedBytes: 256 * 1024, controlBurst: 200 };
 * assert.equal(options.controlRate, undefined); // 100 per second
 * ```
 */
export interface Http2ClientOptions {
  /** The largest response body, in bytes (64 MiB). */
  maxBodyBytes?: number;
  /** Seconds a body read may wait for data (60). */
  bodyTimeout?: number;
  /**
   * PING, SETTINGS and unknown frames a server may send in a burst (1000); past it and
   * the rate: GOAWAY ENHANCE_YOUR_CALM, and the connection fails with {@linkcode Http2Error}.
   */
  controlBurst?: number;
  /** Such frames allowed per second in the long run (100). */
  controlRate?: number;
  /**
   * Bytes of frames queued for a server that does not read (1 MiB); past it the
   * connection fails with {@linkcode Http2Error} (ENHANCE_YOUR_CALM).
   */
  maxQueuedBytes?: number;
}

const EMPTY = new Uint8Array(0);
const WINDOW = 1 << 20;

/**
 * One HTTP/2 connection, client side. Requests from any number of threads share it, up to
 * the server's SETTINGS_MAX_CONCURRENT_STREAMS at once (more wait for a stream to end).
 *
 * @example
 * ```ts ignore
 * const { socket, alpnProtocol } = await connectTls("example.com:443", { alpnProtocols: ["h2"] });
 * const h2 = new Http2ClientConnection(socket, { maxBodyBytes: 1 << 20 });
 * const r = await h2.request({ method: "GET", path: "/", authority: "example.com",
 *   headers: new HttpHeaders(), body: null });
 * console.log(r.status, await r.body.text());
 * ```
 */
export class Http2ClientConnection implements StreamHost {
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  readonly #out = new FrameWriter();
  readonly #outReady = new ConditionVariable<void>();
  readonly #drained = new ConditionVariable<void>();
  readonly #slots = new ConditionVariable<void>();
  readonly #encoder = new HpackEncoder();
  readonly #decoder = new HpackDecoder({ maxHeaderListSize: 1 << 20 });
  readonly #streams = new Map<number, Http2Stream>();
  /** Each stream's request method, to name the call a lost server cut short. */
  readonly #methods = new WeakMap<Http2Stream, string>();
  readonly #connWaiters = new Set<Http2Stream>();
  #readerThread: Thread;
  #writerThread: Thread;
  #writerIdle = false;
  #nextId = 1;
  #peerMaxStreams = 100;
  #peerInitialWindow = 65535;
  #peerMaxFrame = 16384;
  #connSendWindow = 65535;
  #connRecvWindow = WINDOW;
  #connUnacked = 0;
  #block: Uint8Array[] = [];
  #blockStream = 0;
  #blockFlags = 0;
  #closed: Error | null = null;
  #goaway = false;
  readonly #control: Budget;
  readonly #maxQueued: number;

  readonly maxBodyBytes: number;
  readonly bodyTimeout: number;

  /**
   * Starts HTTP/2 on `socket` (TLS with "h2" agreed): sends the preface and settings,
   * starts the reader and writer threads.
   * @param socket the connection
   * @param options the largest response body, how long a body read may wait, and what a
   *   hostile server may make us hold (see {@linkcode Http2ClientOptions})
   */
  constructor(socket: Socket, options: Http2ClientOptions = {}) {
    this.#socket = socket;
    this.#reader = new SocketReader(socket, 32768);
    this.maxBodyBytes = options.maxBodyBytes ?? 64 << 20;
    this.bodyTimeout = options.bodyTimeout ?? 60;
    this.#control = new Budget(options.controlBurst ?? 1000, options.controlRate ?? 100);
    this.#maxQueued = options.maxQueuedBytes ?? 1 << 20;
    // The preface is not a frame: the writer sends it before the first SETTINGS.
    this.#prefix = PREFACE;
    this.#out.settings([
      [SETTINGS_ENABLE_PUSH, 0],
      [SETTINGS_MAX_CONCURRENT_STREAMS, 0],
      [SETTINGS_INITIAL_WINDOW_SIZE, WINDOW],
      [SETTINGS_HEADER_TABLE_SIZE, 4096],
    ]);
    this.#out.windowUpdate(0, WINDOW - 65535);
    this.#readerThread = spawn({ name: "h2 client reader" }, () => this.#readLoop());
    this.#writerThread = spawn({ name: "h2 client writer" }, () => this.#writeLoop());
  }

  #prefix: Uint8Array | null = null;

  /** Whether new requests may go on this connection. */
  get usable(): boolean {
    return this.#closed === null && !this.#goaway && this.#nextId < MAX_WINDOW;
  }

  /** Streams open now. */
  get streams(): number {
    return this.#streams.size;
  }

  /**
   * Sends a request on a new stream and waits for the response's head.
   *
   * Interruption point: an interrupted request's stream is reset (CANCEL).
   * @throws {StreamResetError} if the server resets the stream (REFUSED_STREAM: not
   *   processed, safe to retry)
   * @throws {Http2Error} if the connection fails
   */
  async request(request: Http2ClientRequest): Promise<Http2ClientResponse> {
    while (this.#streams.size >= this.#peerMaxStreams && this.usable) await this.#slots.wait();
    if (this.#closed !== null) throw this.#closed;
    if (!this.usable) throw new StreamResetError(REFUSED_STREAM, "the connection is going away");
    const id = this.#nextId;
    this.#nextId += 2;
    const s = new Http2Stream(id, this, WINDOW, this.#peerInitialWindow);
    this.#streams.set(id, s);
    this.#methods.set(s, request.method);
    try {
      const fields = [
        ":method",
        request.method,
        ":scheme",
        "https",
        ":authority",
        request.authority,
        ":path",
        request.path,
      ];
      for (const [name, value] of request.headers) {
        // Host travels as :authority.
        if (name !== "host" && !CONNECTION_FIELDS.has(name)) fields.push(name, value);
      }
      const body = request.body;
      if (body === null || (body instanceof Uint8Array && body.length === 0)) {
        this.sendHeaders(s, fields, true);
      } else if (body instanceof Uint8Array) {
        this.sendHeaders(s, fields, false);
        await this.sendData(s, body, true);
      } else {
        this.sendHeaders(s, fields, false);
        for await (const piece of body) if (piece.length > 0) await this.sendData(s, piece, false);
        this.trySendData(s, EMPTY, true);
      }
      while (s.responseFields === null) {
        if (s.reset !== null) throw s.reset;
        await s.changed();
      }
      const headers = new HttpHeaders();
      let status = 0;
      const f = s.responseFields;
      for (let i = 0; i < f.length; i += 2) {
        if (f[i] === ":status") status = Number(f[i + 1]);
        else if (f[i].charCodeAt(0) !== 58) headers._addLower(f[i], f[i + 1]);
      }
      if (!(status >= 200 && status <= 999)) {
        throw new HttpProtocolError(`bad :status in an HTTP/2 response`, 502);
      }
      const noBody = request.method === "HEAD" || status === 204 || status === 304;
      const reader: BodyReader = noBody || (s.remoteEnded && s.buffered === 0)
        ? new BodyReader(this.#reader, { kind: "length", length: 0 })
        : new Http2StreamBodyReader(s, this.#reader, this.maxBodyBytes);
      return {
        status,
        headers,
        body: reader,
        release: (complete) => {
          if (!complete || !s.remoteEnded) this.reset(s, CANCEL);
          this.#forget(s);
        },
      };
    } catch (e) {
      this.reset(s, CANCEL);
      this.#forget(s);
      throw e;
    }
  }

  /** Ends the connection (GOAWAY, then close); streams in flight fail. */
  close(): void {
    if (this.#closed !== null) return;
    this.#out.goaway(0, NO_ERROR);
    this.#kick();
    this.#fail(new ClosedError("the HTTP/2 connection was closed"));
  }

  #forget(s: Http2Stream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    this.#connWaiters.delete(s);
    this.#slots.wakeOne();
  }

  // Reading.

  async #readLoop(): Promise<void> {
    const r = this.#reader;
    try {
      for (;;) {
        while (r.buffered < 9) if (!await r.fill()) throw new EOFError(EMPTY, 9);
        const h = readFrameHeader(r.peek(), 0);
        if (h.length > 16384) throw new Http2Error(FRAME_SIZE_ERROR, "frame too large");
        while (r.buffered < 9 + h.length) {
          if (!await r.fill()) throw new EOFError(EMPTY, 9 + h.length);
        }
        this.#frame(h.type, h.flags, h.stream, r.peek().subarray(9, 9 + h.length));
        r.skip(9 + h.length);
        if (this.#out.length > this.#maxQueued) {
          // Our answers (PING and SETTINGS ACKs) pile up: the server does not read.
          throw new Http2Error(ENHANCE_YOUR_CALM, "the server does not read what it asks for");
        }
        if (this.#goaway && this.#streams.size === 0) {
          this.#fail(new ClosedError("the server closed the HTTP/2 connection"));
          return;
        }
      }
    } catch (e) {
      if (e instanceof Http2Error) {
        this.#out.goaway(0, e.code, e.message);
        this.#kick();
      }
      this.#fail(e instanceof Error ? e : new Error(String(e)));
      if (this.#out.length > this.#maxQueued && !this.#writerThread.dead) {
        // It will not read the GOAWAY either: the writer stops and closes the socket.
        this.#writerThread.shutdown();
      }
      if (!(e instanceof Interrupted) && !isGone(e) && !(e instanceof Http2Error)) throw e;
    }
  }

  #frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#blockStream !== 0 && type !== CONTINUATION) {
      throw new Http2Error(PROTOCOL_ERROR, "a header block interrupted");
    }
    switch (type) {
      case DATA:
        return this.#data(flags, id, payload);
      case HEADERS: {
        let block = payload;
        if (flags & PADDED) block = block.subarray(1, block.length - block[0]);
        if (flags & PRIORITY_FLAG) block = block.subarray(5);
        this.#block = [block.slice()];
        this.#blockStream = id;
        this.#blockFlags = flags;
        if (flags & END_HEADERS) this.#headerBlock();
        return;
      }
      case CONTINUATION:
        if (id !== this.#blockStream) throw new Http2Error(PROTOCOL_ERROR, "stray CONTINUATION");
        this.#block.push(payload.slice());
        if (this.#block.length > 64) throw new Http2Error(ENHANCE_YOUR_CALM, "CONTINUATION flood");
        if (flags & END_HEADERS) this.#headerBlock();
        return;
      case RST_STREAM: {
        const s = this.#streams.get(id);
        const code = readUint32(payload, 0);
        // REFUSED_STREAM: not processed, retried once; any other reset is a call cut short.
        if (s !== undefined) {
          const reset = new StreamResetError(code);
          this.#cut(s, reset, code === REFUSED_STREAM ? undefined : reset);
        }
        return;
      }
      case SETTINGS:
        if (flags & ACK) return;
        this.#spend("SETTINGS");
        return this.#settings(payload);
      case PING:
        if (flags & ACK) return;
        this.#spend("PING");
        this.#out.ping(ACK, payload);
        return this.#kick();
      case GOAWAY: {
        const last = readUint32(payload, 0) & MAX_WINDOW;
        const code = readUint32(payload, 4);
        this.#goaway = true;
        for (const s of this.#streams.values()) {
          if (s.id > last) {
            this.#cut(s, new StreamResetError(REFUSED_STREAM, "not processed (GOAWAY)"));
          } else if (code !== NO_ERROR) {
            const reset = new StreamResetError(code, `GOAWAY: ${errorName(code)}`);
            this.#cut(s, reset, reset);
          }
        }
        this.#slots.wakeAll();
        return;
      }
      case WINDOW_UPDATE: {
        const increment = readUint32(payload, 0) & MAX_WINDOW;
        if (id === 0) {
          this.#connSendWindow += increment;
          if (this.#connSendWindow > MAX_WINDOW) {
            throw new Http2Error(FLOW_CONTROL_ERROR, "connection window overflow");
          }
          for (const s of this.#connWaiters) s.wake();
          this.#connWaiters.clear();
          return;
        }
        const s = this.#streams.get(id);
        if (s === undefined) return;
        s.sendWindow += increment;
        s.wake();
        return;
      }
      case PUSH_PROMISE:
        throw new Http2Error(PROTOCOL_ERROR, "PUSH_PROMISE although push is off");
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1), within the budget.
        return this.#spend(`frames of type ${type}`);
    }
  }

  /** Counts a frame that makes us work or answer: past the budget, a flood. */
  #spend(what: string): void {
    if (!this.#control.take()) throw new Http2Error(ENHANCE_YOUR_CALM, `too many ${what}`);
  }

  #settings(payload: Uint8Array): void {
    // The last INITIAL_WINDOW_SIZE, applied to the streams once (a frame may hold 2730).
    let initialWindow = -1;
    for (let p = 0; p + 6 <= payload.length; p += 6) {
      const key = (payload[p] << 8) | payload[p + 1];
      const value = readUint32(payload, p + 2);
      if (key === SETTINGS_MAX_CONCURRENT_STREAMS) {
        this.#peerMaxStreams = value;
        this.#slots.wakeAll();
      } else if (key === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new Http2Error(FLOW_CONTROL_ERROR, "window too large");
        initialWindow = value;
      } else if (key === SETTINGS_MAX_FRAME_SIZE) this.#peerMaxFrame = value;
      else if (key === SETTINGS_HEADER_TABLE_SIZE) this.#encoder.setPeerLimit(value);
    }
    if (initialWindow >= 0 && initialWindow !== this.#peerInitialWindow) {
      const delta = initialWindow - this.#peerInitialWindow;
      this.#peerInitialWindow = initialWindow;
      for (const s of this.#streams.values()) {
        s.sendWindow += delta;
        s.wake();
      }
    }
    this.#out.settings([], true);
    this.#kick();
  }

  #headerBlock(): void {
    const size = this.#block.reduce((n, b) => n + b.length, 0);
    const block = new Uint8Array(size);
    let at = 0;
    for (const b of this.#block) {
      block.set(b, at);
      at += b.length;
    }
    const id = this.#blockStream, flags = this.#blockFlags;
    this.#block = [];
    this.#blockStream = 0;
    const { fields } = this.#decoder.decode(block);
    const s = this.#streams.get(id);
    if (s === undefined) return;
    const end = (flags & END_STREAM) !== 0;
    if (s.responseFields === null) {
      // Interim responses (1xx) are passed over.
      const status = fields[0] === ":status" ? Number(fields[1]) : 0;
      if (status >= 100 && status < 200 && !end) return;
      s.responseFields = fields;
      const bodiless = status === 204 || status === 304 || this.#methods.get(s) === "HEAD";
      for (let i = 2; i < fields.length && !bodiless; i += 2) {
        if (fields[i] !== "content-length") continue;
        if (/^\d{1,15}$/.test(fields[i + 1])) s.declaredLength = Number(fields[i + 1]);
        break;
      }
    } else {
      for (let i = 0; i < fields.length; i += 2) s.trailers.push([fields[i], fields[i + 1]]);
    }
    if (end) this.#ended(s);
    s.wake();
  }

  /** END_STREAM came: a body short of its content-length is a call cut short, not a whole one. */
  #ended(s: Http2Stream): void {
    if (s.declaredLength < 0 || s.received >= s.declaredLength) {
      s.remoteEnded = true;
      return;
    }
    // Not ended but cut: the reader hands out what came, then throws.
    const short = new StreamResetError(
      PROTOCOL_ERROR,
      `the body ended ${s.declaredLength - s.received} bytes short of its content-length`,
    );
    this.#cut(s, short, short);
  }

  #data(flags: number, id: number, payload: Uint8Array): void {
    const length = payload.length;
    if (length > this.#connRecvWindow) throw new Http2Error(FLOW_CONTROL_ERROR, "DATA past window");
    this.#connRecvWindow -= length;
    this.#connUnacked += length;
    if (this.#connUnacked >= WINDOW >> 1) {
      this.#out.windowUpdate(0, this.#connUnacked);
      this.#connRecvWindow += this.#connUnacked;
      this.#connUnacked = 0;
      this.#kick();
    }
    const s = this.#streams.get(id);
    if (s === undefined || s.reset !== null) return;
    if (length > s.recvWindow) throw new Http2Error(FLOW_CONTROL_ERROR, "DATA past stream window");
    s.recvWindow -= length;
    let data = payload;
    if (flags & PADDED) data = payload.subarray(1, payload.length - payload[0]);
    if (s.declaredLength >= 0 && s.received + data.length > s.declaredLength) {
      // Malformed (RFC 9113 8.1.1): more than its content-length is not a longer body.
      this.reset(s, PROTOCOL_ERROR);
      return;
    }
    if (data.length > 0) {
      s.chunks.push(data.slice());
      s.buffered += data.length;
      s.received += data.length;
    }
    if (flags & END_STREAM) this.#ended(s);
    s.wake();
  }

  /**
   * Ends `s` with `error`. With `lostBy` (what was seen) the server went away or reset the
   * stream mid-call: the caller gets a `PeerLostError` (one per stream: each names its method).
   */
  #cut(s: Http2Stream, error: StreamResetError, lostBy?: unknown): void {
    if (s.reset !== null) return;
    s.reset = lostBy === undefined ? error : markPeerLost(
      new StreamResetError(error.code, error.message),
      "http",
      this.#methods.get(s) ?? "request",
      lostBy,
    );
    this.#connWaiters.delete(s);
    s.wake();
  }

  #fail(error: Error): void {
    if (this.#closed !== null) return;
    this.#closed = error;
    const gone = error instanceof StreamResetError
      ? error
      : new StreamResetError(CANCEL, `the connection failed: ${error.message}`);
    // The server closed or reset the connection (not our own close, nor a deadline).
    const lost = error instanceof EOFError || error instanceof SocketError;
    for (const s of this.#streams.values()) this.#cut(s, gone, lost ? error : undefined);
    this.#slots.wakeAll();
    this.#drained.wakeAll();
    // The writer sends what is queued (a GOAWAY) and then closes the socket.
    this.#kick();
    if (this.#readerThread !== undefined && !this.#readerThread.dead) {
      if (this.#readerThread !== current()) this.#readerThread.shutdown();
    }
  }

  // StreamHost.

  sendHeaders(s: Http2Stream, fields: string[], end: boolean): void {
    if (s.reset !== null) throw s.reset;
    this.#out.headers(s.id, this.#encoder.encode(fields), end ? END_STREAM : 0, this.#peerMaxFrame);
    if (end) s.localEnded = true;
    this.#kick();
  }

  trySendData(s: Http2Stream, data: Uint8Array, end: boolean): number {
    if (s.reset !== null) throw s.reset;
    const n = data.length, out = this.#out;
    if (n === 0) {
      if (end) {
        out.data(s.id, EMPTY, END_STREAM);
        s.localEnded = true;
        this.#kick();
      }
      return 0;
    }
    let off = 0;
    while (off < n && out.length < HIGH_WATER) {
      const room = Math.min(n - off, s.sendWindow, this.#connSendWindow, this.#peerMaxFrame);
      if (room <= 0) break;
      out.data(s.id, data.subarray(off, off + room), off + room === n && end ? END_STREAM : 0);
      s.sendWindow -= room;
      this.#connSendWindow -= room;
      off += room;
    }
    if (off === n && end) s.localEnded = true;
    if (off > 0) this.#kick();
    return off;
  }

  async sendData(s: Http2Stream, data: Uint8Array, end: boolean): Promise<void> {
    let off = this.trySendData(s, data, end);
    while (off < data.length) {
      if (this.#closed !== null) throw this.#closed;
      if (this.#out.length >= HIGH_WATER) await this.#drained.wait();
      else {
        if (this.#connSendWindow <= 0) this.#connWaiters.add(s);
        await s.changed();
      }
      off += this.trySendData(s, data.subarray(off), end);
    }
  }

  consumed(s: Http2Stream, _n: number): void {
    if (s.remoteEnded || s.reset !== null) return;
    const unacked = WINDOW - s.recvWindow - s.buffered;
    if (unacked >= WINDOW >> 1) {
      s.recvWindow += unacked;
      this.#out.windowUpdate(s.id, unacked);
      this.#kick();
    }
  }

  reset(s: Http2Stream, code: number): void {
    if (s.reset !== null) return;
    const closed = s.localEnded && s.remoteEnded;
    this.#cut(s, new StreamResetError(code, `stream reset by the client: ${errorName(code)}`));
    if (!closed && this.#closed === null) {
      this.#out.rstStream(s.id, code);
      this.#kick();
    }
  }

  // Writing.

  #kick(): void {
    if (this.#writerIdle) {
      this.#writerIdle = false;
      this.#outReady.wakeOne();
    }
  }

  async #writeLoop(): Promise<void> {
    const out = this.#out;
    try {
      const prefix = this.#prefix;
      this.#prefix = null;
      if (prefix !== null) await this.#socket.send(prefix);
      for (;;) {
        if (out.length === 0) {
          this.#drained.wakeAll();
          if (this.#closed !== null) return;
          this.#writerIdle = true;
          await this.#outReady.wait();
          continue;
        }
        await this.#socket.send(out.take());
        if (out.length < HIGH_WATER) this.#drained.wakeAll();
      }
    } catch (e) {
      this.#fail(e instanceof Error ? e : new Error(String(e)));
      if (!(e instanceof Interrupted) && !isGone(e)) throw e;
    } finally {
      this.#socket.close();
      if (!this.#readerThread.dead) this.#readerThread.shutdown();
    }
  }
}

function isGone(e: unknown): boolean {
  return e instanceof SocketError || e instanceof EOFError || e instanceof ClosedError ||
    e instanceof TimeoutError;
}

/** How a secure origin turned out: an HTTP/2 connection, or HTTP/1.1 (with its socket). */
type OriginState = Http2ClientConnection | Latch<void> | "http/1.1";

/**
 * @internal The HTTP/2 side of `HttpClient`: one connection per https origin whose server
 * agreed to "h2". The first request to an origin connects (others wait for it); a server
 * that chose HTTP/1.1 is remembered, and its socket handed to the HTTP/1.1 pool.
 */
export class Http2ClientPool {
  readonly #origins = new Map<string, OriginState>();
  readonly #options: { maxBodyBytes: number; bodyTimeout: number };
  #warned = false;

  /** @param options the largest response body, how long a body read may wait */
  constructor(options: { maxBodyBytes: number; bodyTimeout: number }) {
    this.#options = options;
  }

  /**
   * The response over HTTP/2 if `origin` speaks it; else the socket of a new connection
   * that agreed on HTTP/1.1 (for the caller's pool), or null when the origin is known to
   * speak HTTP/1.1 only. Interruption point.
   */
  async request(
    origin: string,
    connect: () => Promise<Socket>,
    request: Http2ClientRequest,
  ): Promise<Http2ClientResponse | Socket | null> {
    for (let attempt = 0;; attempt++) {
      const state = this.#origins.get(origin);
      if (state === "http/1.1") return null;
      if (state instanceof Latch) {
        await state.wait();
        continue;
      }
      if (state instanceof Http2ClientConnection && state.usable) {
        try {
          return await state.request(request);
        } catch (e) {
          // Refused before processing (GOAWAY, or the connection gone): once more, afresh.
          const retry = attempt === 0 && e instanceof StreamResetError &&
            e.code === REFUSED_STREAM &&
            (request.body === null || request.body instanceof Uint8Array);
          if (!retry) throw e;
          continue;
        }
      }
      const latch = new Latch<void>();
      this.#origins.set(origin, latch);
      let socket: Socket;
      try {
        socket = await connect();
      } catch (e) {
        this.#origins.delete(origin);
        latch.release();
        throw e;
      }
      let alpn: string | null = null;
      try {
        if ("handshake" in socket) {
          alpn = await (socket as Socket & { handshake(): Promise<string | null> }).handshake();
        }
      } catch (e) {
        // A failed or interrupted handshake: the next request to the origin tries afresh
        // (the latch held on would make every later one wait out its head deadline).
        socket.close();
        this.#origins.delete(origin);
        latch.release();
        throw e;
      }
      if (alpn !== "h2") {
        if (alpn === null && !this.#warned) {
          // No ALPN at all: the connector did not offer "h2", so HTTP/2 was never possible.
          this.#warned = true;
          console.warn(
            `shrapnel HttpClient: ${origin} was reached without ALPN, so over HTTP/1.1; ` +
              `offer "h2" in the connector (connectTls(address, { alpnProtocols: ["h2", "http/1.1"] })) ` +
              `or pass { http2: false } to the client to say HTTP/1.1 is meant`,
          );
        }
        this.#origins.set(origin, "http/1.1");
        latch.release();
        return socket;
      }
      const connection = new Http2ClientConnection(socket, this.#options);
      this.#origins.set(origin, connection);
      latch.release();
    }
  }

  /** Closes every HTTP/2 connection. */
  close(): void {
    for (const state of this.#origins.values()) {
      if (state instanceof Http2ClientConnection) state.close();
    }
    this.#origins.clear();
  }
}
