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
import { registerRequestLookup } from "./_upgrades.ts";
import type { HttpRequest } from "./request.ts";

/** Characters a Host field may hold (RFC 3986 reg-name, IP literals, a port). */
const HOST = /^[A-Za-z0-9.\-_~!$&'()*+,;=:[\]%]+$/;

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

/** A request's state beyond its head, made on first need (most handlers need none). */
class Rare {
  headers: Headers | null = null;
  controller: AbortController | null = null;
  abortReason: unknown = undefined;
  stream: ReadableStream<Uint8Array> | null = null;
  used = false;
  /** The real `Request`, once made: everything is delegated to it. */
  real: Request | null = null;
}

/** The last URL prefix made ("http://" and a Host): most requests repeat it. */
let lastScheme = "", lastHost = "", lastPrefix = "";

/** `${scheme}://${host}`, checking `host`. @throws {HttpProtocolError} (400) for a bad Host */
function prefixOf(scheme: string, host: string): string {
  if (host === lastHost && scheme === lastScheme) return lastPrefix;
  if (!HOST.test(host)) throw new HttpProtocolError("bad Host field");
  lastScheme = scheme;
  lastHost = host;
  return lastPrefix = `${scheme}://${host}`;
}

/** A URL made lately, by its target (see {@linkcode urlOf}). */
interface MadeUrl {
  prefix: string;
  url: string;
}
const urls = new Map<string, MadeUrl>();

/**
 * `prefix + target`, the same string as for an earlier request with the same target and
 * prefix: made and flattened once, not per request (a joined string is flattened by its
 * first reader, e.g. a router taking the path: ~100 bytes and a copy each time). Targets
 * repeat (the parser interns them); at most 256 short ones are kept, then the table starts
 * over, so a client sending new targets costs no more than without it.
 */
function urlOf(prefix: string, target: string): string {
  if (target.length > 256) return prefix + target;
  const made = urls.get(target);
  if (made !== undefined && made.prefix === prefix) return made.url;
  const url = prefix + target;
  url.charCodeAt(0); // flattens it, once
  if (made !== undefined) {
    made.prefix = prefix;
    made.url = url;
  } else {
    if (urls.size >= 256) urls.clear();
    urls.set(target, { prefix, url });
  }
  return url;
}

/** @internal A request as a Fetch API `Request`; see the module's comment. */
export class FetchRequest {
  readonly #http: HttpRequest;
  readonly #thread: Thread;
  readonly #url: string;
  #rare: Rare | null = null;

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
      this.#url = urlOf(prefixOf(scheme, http.headers.get("host") ?? localHost(http)), target);
    } else if (/^https?:\/\//i.test(target)) {
      this.#url = target;
    } else {
      // "*" (OPTIONS *) or an authority (CONNECT): no path of its own.
      const prefix = prefixOf(scheme, http.headers.get("host") ?? localHost(http));
      this.#url = `${prefix}/${target === "*" ? "*" : ""}`;
    }
  }

  /** @internal The request as our server parsed it. */
  get _http(): HttpRequest {
    return this.#http;
  }

  /** @internal The connection's thread. */
  get _thread(): Thread {
    return this.#thread;
  }

  #state(): Rare {
    return this.#rare ??= new Rare();
  }

  /** @internal The client went away: the signal aborts (now, or when first asked for). */
  _abort(reason: unknown): void {
    const state = this.#state();
    if (state.abortReason !== undefined) return;
    state.abortReason = reason;
    state.controller?.abort(reason);
  }

  /** The real `Request`, made on first need; everything is delegated to it afterwards. */
  #materialize(): Request {
    const state = this.#state();
    if (state.real !== null) return state.real;
    const method = this.#http.method;
    const hasBody = method !== "GET" && method !== "HEAD" && !state.used;
    const init = {
      method,
      headers: this.headers,
      body: hasBody ? this.body : null,
      signal: this.signal,
      duplex: "half",
    };
    return state.real = new Request(this.#url, init as RequestInit);
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
    const state = this.#state();
    if (state.real !== null) return state.real.headers;
    if (state.headers !== null) return state.headers;
    const headers = new Headers();
    for (const [name, value] of this.#http.headers) {
      try {
        headers.append(name, value);
      } catch {
        throw new HttpProtocolError(`header field ${name} has a value Headers refuses`);
      }
    }
    return state.headers = headers;
  }

  /** Aborts when the client goes away before the response is sent. */
  get signal(): AbortSignal {
    const state = this.#state();
    if (state.real !== null) return state.real.signal;
    if (state.controller === null) {
      state.controller = new AbortController();
      if (state.abortReason !== undefined) state.controller.abort(state.abortReason);
    }
    return state.controller.signal;
  }

  /** The body as a stream; null if the request has none. */
  get body(): ReadableStream<Uint8Array> | null {
    const state = this.#state();
    if (state.real !== null) return state.real.body;
    if (state.stream !== null) return state.stream;
    const body = this.#http._bodyIfAny;
    if (body === null || (body.done && body.received === 0)) return null;
    return state.stream = bodyStream(body, this.#thread);
  }

  /** Whether the body has been read. */
  get bodyUsed(): boolean {
    const rare = this.#rare;
    if (rare === null) return false;
    return rare.real !== null ? rare.real.bodyUsed : rare.used;
  }

  /** The whole body, read from the socket; interruption point of the connection's thread. */
  async #bytes(): Promise<Uint8Array> {
    const state = this.#state();
    if (state.used) throw new TypeError("the body has already been consumed");
    state.used = true;
    const body = this.#http._bodyIfAny;
    if (body === null) return new Uint8Array(0);
    return await inThread(this.#thread, () => body.bytes());
  }

  /** Whether the body must be read through the real `Request` (made, or its stream taken). */
  get #delegated(): boolean {
    const rare = this.#rare;
    return rare !== null && (rare.real !== null || rare.stream !== null);
  }

  /** The body as one `Uint8Array`. */
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    if (this.#delegated) return this.#materialize().bytes();
    return this.#bytes() as Promise<Uint8Array<ArrayBuffer>>;
  }

  /** The body as an `ArrayBuffer`. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#delegated) return this.#materialize().arrayBuffer();
    const bytes = await this.#bytes();
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes.buffer as ArrayBuffer
      : bytes.slice().buffer as ArrayBuffer;
  }

  /** The body decoded as UTF-8. */
  async text(): Promise<string> {
    if (this.#delegated) return this.#materialize().text();
    return new TextDecoder().decode(await this.#bytes());
  }

  /** The body parsed as JSON. */
  async json(): Promise<unknown> {
    if (this.#delegated) return this.#materialize().json();
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

registerRequestLookup(httpRequestOf);
