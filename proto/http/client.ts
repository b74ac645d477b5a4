/**
 * The HTTP/1.1 client: keep-alive connections pooled per origin, pipelining over one
 * connection, chunked uploads of streamed bodies.
 *
 * @module
 */

import { Interrupted } from "../../core/errors.ts";
import { ConditionVariable } from "../../core/sync/condition_variable.ts";
import { SocketReader } from "../../net/buffered_reader.ts";
import { ConnectionResetError, EOFError, markPeerLost, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import { BodyReader } from "./body.ts";
import { InvalidFieldError, STATUS_TEXT } from "./errors.ts";
import { isToken } from "./field_syntax.ts";
import { HttpHeaders } from "./headers.ts";
import { httpConnector } from "./connector.ts";
import { bodyFraming, parseResponseHead } from "./parse.ts";
import type { Http2ClientPool, Http2ClientRequest } from "./h2/client_connection.ts";
import { loadHttp2Client } from "./_h2_lazy.ts";
import { redirectTarget, TooManyRedirectsError } from "./redirects.ts";
import { BodyIdleDeadline, within } from "./client_timeouts.ts";

/** A request body: bytes, text, or pieces streamed with chunked transfer coding. */
export type RequestBody = Uint8Array | string | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** What to send. */
export interface RequestInit {
  /** The method ("GET"). */
  method?: string;
  /** Header fields. */
  headers?: Record<string, string>;
  /** The body; streams go out chunked. */
  body?: RequestBody | null;
  /**
   * Whether the request may be sent again when a pooled connection turns out closed
   * before any byte of the response came (RFC 9110 9.2.2). Default: true for the
   * idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), false for the others:
   * a POST the server may already have acted on is never replayed unless you say so.
   */
  idempotent?: boolean;
  /** "follow" redirects (default, up to the client's `maxRedirects`) or return them ("manual"). */
  redirect?: "follow" | "manual";
}

/** The methods RFC 9110 9.2.2 calls idempotent. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** Options of an {@linkcode HttpClient}. */
export interface HttpClientOptions {
  /** Most connections per origin (6); more requests wait for one. */
  maxConnectionsPerOrigin?: number;
  /** Largest response head (64 KiB). */
  maxHeadBytes?: number;
  /** Largest response body read by `bytes`/`text`/`json` (64 MiB). */
  maxBodyBytes?: number;
  /**
   * Opens connections (default {@linkcode httpConnector}: our resolver, TLS for https with
   * the certificate checked against the host name, ALPN "http/1.1").
   */
  connect?: (host: string, port: number, secure: boolean) => Promise<Socket>;
  /**
   * Whether an https origin whose server chooses "h2" by ALPN is spoken to over HTTP/2,
   * one connection carrying the concurrent requests of all threads (true). The default
   * connector then offers "h2" and "http/1.1"; a connector of your own must offer "h2"
   * (`connectTls` with `alpnProtocols: ["h2", "http/1.1"]`).
   */
  http2?: boolean;
  /** Extra CA certificates (PEM) trusted for https, besides Deno's roots. */
  caCerts?: string[];
  /** Most redirects followed for one request (20); 0 returns every redirect answer. */
  maxRedirects?: number;
  /** Seconds a new connection (with its TLS handshake) may take (10). */
  connectTimeoutSeconds?: number;
  /** Seconds from sending a request to its response's head (30). */
  headTimeoutSeconds?: number;
  /** Seconds a read of a response body may wait for the next bytes (30). */
  bodyIdleTimeoutSeconds?: number;
  /**
   * Seconds for a whole `request()`: connects, redirects and heads, up to the last
   * response's head (300). The body is then bounded by `bodyIdleTimeoutSeconds`.
   */
  requestTimeoutSeconds?: number;
}

const encoder = new TextEncoder();

/** One pooled connection. */
class Connection {
  readonly socket: Socket;
  readonly reader: SocketReader;
  /** Requests sent and not yet answered in full. */
  inFlight = 0;
  reusable = true;
  constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new SocketReader(socket);
  }
}

class Origin {
  idle: Connection[] = [];
  open = 0;
  freed = new ConditionVariable();
}

/**
 * A response. Read its body (`bytes`, `text`, `json`, or `body.read()` piece by piece);
 * the connection goes back to the pool once the body has been read to its end (or
 * `release()` skipped the rest). A body cut short by the server throws a `PeerLostError`
 * from its read; `bytes`/`text`/`json` then drop the connection, after a failed
 * `body.read()` call `abandon()`.
 */
