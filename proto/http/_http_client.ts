/**
 * The HTTP/1.1 client's connection pool, request writer and response reader, behind
 * {@linkcode HttpClient} (client.ts): loaded by a client's first request, so that
 * importing the library does not compile it (bench/import.ts).
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
import { HttpHeaders, isToken } from "./headers.ts";
import { bodyFraming, parseResponseHead } from "./parse.ts";
import type { Http2ClientPool, Http2ClientRequest } from "./h2/client_connection.ts";
import { loadHttp2Client } from "./_h2_lazy.ts";
import { redirectTarget, TooManyRedirectsError } from "./redirects.ts";
import { BodyIdleDeadline, within } from "./client_timeouts.ts";
import { type HttpClientOptions, HttpResponse, type RequestInit } from "./client.ts";

/** {@linkcode HttpClientOptions} with the defaults filled in. */
export type ResolvedHttpClientOptions = Required<Omit<HttpClientOptions, "caCerts">>;

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

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

/** What {@linkcode HttpClient} does once loaded: see there. */
export class HttpClientCore {
  readonly #options: Required<Omit<HttpClientOptions, "caCerts">>;
  /** Made on the first request to an https origin (its module is loaded then). */
  #h2: Http2ClientPool | null = null;
  readonly #origins = new Map<string, Origin>();
  #closed = false;

  /** A client of the options {@linkcode HttpClient} filled in. */
  constructor(options: ResolvedHttpClientOptions) {
    this.#options = options;
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

  /** `HttpClient.request` (client.ts), which documents it. */
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

  /** `HttpClient.pipeline` (client.ts), which documents it. */
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

  /** `HttpClient.close` (client.ts), which documents it. */
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

  /** `HttpClient.statistics` (client.ts), which documents it. */
  statistics(): Record<string, { idle: number; open: number }> {
    return Object.fromEntries(
      [...this.#origins].map(([k, o]) => [k, { idle: o.idle.length, open: o.open }]),
    );
  }
}

const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
