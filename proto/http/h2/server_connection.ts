/**
 * The server side of an HTTP/2 connection (RFC 9113): frames read by the connection's
 * thread, each stream served by a thread of its own through the server's handlers, frames
 * sent by a writer thread in as few writes as possible. Limits from the start: streams,
 * header blocks, resets, control frames, flow-control stalls, each ending in GOAWAY with
 * its error code.
 *
 * @module
 */

import { ClosedError, Interrupted, Shutdown, TimeoutError } from "../../../core/errors.ts";
import { ConditionVariable } from "../../../core/sync/condition_variable.ts";
import { current, spawn, type Thread } from "../../../core/thread.ts";
import { withTimeout } from "../../../core/with_timeout.ts";
import type { Address } from "../../../net/address.ts";
import type { SocketReader } from "../../../net/buffered_reader.ts";
import { EOFError, SocketError } from "../../../net/errors.ts";
import type { Socket } from "../../../net/socket.ts";
import { PeerTimeoutError, type PeerWait } from "../errors.ts";
import { markClientGone } from "../request.ts";
import { HttpHeaders } from "../headers.ts";
import type { HttpRequest } from "../request.ts";
import {
  ACK,
  CANCEL,
  COMPRESSION_ERROR,
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
  PRIORITY,
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
  SETTINGS_MAX_HEADER_LIST_SIZE,
  SETTINGS_TIMEOUT,
  STREAM_CLOSED,
  WINDOW_UPDATE,
} from "./constants.ts";
import { Budget } from "./_budget.ts";
import { Http2Error, Http2StreamError, StreamResetError } from "./errors.ts";
import { FrameWriter, readFrameHeader, readUint32 } from "./frames.ts";
import { HpackDecoder, HpackEncoder } from "./hpack.ts";
import { Http2StreamBodyReader, Http2StreamRequest } from "./request.ts";
import { Http2Stream, type StreamHost } from "./_stream.ts";

/** Limits and settings of the HTTP/2 side of an `HttpServer` (`http2` in its options). */
export interface Http2Options {
  /** Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS; 100). */
  maxConcurrentStreams?: number;
  /** Each stream's receive window, in bytes (SETTINGS_INITIAL_WINDOW_SIZE; 65535, at least that). */
  initialWindowSize?: number;
  /** The connection's receive window, in bytes (1 MiB). */
  connectionWindowSize?: number;
  /**
   * The largest decoded header list (SETTINGS_MAX_HEADER_LIST_SIZE; 65536): past it a
   * request gets 431; a header block decoding past twice it, or whose encoded size passes
   * it (an endless run of CONTINUATION frames), ends the connection (ENHANCE_YOUR_CALM).
   */
  maxHeaderListSize?: number;
  /** Most CONTINUATION frames in one header block (32); more: ENHANCE_YOUR_CALM. */
  maxContinuations?: number;
  /** The HPACK dynamic table a client may use (SETTINGS_HEADER_TABLE_SIZE; 4096). */
  headerTableSize?: number;
  /**
   * Streams the client may reset (or have refused) in a burst before the rate applies
   * (200): rapid reset, CVE-2023-44487. Past it: GOAWAY ENHANCE_YOUR_CALM.
   */
  resetBurst?: number;
  /** Stream resets allowed per second in the long run (50). */
  resetRate?: number;
  /**
   * PING, SETTINGS, PRIORITY, empty DATA and unknown frames a client may send in a burst
   * (1000); past it and the rate: GOAWAY ENHANCE_YOUR_CALM (floods).
   */
  controlBurst?: number;
  /** Such frames allowed per second in the long run (100). */
  controlRate?: number;
  /** Bytes of frames queued for a client that does not read, before GOAWAY (1 MiB). */
  maxQueuedBytes?: number;
  /**
   * Seconds a reply may wait for a flow-control window (the server's `sendTimeout`, 30):
   * past it, a stream's stall
   * resets the stream (CANCEL); a connection window's stall ends the connection
   * (GOAWAY ENHANCE_YOUR_CALM).
   */
  stallTimeout?: number;
  /** Seconds the client has to acknowledge our SETTINGS (10); then GOAWAY SETTINGS_TIMEOUT. */
  settingsTimeout?: number;
  /** Seconds in-flight streams may take to finish once the server closes (5). */
  shutdownGrace?: number;
}

/** @internal What the connection needs from its `HttpServer`. */
export interface Http2ServerHost {
  /** Serves one request through the handlers (errors become replies). */
  serve(request: HttpRequest): Promise<void>;
  /**
   * Sets the connection's deadline (seconds from now; Infinity: none), and what it waits
   * for (the `PeerTimeoutError` raised in the connection's thread when it passes).
   */
  setDeadline(seconds: number, waitingFor: PeerWait): void;
  /** Seconds a connection may idle without streams. */
  idleTimeout: number;
  /** Seconds a header block may take once begun. */
  headerTimeout: number;
  /** Seconds a body read may wait for the client's next bytes. */
  bodyTimeout: number;
  /** Seconds a reply may wait for the client to read (the default stall timeout). */
  sendTimeout: number;
  /** Largest request body. */
  maxBodyBytes: number;
  /** The limits. */
  options: Http2Options;
}