export class HttpResponse {
  /** The status code. */
  readonly status: number;
  /** The reason phrase. */
  readonly reason: string;
  /** The header fields. */
  readonly headers: HttpHeaders;
  /** The body, as a stream. */
  readonly body: BodyReader;
  /** The URL this response came from (the last one, after redirects). */
  url = "";
  /** Whether redirects were followed to get here. */
  redirected = false;
  readonly #release: (reusable: boolean) => void;
  #released = false;

  /** @internal */
  constructor(
    status: number,
    reason: string,
    headers: HttpHeaders,
    body: BodyReader,
    release: (reusable: boolean) => void,
  ) {
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.body = body;
    this.#release = release;
    // A body declared over the limit is "done" unread: its bytes are still on the
    // connection, and on reuse they would pass for the next response.
    if (body.done) this.#finish(!body.tooLarge);
  }

  /** Whether the status is 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  #finish(reusable: boolean): void {
    if (this.#released) return;
    this.#released = true;
    this.#release(reusable);
  }

  /** The whole body. Interruption point (the connection is then dropped). */
  async bytes(): Promise<Uint8Array> {
    try {
      const data = await this.body.bytes();
      this.#finish(true);
      return data;
    } catch (e) {
      this.#finish(false);
      throw e;
    }
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** The whole body parsed as JSON. */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /**
   * Closes the connection without reading the rest of the body (after a read of it
   * failed, or when the rest is not wanted and may be long). Not an interruption point.
   */
  abandon(): void {
    this.#finish(false);
  }

  /**
   * Gives the connection back: skips up to 64 KiB of unread body to keep it, else
   * closes it. Interruption point: when interrupted, the connection is closed and the
   * interruption thrown.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    let reusable = false;
    try {
      reusable = await this.body.skip(65536);
    } catch (e) {
      // A body that cannot be read to its end only costs the connection; an interruption
      // is the caller's, and goes on (the connection is dropped either way).
      this.#finish(false);
      if (e instanceof Interrupted) throw e;
      return;
    }
    this.#finish(reusable);
  }
}

interface Target {
  origin: string;
  host: string;
  port: number;
  secure: boolean;
  path: string;
  hostHeader: string;
}

function target(url: string): Target {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`not an http(s) URL: ${url}`);
  }
  const secure = u.protocol === "https:";
  const port = Number(u.port || (secure ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return {
    origin: `${u.protocol}//${u.host}`,
    host,
    port,
    secure,
    path: `${u.pathname}${u.search}`,
    hostHeader: u.host,
  };
}

/**
 * An HTTP/1.1 client with keep-alive pooling (per origin) and pipelining.
 *
 * Each request is an interruption point while it connects, sends and reads the head; an
 * interrupted request's connection is closed, never reused.
 *
 * @example
 * ```ts ignore
 * const client = new HttpClient();
 * const response = await client.request("http://127.0.0.1:8080/hello");
 * console.log(response.status, await response.text());
 * client.close();
 * ```
 */
export class HttpClient {
  readonly #options: Required<Omit<HttpClientOptions, "caCerts">>;
  /** Made on the first request to an https origin (its module is loaded then). */
  #h2: Http2ClientPool | null = null;
  readonly #origins = new Map<string, Origin>();
  #closed = false;

  /**
   * Creates a {@linkcode HttpClient}.
   *
   * @param options pool size, limits, connector
   */
  constructor(options: HttpClientOptions = {}) {
    this.#options = {
      maxConnectionsPerOrigin: options.maxConnectionsPerOrigin ?? 6,
      maxHeadBytes: options.maxHeadBytes ?? 65536,
      maxBodyBytes: options.maxBodyBytes ?? 64 << 20,
      connect: options.connect ?? httpConnector({
        caCerts: options.caCerts,
        alpnProtocols: options.http2 === false ? ["http/1.1"] : ["h2", "http/1.1"],
      }),
      http2: options.http2 ?? true,
      maxRedirects: options.maxRedirects ?? 20,
      connectTimeoutSeconds: options.connectTimeoutSeconds ?? 10,
      headTimeoutSeconds: options.headTimeoutSeconds ?? 30,
      bodyIdleTimeoutSeconds: options.bodyIdleTimeoutSeconds ?? 30,
      requestTimeoutSeconds: options.requestTimeoutSeconds ?? 300,
    };
  }

  /** The HTTP/2 pool, made on first use. Interruption point (the module's load). */
  async #http2Pool(): Promise<Http2ClientPool> {
    const { Http2ClientPool } = await loadHttp2Client();
    if (this.#closed) throw new SocketError("ECANCELED", "request", "the client is closed");
    return this.#h2 ??= new Http2ClientPool({
      maxBodyBytes: this.#options.maxBodyBytes,
      bodyTimeout: this.#options.bodyIdleTimeoutSeconds,
    });
  }

  /** The request over HTTP/2 if `t`'s origin speaks it (see h2/client_connection.ts). */
  async #http2(t: Target, init: RequestInit): Promise<HttpResponse | null> {
    const body = init.body ?? null;
    const request: Http2ClientRequest = {
      method: (init.method ?? "GET").toUpperCase(),
      path: t.path,
      authority: t.hostHeader,
      headers: new HttpHeaders(init.headers ?? {}),
      body: typeof body === "string" ? encoder.encode(body) : body,
    };
    if (!request.headers.has("user-agent")) request.headers.set("user-agent", "shrapnel-deno");
    const connect = () =>
      within(
        this.#options.connectTimeoutSeconds,
        "connect",
        t.origin,
        () => this.#options.connect(t.host, t.port, true),
      );
    const pool = this.#h2 ?? await this.#http2Pool();
    const via = await pool.request(t.origin, connect, request);
    if (via === null) return null;
    if ("status" in via) {
      const reason = STATUS_TEXT[via.status] ?? ""; // HTTP/2 has no reason phrase
      return new HttpResponse(via.status, reason, via.headers, via.body, via.release);
    }
    // The server chose HTTP/1.1: its connection joins the pool.
    const origin = this.#origin(t);
    origin.open++;
    origin.idle.push(new Connection(via));
    return null;
  }

  #origin(t: Target): Origin {
    let origin = this.#origins.get(t.origin);
    if (origin === undefined) this.#origins.set(t.origin, origin = new Origin());
    return origin;
  }

  /** A connection to `t`: an idle pooled one, a new one, or the next one freed. */
  async #acquire(t: Target): Promise<[Connection, boolean]> {
    const origin = this.#origin(t);
    for (;;) {
      if (this.#closed) throw new SocketError("ECANCELED", "request", "the client is closed");
      const pooled = origin.idle.pop();
      if (pooled !== undefined) {
        if (!pooled.socket.closed && !pooled.reader.ended) return [pooled, true];
        origin.open--;
        continue;
      }
      if (origin.open < this.#options.maxConnectionsPerOrigin) {
        origin.open++;
        try {
          const socket = await within(
            this.#options.connectTimeoutSeconds,
            "connect",
            t.origin,
            () => this.#options.connect(t.host, t.port, t.secure),
          );
          return [new Connection(socket), false];
        } catch (e) {
          origin.open--;
          origin.freed.wakeOne();
          throw e;
        }
      }
      await origin.freed.wait();
    }
  }

  #releaser(t: Target, connection: Connection): (reusable: boolean) => void {
    return (reusable) => {
      const origin = this.#origin(t);
      connection.inFlight--;
      if (!reusable) connection.reusable = false;
      if (connection.inFlight > 0) return; // pipelined answers still to come
      if (connection.reusable && !this.#closed && !connection.socket.closed) {
        origin.idle.push(connection);
      } else {
        connection.socket.close();
        origin.open--;
      }
      origin.freed.wakeOne();
    };
  }

  async #send(connection: Connection, t: Target, init: RequestInit): Promise<void> {
    const method = (init.method ?? "GET").toUpperCase();
    if (!isToken(method)) throw new InvalidFieldError(method, "method");
    const headers = new HttpHeaders(init.headers ?? {}); // checks names and values
    if (!headers.has("host")) headers.set("host", t.hostHeader);
    if (!headers.has("user-agent")) headers.set("user-agent", "shrapnel-deno");
    const body = init.body ?? null;
    let fixed: Uint8Array | null = null;
    let stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null = null;
    if (typeof body === "string") fixed = encoder.encode(body);
    else if (body instanceof Uint8Array) fixed = body;
    else if (body !== null) stream = body;
    if (fixed !== null) headers.set("content-length", String(fixed.length));
    else if (stream !== null) headers.set("transfer-encoding", "chunked");
    else if (method === "POST" || method === "PUT" || method === "PATCH") {
      headers.set("content-length", "0");
    }
    const head = encoder.encode(`${method} ${t.path} HTTP/1.1\r\n${headers}\r\n`);
    if (fixed !== null && fixed.length <= 65536) {
      const all = new Uint8Array(head.length + fixed.length);
      all.set(head);
      all.set(fixed, head.length);
      await connection.socket.send(all);
    } else {
      await connection.socket.send(head);
      if (fixed !== null) await connection.socket.send(fixed);
    }
    if (stream !== null) {
      for await (const piece of stream) {
        // An empty chunk would end the body: skip empty pieces.
        if (piece.length === 0) continue;
        await connection.socket.send(encoder.encode(`${piece.length.toString(16)}\r\n`));
        await connection.socket.send(piece);
        await connection.socket.send(CRLF);
      }
      await connection.socket.send(LAST_CHUNK);
    }
  }

  async #receive(connection: Connection, t: Target, method: string): Promise<HttpResponse> {
    for (;;) {
      const bytes = await connection.reader.readHead(this.#options.maxHeadBytes);
      if (bytes === null) throw new EOFError(new Uint8Array(0), 1);
      const head = parseResponseHead(bytes);
      if (head.status >= 100 && head.status < 200 && head.status !== 101) continue; // interim
      const noBody = method === "HEAD" || head.status === 204 || head.status === 304 ||
        head.status < 200;
      const framing = noBody
        ? { kind: "length" as const, length: 0 }
        : bodyFraming(head.headers, false);
      const keep = head.minor === 1
        ? !head.headers.hasToken("connection", "close")
        : head.headers.hasToken("connection", "keep-alive");
      // After a 101 the connection speaks another protocol: never pooled again.
      if (!keep || framing.kind === "close" || head.status === 101) connection.reusable = false;
      const body = new BodyReader(connection.reader, framing, this.#options.maxBodyBytes);
      body.lostPeer = { client: "http", operation: method };
      const idle = this.#options.bodyIdleTimeoutSeconds;
      if (idle !== Infinity) body.deadline = new BodyIdleDeadline(idle, `${t.origin}${t.path}`);
      return new HttpResponse(
        head.status,
        head.reason,
        head.headers,
        body,
        this.#releaser(t, connection),
      );
    }
  }

  /**
   * The answer a server gave before it closed on the request's body (a 413, a 401...:
   * RFC 9112 9.5), or `sendError` when there is none to read.
   */
  async #earlyAnswer(
    connection: Connection,
    t: Target,
    method: string,
    sendError: ConnectionResetError,
  ): Promise<HttpResponse> {
    connection.reusable = false;
    let early: HttpResponse;
    try {
      early = await this.#receive(connection, t, method);
    } catch (e) {
      if (e instanceof Interrupted) throw e; // the request's own cancellation
      throw sendError; // no answer came: the send's failure is what happened
    }
    return early;
  }

  /**
   * Sends a request, following redirects (see {@linkcode redirectTarget}: 303 becomes a
   * GET, credentials stay behind when the origin changes) up to `maxRedirects` unless
   * `init.redirect` is "manual"; returns the last response once its head has arrived
   * (`url` and `redirected` tell where it came from). Each redirect's body is skipped.
   *
   * Interruption point. Bounded by the client's deadlines (connect 10 s, head 30 s, the
   * whole request 300 s; then the body's reads 30 s each without bytes).
   * @throws {TooManyRedirectsError} past `maxRedirects`
   * @throws {HttpProtocolError} for a malformed response (status 502)
   * @throws {SocketError} if the connection fails
   * @throws {HttpTimeoutError} when one of the client's deadlines passes
   */
  request(url: string, init: RequestInit = {}): Promise<HttpResponse> {
    return within(
      this.#options.requestTimeoutSeconds,
      "request",
      url,
      () => this.#followRedirects(url, init),
    );
  }

  async #followRedirects(url: string, init: RequestInit): Promise<HttpResponse> {
    const limit = init.redirect === "manual" ? 0 : this.#options.maxRedirects;
    for (let hops = 0;; hops++) {
      const response = await this.#requestOnce(url, init);
      response.url = url;
      response.redirected = hops > 0;
      const next = limit === 0
        ? null
        : redirectTarget(response.status, response.headers, url, init);
      if (next === null) return response;
      await response.release();
      if (hops === limit) throw new TooManyRedirectsError(limit, url);
      ({ url, init } = next);
    }
  }

  /**
   * Sends one request and returns the response once its head has arrived. When a pooled
   * connection turns out closed by the server before any byte of the response came, the
   * request is sent once more on a new connection, if it is idempotent (see
   * `RequestInit.idempotent`) and its body can be sent again (not a stream); otherwise the
   * error is thrown, and the server may or may not have acted on the request.
   *
   * Interruption point.
   * @throws {HttpProtocolError} for a malformed response (status 502)
   * @throws {SocketError} if the connection fails
   * @throws {EOFError} if the connection ended before the response (also a
   *   {@linkcode PeerLostError}, as a reset is)
   * @throws {InvalidFieldError} for a method or header field that is not well-formed
   *   (nothing is sent)
   */
  async #requestOnce(url: string, init: RequestInit): Promise<HttpResponse> {
    const t = target(url);
    const headWait = this.#options.headTimeoutSeconds;
    if (t.secure && this.#options.http2 && !this.#closed) {
      const response = await within(headWait, "head", url, () => this.#http2(t, init));
      if (response !== null) return response;
    }
    const method = (init.method ?? "GET").toUpperCase();
    const replayable = (init.idempotent ?? IDEMPOTENT.has(method)) &&
      (init.body === undefined || init.body === null || typeof init.body === "string" ||
        init.body instanceof Uint8Array);
    for (let attempt = 0;; attempt++) {
      const [connection, pooled] = await this.#acquire(t);
      connection.inFlight++;
      try {
        return await within(headWait, "head", url, async () => {
          try {
            await this.#send(connection, t, init);
          } catch (e) {
            if (!(e instanceof ConnectionResetError)) throw e;
            return await this.#earlyAnswer(connection, t, method, e);
          }
          return await this.#receive(connection, t, method);
        });
      } catch (e) {
        this.#releaser(t, connection)(false);
        // Stale: the server closed the pooled connection, and no byte of a response came.
        const stale = pooled && attempt === 0 && replayable &&
          connection.reader.buffered === 0 &&
          ((e instanceof EOFError && e.partial.length === 0) || e instanceof SocketError);
        if (!stale) {
          // The server went away before the whole response head came.
          const gone = e instanceof EOFError || e instanceof ConnectionResetError;
          throw gone ? markPeerLost(e, "http", method) : e;
        }
      }
    }
  }

  /**
   * Sends several requests on one connection without waiting for answers (pipelining),
   * then reads the responses in order, each body in full.
   *
   * Interruption point. Bounded by the client's deadlines: connect, each send and each
   * response's head (`headTimeoutSeconds`), each body read (`bodyIdleTimeoutSeconds`).
   * @throws {HttpTimeoutError} when one of them passes (the connection is dropped)
   */
  async pipeline(
    requests: { url: string; init?: RequestInit }[],
  ): Promise<{ response: HttpResponse; body: Uint8Array }[]> {
    if (requests.length === 0) return [];
    const targets = requests.map((r) => target(r.url));
    if (targets.some((t) => t.origin !== targets[0].origin)) {
      throw new TypeError("pipelined requests must share an origin");
    }
    const [connection] = await this.#acquire(targets[0]);
    connection.inFlight += requests.length;
    const out: { response: HttpResponse; body: Uint8Array }[] = [];
    try {
      const headWait = this.#options.headTimeoutSeconds;
      for (let i = 0; i < requests.length; i++) {
        await within(headWait, "head", requests[i].url, async () => {
          await this.#send(connection, targets[i], requests[i].init ?? {});
        });
      }
      for (let i = 0; i < requests.length; i++) {
        // Each head has the head deadline (counted from when the one before is read).
        const response = await within(
          headWait,
          "head",
          requests[i].url,
          async () =>
            await this.#receive(
              connection,
              targets[i],
              (requests[i].init?.method ?? "GET").toUpperCase(),
            ),
        );
        out.push({ response, body: await response.bytes() });
      }
      return out;
    } catch (e) {
      // The answers still owed will never be read: drop it. None owed: the failed body's
      // own release dropped it already (a second one would count it closed twice).
      if (connection.inFlight > 0) {
        connection.inFlight = 1;
        this.#releaser(targets[0], connection)(false);
      }
      throw e;
    }
  }

  /** Closes the pooled connections; requests after this fail. */
  close(): void {
    this.#closed = true;
    this.#h2?.close();
    for (const origin of this.#origins.values()) {
      for (const c of origin.idle) c.socket.close();
      origin.open -= origin.idle.length;
      origin.idle = [];
      origin.freed.wakeAll();
    }
  }

  /** Idle and open connections per origin. */
  statistics(): Record<string, { idle: number; open: number }> {
    return Object.fromEntries(
      [...this.#origins].map(([k, o]) => [k, { idle: o.idle.length, open: o.open }]),
    );
  }
}

const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
