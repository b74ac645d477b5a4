/**
 * The HTTP/1.1 client: keep-alive connections pooled per origin, pipelining over one
 * connection, chunked uploads of streamed bodies; and the shared client that `get` and
 * `shrapnelFetch` use unless given one.
 *
 * @module
 */
import { loadOnce } from "../../core/_lazy_import.ts";
import { Interrupted } from "../../core/errors.ts";
import type { Socket } from "../../net/socket.ts";
import type { BodyReader } from "./body.ts";
import type { HttpHeaders } from "./headers.ts";
import { httpConnector } from "./connector.ts";
import type { HttpClientCore, ResolvedHttpClientOptions } from "./_http_client.ts";

/** The client's pool and wire code, loaded when the first client is made. */
const clientModule = loadOnce(() => import("./_http_client.ts"), "the HTTP client");

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
  readonly #options: ResolvedHttpClientOptions;
  /** The pool, made by the first request (its module is loaded then). */
  #implementation: HttpClientCore | null = null;
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
    clientModule.begin(); // not at the first request, which may come at EMFILE
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
  async request(url: string, init: RequestInit = {}): Promise<HttpResponse> {
    return await (this.#implementation ?? await this.#core()).request(url, init);
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
    return await (this.#implementation ?? await this.#core()).pipeline(requests);
  }

  /** Closes the pooled connections; requests after this fail. */
  close(): void {
    this.#closed = true;
    this.#implementation?.close();
  }

  /** Idle and open connections per origin. */
  statistics(): Record<string, { idle: number; open: number }> {
    return this.#implementation?.statistics() ?? {};
  }

  /** The pool, made on the first request. Interruption point (the module's load). */
  async #core(): Promise<HttpClientCore> {
    const { HttpClientCore } = clientModule.loaded ?? await clientModule();
    if (this.#implementation === null) {
      this.#implementation = new HttpClientCore(this.#options);
      if (this.#closed) this.#implementation.close();
    }
    return this.#implementation;
  }
}

// The `HttpClient` that `get` and `shrapnelFetch` use unless given one.

let shared: HttpClient | null = null;

/**
 * The shared client (made on first use, with default options): one connection pool for
 * every `get` and `shrapnelFetch` that names no client.
 *
 * @example
 * ```ts
 * import { defaultHttpClient } from "./client.ts";
 * if (defaultHttpClient() !== defaultHttpClient()) throw new Error("not shared");
 * ```
 */
export function defaultHttpClient(): HttpClient {
  return shared ??= new HttpClient();
}

/**
 * Replaces the shared client (e.g. one trusting a private CA); returns the previous one,
 * which is not closed.
 *
 * @example
 * ```ts
 * import { HttpClient, setDefaultHttpClient } from "./client.ts";
 * const previous = setDefaultHttpClient(new HttpClient({ maxRedirects: 5 }));
 * setDefaultHttpClient(previous)?.close();
 * ```
 */
export function setDefaultHttpClient(client: HttpClient | null): HttpClient | null {
  const previous = shared;
  shared = client;
  return previous;
}