const EMPTY = new Uint8Array(0);
const SM = [0x53, 0x4d, 0x0d, 0x0a, 0x0d, 0x0a]; // the preface's end, after its HTTP/1-like head

/** The connection is draining and its last stream finished. */
class Drained extends Interrupted {}

/**
 * Serves HTTP/2 on `socket` whose client preface's first 18 bytes ("PRI * HTTP/2.0\r\n\r\n")
 * were read already (as an HTTP/1 head), until the client or the server ends it. Runs in
 * the connection's thread. Interruption point: `Shutdown` starts a graceful shutdown
 * (GOAWAY, in-flight streams finish within the grace period).
 *
 * @example
 * ```ts ignore
 * // HttpServer does this when a connection starts with the HTTP/2 preface.
 * await serveHttp2(host, socket, reader, peer);
 * ```
 */
export async function serveHttp2(
  host: Http2ServerHost,
  socket: Socket,
  reader: SocketReader,
  peer: Address,
): Promise<void> {
  await new Http2ServerConnection(host, socket, reader, peer).run();
}

/** One HTTP/2 connection, server side. */
class Http2ServerConnection implements StreamHost {
  readonly #host: Http2ServerHost;
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  readonly #peer: Address;
  readonly #name: string;
  readonly #out = new FrameWriter();
  readonly #outReady = new ConditionVariable<void>();
  readonly #drained = new ConditionVariable<void>();
  #writer: Thread | null = null;
  #writerIdle = false;
  #writerStop = false;
  #thread: Thread | null = null;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #streams = new Map<number, Http2Stream>();
  #lastStream = 0;
  // Our settings.
  readonly #maxStreams: number;
  readonly #initialWindow: number;
  readonly #connectionWindow: number;
  readonly #maxHeaderList: number;
  readonly #maxContinuations: number;
  readonly #maxFrame = 16384;
  readonly #maxQueued: number;
  readonly #stallTimeout: number;
  readonly #settingsTimeout: number;
  readonly #grace: number;
  #settingsSentAt = 0;
  #settingsAcked = false;
  // The peer's settings and windows.
  #peerInitialWindow = 65535;
  #peerMaxFrame = 16384;
  #connSendWindow = 65535;
  #connRecvWindow: number;
  #connUnacked = 0;
  readonly #connWaiters = new Set<Http2Stream>();
  // Abuse accounting.
  readonly #resets: Budget;
  readonly #control: Budget;
  // A header block being received.
  #blockStream = 0;
  #blockFlags = 0;
  #blockParts: Uint8Array[] = [];
  #blockSize = 0;
  #blockFrames = 0;
  // Ending.
  #draining = false;
  #goawaySent = false;
  #peerGoaway = false;
  /** The connection's thread is in its read loop (where `Drained` may be raised). */
  #reading = false;
  /** Bytes per stream to credit at once (half the window). */
  readonly #creditAt: number;

  readonly maxBodyBytes: number;
  readonly bodyTimeout: number;

