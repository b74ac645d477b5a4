/**
 * The `Request` a fetch-style handler gets: a real `Request` to whoever uses it
 * (`instanceof Request`, every property and method, `fetch(request)`, `new Request(request)`),
 * made lazily from our parsed head.
 *
 * Why lazily: Deno's `Request` constructor costs 16-24 us (URL parsing, WebIDL conversion of
 * the init dictionary, an AbortSignal), more than our whole native request path. Most
 * handlers read only `method`, `url` and a header or two, so those come from our head; the
 * first use of anything else makes the real `Request` (with the same headers, body stream
 * and signal) and from then on everything is delegated to it. Deno's own code reaches a
 * request's state through symbol-keyed slots: those are forwarded too (read from a probe
 * request), so that passing this object to `fetch` or `new Request` works.
 *
 * @module
 */

import { scheduler } from "../../core/scheduler.ts";
import { current, type Thread } from "../../core/thread.ts";
import type { BodyReader } from "./body.ts";
import { HttpProtocolError } from "./errors.ts";
import type { HttpRequest } from "./request.ts";

/** Characters a Host field may hold (RFC 3986 reg-name, IP literals, a port). */
const HOST = /^[A-Za-z0-9.\-_~!$&'()*+,;=:[\]%]+$/;

/** The last Host value found valid: most requests repeat it, and skip the expression. */
let validHost = "";

/** Whether `host` may stand in a URL's authority. */
function hostIsValid(host: string): boolean {
  if (host === validHost) return true;
  if (!HOST.test(host)) return false;
  validHost = host;
  return true;
}

/** Runs `fn` as the current thread, or as `thread` when called outside any (a stream's pull). */
function inThread<T>(thread: Thread, fn: () => T): T {
  return current() === null ? scheduler.context.run(thread, fn) : fn();
}

/**
 * The request body as a byte stream fed from the socket: a piece is read only when the
 * consumer asks for one (backpressure reaches the client through TCP).
 */
function bodyStream(body: BodyReader, thread: Thread): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const piece = await inThread(thread, () => body.read());
      if (piece.length === 0) controller.close();
      else controller.enqueue(piece.slice()); // the piece is a view into the reader's buffer
    },
  }, { highWaterMark: 0 });
}

/** @internal A request as a Fetch API `Request`; see the module's comment. */
export class FetchRequest {
  readonly #http: HttpRequest;
  readonly #thread: Thread;
  readonly #url: string;
  #headers: Headers | null = null;
  #controller: AbortController | null = null;
  #abortReason: unknown = undefined;
  #stream: ReadableStream<Uint8Array> | null = null;
  #used = false;
  #real: Request | null = null;

  /**
   * @param http the request as our server parsed it
   * @param thread the connection's thread (blocking reads of the body block it)
   * @param scheme "http" or "https"
   * @throws {HttpProtocolError} (400) for a Host field that cannot be part of a URL
   */
  constructor(http: HttpRequest, thread: Thread, scheme: string) {
    if (!FetchRequest.#linked) FetchRequest.#link();
    this.#http = http;
    this.#thread = thread;
    const target = http.target;
    if (target.charCodeAt(0) === 47 /* / */) {
      const host = http.headers.get("host") ?? localHost(http);
      if (!hostIsValid(host)) throw new HttpProtocolError("bad Host field");
      this.#url = `${scheme}://${host}${target}`;
    } else if (/^https?:\/\//i.test(target)) {
      this.#url = target;
    } else {
      // "*" (OPTIONS *) or an authority (CONNECT): no path of its own.
      const host = http.headers.get("host") ?? localHost(http);
      if (!hostIsValid(host)) throw new HttpProtocolError("bad Host field");
      this.#url = `${scheme}://${host}/${target === "*" ? "*" : ""}`;
    }
  }

  /** @internal The request as our server parsed it. */
  get _http(): HttpRequest {
    return this.#http;
  }

  /** @internal The client went away: the signal aborts (now, or when first asked for). */
  _abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }

  /** The real `Request`, made on first need; everything is delegated to it afterwards. */
  #materialize(): Request {
    if (this.#real !== null) return this.#real;
    const method = this.#http.method;
    const hasBody = method !== "GET" && method !== "HEAD" && !this.#used;
    this.#real = new Request(this.#url, {
      method,
      headers: this.headers,
      body: hasBody ? this.body : null,
      signal: this.signal,
      // @ts-ignore: `duplex` is in Deno's RequestInit but not in every lib's
      duplex: "half",
    });
    return this.#real;
  }

  /** The method. */
  get method(): string {
    return this.#http.method;
  }

  /** The URL: scheme, the Host field, the target. */
  get url(): string {
    return this.#url;
  }

  /** The header fields (a `Headers` made on first use). */
  get headers(): Headers {
    if (this.#real !== null) return this.#real.headers;
    if (this.#headers !== null) return this.#headers;
    const headers = new Headers();
    for (const [name, value] of this.#http.headers) {
      try {
        headers.append(name, value);
      } catch {
        throw new HttpProtocolError(`header field ${name} has a value Headers refuses`);
      }
    }
    return this.#headers = headers;
  }

  /** Aborts when the client goes away before the response is sent. */
  get signal(): AbortSignal {
    if (this.#real !== null) return this.#real.signal;
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** The body as a stream; null if the request has none. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#real !== null) return this.#real.body;
    if (this.#stream !== null) return this.#stream;
    const body = this.#http._bodyIfAny;
    if (body === null || (body.done && body.received === 0)) return null;
    return this.#stream = bodyStream(body, this.#thread);
  }

  /** Whether the body has been read. */
  get bodyUsed(): boolean {
    if (this.#real !== null) return this.#real.bodyUsed;
    return this.#used;
  }

  /** The whole body, read from the socket; interruption point of the connection's thread. */
  async #bytes(): Promise<Uint8Array> {
    if (this.#used) throw new TypeError("the body has already been consumed");
    this.#used = true;
    const body = this.#http._bodyIfAny;
    if (body === null) return new Uint8Array(0);
    return await inThread(this.#thread, () => body.bytes());
  }

  /** The body as one `Uint8Array`. */
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#real !== null || this.#stream !== null) return this.#materialize().bytes();
    return this.#bytes() as Promise<Uint8Array<ArrayBuffer>>;
  }

  /** The body as an `ArrayBuffer`. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#real !== null || this.#stream !== null) return this.#materialize().arrayBuffer();
    const bytes = await this.#bytes();
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer as ArrayBuffer
      : bytes.slice().buffer as ArrayBuffer;
  }

  /** The body decoded as UTF-8. */
  async text(): Promise<string> {
    if (this.#real !== null || this.#stream !== null) return this.#materialize().text();
    return new TextDecoder().decode(await this.#bytes());
  }

  /** The body parsed as JSON. */
  async json(): Promise<unknown> {
    if (this.#real !== null || this.#stream !== null) return this.#materialize().json();
    return JSON.parse(await this.text());
  }

  /** The body as a `Blob` typed by Content-Type. */
  blob(): Promise<Blob> {
    return this.#materialize().blob();
  }

  /** The body parsed as a form (urlencoded or multipart). */
  formData(): Promise<FormData> {
    return this.#materialize().formData();
  }

  /** A copy (the body is teed). */
  clone(): Request {
    return this.#materialize().clone();
  }

  static #linked = false;

  /**
   * Makes FetchRequest a Request: done by the first one made, not at import (touching
   * `Request` loads Deno's fetch code into every program that imports shrapnel).
   */
  static #link(): void {
    FetchRequest.#linked = true;
    Object.setPrototypeOf(FetchRequest.prototype, Request.prototype);
    const own = FetchRequest.prototype as unknown as Record<PropertyKey, unknown>;
    const materialize = (self: unknown): Request => (self as FetchRequest).#materialize();
    // Whatever else a Request has (cache, mode, referrer...) comes from the real one.
    for (const name of Object.getOwnPropertyNames(Request.prototype)) {
      if (Object.hasOwn(own, name)) continue;
      const d = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
      if (d.get !== undefined) {
        const get = d.get;
        Object.defineProperty(own, name, {
          get(this: unknown) {
            return get.call(materialize(this));
          },
          configurable: true,
        });
      } else if (typeof d.value === "function") {
        const fn = d.value as (...args: unknown[]) => unknown;
        Object.defineProperty(own, name, {
          value(this: unknown, ...args: unknown[]) {
            return fn.apply(materialize(this), args);
          },
          configurable: true,
          writable: true,
        });
      }
    }
    // Deno's internal slots (brand, inner request, headers...), read and written through.
    const probe = new Request("http://localhost/");
    for (const symbol of Object.getOwnPropertySymbols(probe)) {
      Object.defineProperty(own, symbol, {
        get(this: unknown) {
          return (materialize(this) as unknown as Record<symbol, unknown>)[symbol];
        },
        set(this: unknown, value: unknown) {
          (materialize(this) as unknown as Record<symbol, unknown>)[symbol] = value;
        },
        configurable: true,
      });
    }
  }
}

/** The server's address as a Host value, for requests without one (HTTP/1.0). */
function localHost(http: HttpRequest): string {
  const a = http._connection.socket.localAddress();
  if (a.family === "unix") return "localhost";
  return a.family === "ipv6" ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** @internal Our request behind a `Request` a fetch-style handler was given, if it is one. */
export function httpRequestOf(request: Request): HttpRequest | undefined {
  return request instanceof FetchRequest ? request._http : undefined;
}