  constructor(host: Http2ServerHost, socket: Socket, reader: SocketReader, peer: Address) {
    this.#host = host;
    this.#socket = socket;
    this.#reader = reader;
    this.#peer = peer;
    this.#name = peer.family === "unix" ? peer.path || "unix" : `${peer.host}:${peer.port}`;
    const o = host.options;
    this.#maxStreams = o.maxConcurrentStreams ?? 100;
    this.#initialWindow = Math.min(Math.max(o.initialWindowSize ?? 65535, 65535), MAX_WINDOW);
    this.#connectionWindow = Math.min(
      Math.max(o.connectionWindowSize ?? 1 << 20, 65535),
      MAX_WINDOW,
    );
    this.#connRecvWindow = this.#connectionWindow;
    this.#maxHeaderList = o.maxHeaderListSize ?? 65536;
    this.#maxContinuations = o.maxContinuations ?? 32;
    this.#maxQueued = o.maxQueuedBytes ?? 1 << 20;
    this.#stallTimeout = o.stallTimeout ?? host.sendTimeout;
    this.#settingsTimeout = o.settingsTimeout ?? 10;
    this.#grace = o.shutdownGrace ?? 5;
    this.#resets = new Budget(o.resetBurst ?? 200, o.resetRate ?? 50);
    this.#control = new Budget(o.controlBurst ?? 1000, o.controlRate ?? 100);
    this.#decoder = new HpackDecoder({
      maxTableSize: o.headerTableSize ?? 4096,
      maxHeaderListSize: this.#maxHeaderList,
    });
    this.#creditAt = this.#initialWindow >> 1;
    this.maxBodyBytes = host.maxBodyBytes;
    this.bodyTimeout = host.bodyTimeout;
  }

  /** Streams open now. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Serves the connection to its end. Runs in the connection's thread. */
  async run(): Promise<void> {
    this.#thread = currentThread();
    let goaway: Http2Error | null = null;
    try {
      await this.#preface();
      this.#out.settings([
        [SETTINGS_MAX_CONCURRENT_STREAMS, this.#maxStreams],
        [SETTINGS_INITIAL_WINDOW_SIZE, this.#initialWindow],
        [SETTINGS_MAX_HEADER_LIST_SIZE, this.#maxHeaderList],
        [SETTINGS_HEADER_TABLE_SIZE, this.#host.options.headerTableSize ?? 4096],
        [SETTINGS_ENABLE_PUSH, 0],
      ]);
      if (this.#connectionWindow > 65535) {
        this.#out.windowUpdate(0, this.#connectionWindow - 65535);
      }
      this.#settingsSentAt = performance.now();
      this.#writer = spawn({ name: `h2 writer ${this.#name}` }, () => this.#writeLoop());
      await this.#readFrames();
    } catch (e) {
      if (e instanceof Http2Error) goaway = e;
      else if (e instanceof Shutdown) {
        await this.#drain();
      } else if (!(e instanceof Drained) && !isGone(e)) throw e;
    } finally {
      await this.#end(goaway);
    }
  }

  /** The rest of the client preface ("SM\r\n\r\n"), then its SETTINGS frame first. */
  async #preface(): Promise<void> {
    const r = this.#reader;
    this.#host.setDeadline(this.#host.headerTimeout, "head");
    while (r.buffered < 6 + 9) {
      if (!await r.fill()) throw new EOFError(r.peek().slice(), 15);
    }
    const b = r.peek();
    for (let i = 0; i < 6; i++) {
      if (b[i] !== SM[i]) throw new Http2Error(PROTOCOL_ERROR, "bad connection preface");
    }
    if (b[6 + 3] !== SETTINGS) {
      throw new Http2Error(PROTOCOL_ERROR, "the preface is not followed by SETTINGS");
    }
    r.skip(6);
  }

  /** Graceful shutdown: GOAWAY, then frames keep coming until the streams are done. */
  async #drain(): Promise<void> {
    this.#goaway(NO_ERROR, "server shutting down");
    this.#draining = true;
    if (this.#streams.size === 0) return;
    try {
      await withTimeout(this.#grace, () => this.#readFrames());
    } catch (e) {
      if (e instanceof Drained || e instanceof TimeoutError || isGone(e)) return;
      if (e instanceof Http2Error) this.#goaway(e.code, e.message);
      else throw e;
    }
  }

  async #readFrames(): Promise<void> {
    this.#reading = true;
    try {
      await this.#readLoop();
    } finally {
      this.#reading = false;
    }
  }

  async #readLoop(): Promise<void> {
    const r = this.#reader, host = this.#host;
    for (;;) {
      if (r.buffered < 9) {
        if (this.#blockStream !== 0) host.setDeadline(host.headerTimeout, "head");
        else host.setDeadline(this.#streams.size === 0 ? host.idleTimeout : Infinity, "idle");
        try {
          while (r.buffered < 9) if (!await r.fill()) return;
        } catch (e) {
          if (e instanceof TimeoutError && this.#blockStream === 0) {
            this.#goaway(NO_ERROR, "idle");
            return;
          }
          if (e instanceof TimeoutError) {
            throw new Http2Error(PROTOCOL_ERROR, "header block not completed in time");
          }
          if (e instanceof Drained) return;
          throw e;
        }
      }
      const h = readFrameHeader(r.peek(), 0);
      if (h.length > this.#maxFrame) {
        throw new Http2Error(FRAME_SIZE_ERROR, `a frame of ${h.length} bytes`);
      }
      if (r.buffered < 9 + h.length) {
        host.setDeadline(host.headerTimeout, "head");
        while (r.buffered < 9 + h.length) {
          if (!await r.fill()) throw new EOFError(r.peek().slice(), 9 + h.length);
        }
      }
      host.setDeadline(Infinity, "idle");
      const payload = r.peek().subarray(9, 9 + h.length);
      try {
        this.#frame(h.type, h.flags, h.stream, payload);
      } catch (e) {
        if (!(e instanceof Http2StreamError)) throw e;
        // A reset the client provoked costs what one it sends does: else malformed frames
        // reset streams whose handlers keep running, for free (MadeYouReset, CVE-2025-8671).
        this.#spend(this.#resets, "streams refused or reset");
        this.#resetById(h.stream, e.code);
      }
      r.skip(9 + h.length);
      if (this.#out.length > this.#maxQueued) {
        throw new Http2Error(ENHANCE_YOUR_CALM, "the client does not read what it asks for");
      }
      if (
        !this.#settingsAcked && performance.now() - this.#settingsSentAt >
          this.#settingsTimeout * 1000
      ) {
        throw new Http2Error(SETTINGS_TIMEOUT, "SETTINGS not acknowledged");
      }
      if ((this.#draining || this.#peerGoaway) && this.#streams.size === 0) return;
    }
  }

  #frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#blockStream !== 0 && type !== CONTINUATION) {
      throw new Http2Error(PROTOCOL_ERROR, "a header block interrupted by another frame");
    }
    switch (type) {
      case DATA:
        return this.#data(flags, id, payload);
      case HEADERS:
        return this.#headers(flags, id, payload);
      case CONTINUATION:
        return this.#continuation(flags, id, payload);
      case PRIORITY:
        if (id === 0) throw new Http2Error(PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) throw new Http2StreamError(FRAME_SIZE_ERROR, "PRIORITY size");
        return this.#spend(this.#control, "PRIORITY");
      case RST_STREAM:
        return this.#rstStream(id, payload);
      case SETTINGS:
        return this.#settings(flags, id, payload);
      case PING:
        if (id !== 0) throw new Http2Error(PROTOCOL_ERROR, "PING on a stream");
        if (payload.length !== 8) throw new Http2Error(FRAME_SIZE_ERROR, "PING size");
        if (flags & ACK) return;
        this.#spend(this.#control, "PING");
        this.#out.ping(ACK, payload);
        return this.#kick();
      case GOAWAY:
        if (id !== 0) throw new Http2Error(PROTOCOL_ERROR, "GOAWAY on a stream");
        if (payload.length < 8) throw new Http2Error(FRAME_SIZE_ERROR, "GOAWAY size");
        this.#peerGoaway = true;
        return;
      case WINDOW_UPDATE:
        return this.#windowUpdate(id, payload);
      case PUSH_PROMISE:
        throw new Http2Error(PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1), within the budget.
        return this.#spend(this.#control, `frames of type ${type}`);
    }
  }

  #spend(budget: Budget, what: string): void {
    if (!budget.take()) throw new Http2Error(ENHANCE_YOUR_CALM, `too many ${what}`);
  }

  /** Strips padding; returns the frame's content. */
  #unpad(flags: number, payload: Uint8Array): Uint8Array {
    if ((flags & PADDED) === 0) return payload;
    if (payload.length < 1) throw new Http2Error(FRAME_SIZE_ERROR, "padded frame too short");
    const pad = payload[0];
    if (pad >= payload.length) throw new Http2Error(PROTOCOL_ERROR, "padding past the frame");
    return payload.subarray(1, payload.length - pad);
  }

  #data(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0) throw new Http2Error(PROTOCOL_ERROR, "DATA on stream 0");
    const length = payload.length;
    if (length > this.#connRecvWindow) {
      throw new Http2Error(FLOW_CONTROL_ERROR, "DATA past the connection window");
    }
    this.#connRecvWindow -= length;
    this.#connUnacked += length;
    if (this.#connUnacked >= this.#connectionWindow >> 1) {
      this.#out.windowUpdate(0, this.#connUnacked);
      this.#connRecvWindow += this.#connUnacked;
      this.#connUnacked = 0;
      this.#kick();
    }
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (id > this.#lastStream) throw new Http2Error(PROTOCOL_ERROR, "DATA on an idle stream");
      return; // a stream closed or reset already: its data is dropped (the window was credited)
    }
    if (s.remoteEnded) throw new Http2StreamError(STREAM_CLOSED, "DATA after END_STREAM");
    if (length > s.recvWindow) {
      throw new Http2Error(FLOW_CONTROL_ERROR, `DATA past stream ${id}'s window`);
    }
    s.recvWindow -= length;
    const data = this.#unpad(flags, payload);
    if (length !== data.length) this.consumed(s, length - data.length);
    const end = (flags & END_STREAM) !== 0;
    if (data.length === 0 && !end) this.#spend(this.#control, "empty DATA frames");
    if (data.length > 0) {
      s.chunks.push(data.slice());
      s.buffered += data.length;
      s.received += data.length;
    }
    if (end) {
      s.remoteEnded = true;
      if (s.declaredLength >= 0 && s.received !== s.declaredLength) {
        throw new Http2StreamError(PROTOCOL_ERROR, "body length differs from content-length");
      }
    } else if (s.declaredLength >= 0 && s.received > s.declaredLength) {
      throw new Http2StreamError(PROTOCOL_ERROR, "body longer than its content-length");
    }
    s.wake();
  }

  #headers(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0 || (id & 1) === 0) {
      throw new Http2Error(PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    }
    let block = this.#unpad(flags, payload);
    if (flags & PRIORITY_FLAG) {
      if (block.length < 5) throw new Http2Error(FRAME_SIZE_ERROR, "HEADERS too short");
      block = block.subarray(5);
    }
    if (flags & END_HEADERS) return this.#headerBlock(id, flags, block);
    this.#blockStream = id;
    this.#blockFlags = flags;
    this.#blockParts = [block.slice()];
    this.#blockSize = block.length;
    this.#blockFrames = 0;
  }

  #continuation(flags: number, id: number, payload: Uint8Array): void {
    if (this.#blockStream === 0 || id !== this.#blockStream) {
      throw new Http2Error(PROTOCOL_ERROR, "CONTINUATION without a header block");
    }
    this.#blockSize += payload.length;
    if (++this.#blockFrames > this.#maxContinuations || this.#blockSize > this.#maxHeaderList) {
      throw new Http2Error(
        ENHANCE_YOUR_CALM,
        `a header block of more than ${this.#maxContinuations} CONTINUATION frames or ${this.#maxHeaderList} bytes`,
      );
    }
    this.#blockParts.push(payload.slice());
    if ((flags & END_HEADERS) === 0) return;
    const block = new Uint8Array(this.#blockSize);
    let at = 0;
    for (const part of this.#blockParts) {
      block.set(part, at);
      at += part.length;
    }
    this.#blockStream = 0;
    this.#blockParts = [];
    this.#headerBlock(id, this.#blockFlags, block);
  }

  /** A complete header block: a new request, or a request's trailers. */
  #headerBlock(id: number, flags: number, block: Uint8Array): void {
    // Decoded whatever becomes of the stream: the table must stay in step.
    let decoded;
    try {
      decoded = this.#decoder.decode(block);
    } catch (e) {
      if (e instanceof Http2Error) throw e;
      throw new Http2Error(COMPRESSION_ERROR, String(e));
    }
    const end = (flags & END_STREAM) !== 0;
    if (id <= this.#lastStream) {
      const s = this.#streams.get(id);
      if (s === undefined) return; // closed: nothing to deliver to
      if (s.remoteEnded) throw new Http2StreamError(STREAM_CLOSED, "HEADERS after END_STREAM");
      if (!end) throw new Http2StreamError(PROTOCOL_ERROR, "trailers without END_STREAM");
      const fields = decoded.fields;
      for (let i = 0; i < fields.length; i += 2) {
        if (fields[i].charCodeAt(0) === 58) {
          throw new Http2StreamError(PROTOCOL_ERROR, "a pseudo-header in trailers");
        }
        s.trailers.push([fields[i], fields[i + 1]]);
      }
      s.remoteEnded = true;
      s.wake();
      return;
    }
    this.#lastStream = id;
    if (this.#draining || this.#goawaySent || this.#peerGoaway) return; // past our GOAWAY
    if (this.#streams.size >= this.#maxStreams) {
      this.#spend(this.#resets, "streams refused or reset");
      this.#out.rstStream(id, REFUSED_STREAM);
      this.#kick();
      return;
    }
    const s = new Http2Stream(id, this, this.#initialWindow, this.#peerInitialWindow);
    s.remoteEnded = end;
    if (decoded.tooLarge) {
      // Answered here, without a thread: 431, the stream ended.
      this.#streams.set(id, s);
      this.sendHeaders(s, [":status", "431", "content-length", "0"], true);
      if (!end) this.#out.rstStream(id, NO_ERROR); // its body is not wanted
      this.#closeStream(s);
      return;
    }
    const request = this.#request(s, decoded.fields, end);
    this.#streams.set(id, s);
    s.thread = spawn({ name: `h2 ${this.#name} #${id}` }, () => this.#serve(s, request));
  }

  /** The request of a new stream's fields, checked as RFC 9113 section 8 says. */
  #request(s: Http2Stream, fields: string[], end: boolean): Http2StreamRequest {
    let method = "", scheme = "", path = "", authority = "", regular = false;
    const headers = new HttpHeaders();
    let cookies: string | null = null;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i], value = fields[i + 1];
      if (!validValue(value)) throw new Http2StreamError(PROTOCOL_ERROR, `bad value of ${name}`);
      if (name.charCodeAt(0) === 58) {
        if (regular) throw new Http2StreamError(PROTOCOL_ERROR, "pseudo-header after a field");
        switch (name) {
          case ":method":
            if (method !== "") throw duplicate(name);
            method = value;
            break;
          case ":scheme":
            if (scheme !== "") throw duplicate(name);
            scheme = value;
            break;
          case ":path":
            if (path !== "") throw duplicate(name);
            path = value;
            break;
          case ":authority":
            if (authority !== "") throw duplicate(name);
            authority = value;
            break;
          default:
            throw new Http2StreamError(PROTOCOL_ERROR, `unknown pseudo-header ${name}`);
        }
        continue;
      }
      regular = true;
      if (!validName(name)) throw new Http2StreamError(PROTOCOL_ERROR, `bad field name`);
      if (CONNECTION_FIELDS.has(name) || (name === "te" && value !== "trailers")) {
        throw new Http2StreamError(PROTOCOL_ERROR, `connection-specific field ${name}`);
      }
      if (name === "cookie") cookies = cookies === null ? value : `${cookies}; ${value}`;
      else headers._addLower(name, value);
    }
    if (cookies !== null) headers._addLower("cookie", cookies);
    if (method === "") throw new Http2StreamError(PROTOCOL_ERROR, "no :method");
    if (method === "CONNECT") {
      if (authority === "" || scheme !== "" || path !== "") {
        throw new Http2StreamError(PROTOCOL_ERROR, "malformed CONNECT");
      }
      path = authority;
    } else if (scheme === "" || path === "") {
      throw new Http2StreamError(PROTOCOL_ERROR, "no :scheme or :path");
    }
    if (authority !== "" && !headers.has("host")) headers._addLower("host", authority);
    const length = headers.get("content-length");
    if (length !== null) {
      if (!/^\d{1,15}$/.test(length)) {
        throw new Http2StreamError(PROTOCOL_ERROR, "bad content-length");
      }
      s.declaredLength = Number(length);
      if (end && s.declaredLength !== 0) {
        throw new Http2StreamError(PROTOCOL_ERROR, "content-length without a body");
      }
    }
    const body = end ? null : new Http2StreamBodyReader(s, this.#reader, this.maxBodyBytes);
    const request = new Http2StreamRequest(
      { method, target: path, minor: 1, headers },
      body,
      this.#socket,
      this.#reader,
      this.#peer,
      s,
    );
    if (body !== null && headers.hasToken("expect", "100-continue")) {
      body.onFirstRead = () => {
        if (!request.headSent && s.reset === null) this.sendHeaders(s, [":status", "100"], false);
        return Promise.resolve();
      };
    }
    return request;
  }

  /** A stream's thread: the handlers, then the stream closed whatever happened. */
  async #serve(s: Http2Stream, request: Http2StreamRequest): Promise<void> {
    try {
      if (s.reset !== null) return;
      await this.#host.serve(request);
    } catch (e) {
      // Resets, interruptions and a connection gone end the stream; nothing to report.
      if (!(e instanceof Interrupted) && !isGone(e) && !(e instanceof Http2Error)) throw e;
    } finally {
      if (!s.localEnded && s.reset === null) this.reset(s, CANCEL);
      else if (!s.remoteEnded && s.reset === null) {
        // The reply is complete: the rest of the request is not wanted (RFC 9113 8.1).
        this.#out.rstStream(s.id, NO_ERROR);
        this.#kick();
      }
      this.#closeStream(s);
    }
  }

  #closeStream(s: Http2Stream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    this.#connWaiters.delete(s);
    if (s.buffered > 0) {
      // Unread body: the connection window was credited on arrival; nothing else holds it.
      s.chunks.length = 0;
      s.buffered = 0;
    }
    if ((this.#draining || this.#peerGoaway) && this.#streams.size === 0) {
      const t = this.#thread;
      if (this.#reading && t !== null && !t.dead && t !== current()) {
        t.raise(new Drained("drained"));
      }
    }
  }

  #rstStream(id: number, payload: Uint8Array): void {
    if (id === 0) throw new Http2Error(PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new Http2Error(FRAME_SIZE_ERROR, "RST_STREAM size");
    if (id > this.#lastStream) throw new Http2Error(PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const s = this.#streams.get(id);
    if (s === undefined) return;
    this.#spend(this.#resets, "streams refused or reset");
    const code = readUint32(payload, 0);
    this.#cut(s, new StreamResetError(code));
  }

  /** The stream ends under its thread: `error` is raised there. */
  #cut(s: Http2Stream, error: StreamResetError): void {
    if (s.reset !== null) return;
    s.reset = error;
    this.#connWaiters.delete(s);
    const onReset = s.onReset;
    if (onReset !== null) {
      s.onReset = null;
      onReset(error);
    }
    const t = s.thread;
    // Not started yet: it sees `reset` first thing; itself: it is not blocked.
    if (t !== null && !t.dead && t.started && t !== current()) t.raise(error);
    s.wake();
  }

  #settings(flags: number, id: number, payload: Uint8Array): void {
    if (id !== 0) throw new Http2Error(PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & ACK) {
      if (payload.length !== 0) throw new Http2Error(FRAME_SIZE_ERROR, "SETTINGS ACK with data");
      this.#settingsAcked = true;
      return;
    }
    if (payload.length % 6 !== 0) throw new Http2Error(FRAME_SIZE_ERROR, "SETTINGS size");
    this.#spend(this.#control, "SETTINGS");
    // The last INITIAL_WINDOW_SIZE of the frame, applied to the streams once: a frame may
    // hold 2730 of them, and walking every stream for each is work a client gets for free.
    let initialWindow = -1;
    for (let p = 0; p < payload.length; p += 6) {
      const key = (payload[p] << 8) | payload[p + 1];
      const value = readUint32(payload, p + 2);
      switch (key) {
        case SETTINGS_HEADER_TABLE_SIZE:
          this.#encoder.setPeerLimit(value);
          break;
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) throw new Http2Error(PROTOCOL_ERROR, "ENABLE_PUSH not 0 or 1");
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            throw new Http2Error(FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large");
          }
          initialWindow = value;
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < 16384 || value > 16777215) {
            throw new Http2Error(PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range");
          }
          this.#peerMaxFrame = value;
          break;
        default:
          break; // MAX_CONCURRENT_STREAMS (we open none), MAX_HEADER_LIST_SIZE, unknown
      }
    }
    if (initialWindow >= 0) this.#applyInitialWindow(initialWindow);
    this.#out.settings([], true);
    this.#kick();
  }

  /** Moves every stream's send window by the change of the initial window (RFC 9113 6.9.2). */
  #applyInitialWindow(value: number): void {
    const delta = value - this.#peerInitialWindow;
    this.#peerInitialWindow = value;
    if (delta === 0) return;
    for (const s of this.#streams.values()) {
      s.sendWindow += delta;
      if (s.sendWindow > MAX_WINDOW) {
        throw new Http2Error(FLOW_CONTROL_ERROR, "a stream window past 2^31-1");
      }
      if (delta > 0) s.wake();
    }
  }

  #windowUpdate(id: number, payload: Uint8Array): void {
    if (payload.length !== 4) throw new Http2Error(FRAME_SIZE_ERROR, "WINDOW_UPDATE size");
    const increment = readUint32(payload, 0) & MAX_WINDOW;
    if (id === 0) {
      if (increment === 0) throw new Http2Error(PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.#connSendWindow += increment;
      if (this.#connSendWindow > MAX_WINDOW) {
        throw new Http2Error(FLOW_CONTROL_ERROR, "connection window past 2^31-1");
      }
      for (const s of this.#connWaiters) s.wake();
      this.#connWaiters.clear();
      return;
    }
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (id > this.#lastStream) {
        throw new Http2Error(PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      }
      return;
    }
    if (increment === 0) throw new Http2StreamError(PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) {
      throw new Http2StreamError(FLOW_CONTROL_ERROR, "stream window past 2^31-1");
    }
    s.wake();
  }

  /** Resets a stream known by id only (a stream error found while reading its frames). */
  #resetById(id: number, code: number): void {
    const s = this.#streams.get(id);
    if (s !== undefined) {
      this.reset(s, code);
      return;
    }
    this.#out.rstStream(id, code);
    this.#kick();
  }

  // StreamHost: what a stream's request calls.

  sendHeaders(s: Http2Stream, fields: string[], end: boolean): void {
    if (s.reset !== null) throw s.reset;
    if (s.localEnded) throw new StreamResetError(STREAM_CLOSED, "the reply was complete");
    const block = this.#encoder.encode(fields);
    this.#out.headers(s.id, block, end ? END_STREAM : 0, this.#peerMaxFrame);
    if (end) s.localEnded = true;
    this.#kick();
  }

  trySendData(s: Http2Stream, data: Uint8Array, end: boolean): number {
    if (s.reset !== null) throw s.reset;
    if (s.localEnded) throw new StreamResetError(STREAM_CLOSED, "the reply was complete");
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
      const last = off + room === n;
      out.data(s.id, data.subarray(off, off + room), last && end ? END_STREAM : 0);
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
    if (data.length === 0) return;
    while (off < data.length) {
      if (this.#out.length >= HIGH_WATER) await this.#waitWritten();
      else await this.#waitWindow(s);
      off += this.trySendData(s, data.subarray(off), end);
    }
  }

  /** Waits for the writer to catch up, at most the stall timeout. Interruption point. */
  async #waitWritten(): Promise<void> {
    try {
      await withTimeout(this.#stallTimeout, () => this.#drained.wait());
    } catch (e) {
      if (e instanceof TimeoutError) {
        this.#fail(
          new Http2Error(ENHANCE_YOUR_CALM, `the client read nothing for ${this.#stallTimeout} s`),
        );
        // The server's deadline on its client, not the handler's failure.
        throw new PeerTimeoutError(this.#stallTimeout, "send");
      }
      throw e;
    }
  }

  /** Waits for a window to open, at most the stall timeout. Interruption point. */
  async #waitWindow(s: Http2Stream): Promise<void> {
    const connection = this.#connSendWindow <= 0;
    if (connection) this.#connWaiters.add(s);
    try {
      await withTimeout(this.#stallTimeout, () => s.changed());
    } catch (e) {
      if (e instanceof TimeoutError) {
        if (connection && this.#connSendWindow <= 0) {
          this.#fail(
            new Http2Error(
              ENHANCE_YOUR_CALM,
              `the connection window stayed shut for ${this.#stallTimeout} s`,
            ),
          );
        } else this.reset(s, CANCEL);
        // The server's deadline on its client, not the handler's failure.
        throw new PeerTimeoutError(this.#stallTimeout, "send");
      }
      throw e;
    } finally {
      this.#connWaiters.delete(s);
    }
  }

  consumed(s: Http2Stream, n: number): void {
    if (s.remoteEnded || s.reset !== null) return;
    const unacked = this.#initialWindow - s.recvWindow - s.buffered;
    if (unacked >= this.#creditAt) {
      s.recvWindow += unacked;
      this.#out.windowUpdate(s.id, unacked);
      this.#kick();
    }
    void n;
  }

  reset(s: Http2Stream, code: number): void {
    if (s.reset !== null) return;
    const closed = s.localEnded && s.remoteEnded;
    this.#cut(s, new StreamResetError(code, `stream reset by the server: ${errorName(code)}`));
    if (!closed) {
      this.#out.rstStream(s.id, code);
      this.#kick();
    }
  }

  /** A connection error found outside the reading thread: it ends the connection. */
  #fail(error: Http2Error): void {
    const t = this.#thread;
    // Only while it reads frames: once it is ending the connection, it is ending anyway.
    if (this.#reading && t !== null && !t.dead && t !== current()) t.raise(error);
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
      for (;;) {
        if (out.length === 0) {
          this.#drained.wakeAll();
          if (this.#writerStop) return;
          this.#writerIdle = true;
          await this.#outReady.wait();
          continue;
        }
        await this.#socket.send(out.take());
        if (out.length < HIGH_WATER) this.#drained.wakeAll();
      }
    } catch (e) {
      this.#writerIdle = false;
      // Streams waiting to write meet the connection's own failure: their client gone.
      this.#drained.raiseAll(markClientGone(e));
      if (!(e instanceof Interrupted) && !isGone(e)) throw e;
      const t = this.#thread;
      if (t !== null && !t.dead && t.started && !(e instanceof Interrupted)) t.raise(e);
    }
  }

  #goaway(code: number, debug: string): void {
    if (this.#goawaySent && code === NO_ERROR) return;
    this.#goawaySent = true;
    this.#out.goaway(this.#lastStream, code, code === NO_ERROR ? "" : debug);
    this.#kick();
  }

  /** Ends the connection: GOAWAY if due, streams cut, frames flushed, socket closed. */
  async #end(error: Http2Error | null): Promise<void> {
    this.#host.setDeadline(Infinity, "idle");
    try {
      if (error !== null) this.#goaway(error.code, error.message);
      const gone = new StreamResetError(CANCEL, "the connection closed");
      const threads: Thread[] = [];
      for (const s of this.#streams.values()) {
        this.#cut(s, gone);
        if (s.thread !== null) threads.push(s.thread);
      }
      for (const t of threads) if (!t.started) t.shutdown();
      for (const t of threads) {
        try {
          await t.join();
        } catch (e) {
          if (!(e instanceof Interrupted) && !isGone(e)) throw e;
        }
      }
      this.#writerStop = true;
      this.#kick();
      const writer = this.#writer;
      if (writer === null && this.#out.length > 0) {
        // Failed before the writer started (a bad preface): the GOAWAY goes out from here.
        try {
          await withTimeout(1, () => this.#socket.send(this.#out.take()));
        } catch (e) {
          if (!(e instanceof Interrupted) && !isGone(e)) throw e;
        }
      }
      if (writer !== null && !writer.dead) {
        try {
          await withTimeout(1, () => writer.join());
        } catch (e) {
          if (!(e instanceof Interrupted) && !isGone(e)) throw e;
          writer.shutdown();
        }
      }
      await this.#linger();
    } finally {
      this.#socket.close();
    }
  }

  /**
   * After a GOAWAY, reads and drops what the client still sends for a moment before
   * closing: closing with unread data resets the connection, and the client could lose
   * the GOAWAY that says why.
   */
  async #linger(): Promise<void> {
    if (!this.#goawaySent) return;
    try {
      this.#socket.shutdown("write");
      const r = this.#reader;
      let dropped = 0;
      await withTimeout(LINGER_SECONDS, async () => {
        while (dropped < LINGER_BYTES) {
          dropped += r.buffered;
          r.skip(r.buffered);
          if (!await r.fill()) return;
        }
      });
    } catch (e) {
      if (!(e instanceof Interrupted) && !isGone(e)) throw e;
    }
  }
}

/** How long, and for how many bytes, a closing connection reads what still comes. */
const LINGER_SECONDS = 1;
const LINGER_BYTES = 1 << 20;

/** The calling thread (the connection's). */
function currentThread(): Thread {
  const t = current();
  if (t === null) throw new Error("serveHttp2 runs in a thread");
  return t;
}

function isGone(e: unknown): boolean {
  return e instanceof SocketError || e instanceof EOFError || e instanceof ClosedError;
}

function duplicate(name: string): Http2StreamError {
  return new Http2StreamError(PROTOCOL_ERROR, `duplicate ${name}`);
}

/** Field names: lower-case token characters (RFC 9113 section 8.2.1). */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 32 || c >= 127 || (c >= 65 && c <= 90) || c === 58) return false;
  }
  return true;
}

/** Field values: no NUL, CR or LF, no leading or trailing blank. */
function validValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  let c = value.charCodeAt(0);
  if (c === 32 || c === 9) return false;
  c = value.charCodeAt(n - 1);
  if (c === 32 || c === 9) return false;
  for (let i = 0; i < n; i++) {
    c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}
