/**
 * The HTTP/1.1 server: one thread per connection, one request at a time on it, handlers
 * tried in the order they were pushed.
 *
 * @module
 */

import { ClosedError, Interrupted, Shutdown, TimeoutError } from "../../core/errors.ts";
import { current, spawn, type Thread } from "../../core/thread.ts";
import { sleep } from "../../core/sleep.ts";
import { ThreadGroup, type ThreadGroupStatistics } from "../../core/thread_group.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { type Address, formatAddress } from "../../net/address.ts";
import { SocketReader, TooLongError } from "../../net/buffered_reader.ts";
import { Acceptor, type AcceptorStatistics } from "../../net/acceptor.ts";
import { listenOn, type ListenOptions } from "../../net/constructors.ts";
import { listenTls, type ListenTlsOptions } from "../../net/tls.ts";
import { DenoSocket } from "../../net/deno_socket.ts";
import { EOFError, PeerLostError, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import { BodyReader, type Framing, type PeerDeadline } from "./body.ts";
import { CONNECTION, EXPECT } from "./framing_fields.ts";
import {
  HeadersTooLargeError,
  HttpError,
  HttpProtocolError,
  PeerTimeoutError,
  type PeerWait,
} from "./errors.ts";
import { failureStatus, interruptsExchange, markClientGone } from "./_interruption.ts";
import { bodyFraming, parseRequestHead, type RequestHead } from "./parse.ts";
import { HttpRequest, refreshHttpDate } from "./request.ts";
import { HeldReplies, sendHeld, SENT } from "./reply_bytes.ts";
import type { Http2Options, Http2ServerHost } from "./h2/server_connection.ts";
import { loadHttp2Server } from "./_h2_lazy.ts";

/**
 * What a handler's `match` answers: `false` (not mine), `true` (mine), or the parameters a
 * route captured (mine, with these: a fresh object, which the server makes
 * `request.params`). A `match` only reads the request, so one that declines leaves it as
 * it was for the next handler (as Hono's routers return their params).
 */
export type MatchResult = boolean | Record<string, string>;

/** A request handler: the first whose `match` says yes handles the request. */
export interface Handler {
  /**
   * Whether this handler takes `request`, and the parameters it captured from it, if any
   * ({@linkcode MatchResult}). It reads the request and changes nothing in it.
   */
  match(request: HttpRequest): MatchResult;
  /** Serves `request` (the server completes the reply if this does not). */
  handle(request: HttpRequest): Promise<void> | void;
}

/** Limits and timeouts of an {@linkcode HttpServer}. */
export interface HttpServerOptions {
  /** Seconds a connection may sit idle between requests (30). */
  idleTimeout?: number;
  /** Seconds to receive a whole head once its first byte came (10); 408 then. */
  headerTimeout?: number;
  /**
   * Seconds a TLS client has to complete its handshake (10): the first wait of a TLS
   * connection, instead of `idleTimeout`.
   */
  handshakeTimeout?: number;
  /**
   * Seconds a read of the request body may wait for the client's next bytes (30), and
   * the most the server spends skipping a body the handler left unread.
   */
  bodyTimeout?: number;
  /**
   * Seconds a reply may wait for the client to read (30): the whole wait for a reply of
   * up to 64 KiB the socket could not take at once, each wait for progress beyond.
   */
  sendTimeout?: number;
  /** Largest head (request line and fields), in bytes (16 KiB); 431 beyond. */
  maxHeadBytes?: number;
  /** Most header fields (100); 431 beyond. */
  maxHeaders?: number;
  /** Largest request body, in bytes (16 MiB); 413 beyond. */
  maxBodyBytes?: number;
  /** Unread body bytes skipped to keep a connection open (64 KiB); more closes it. */
  maxSkipBytes?: number;
  /**
   * Most connections open at once (10 000); past it, new connections wait in the listen
   * backlog until one closes (see {@linkcode Acceptor}).
   */
  maxConnections?: number;
  /**
   * Called with errors of handlers that are not HTTP errors (default: console.error),
   * their own timeouts included (see {@linkcode HttpServer}: what ends a connection
   * quietly instead).
   */
  onError?: (error: unknown, request: HttpRequest) => void;
  /**
   * HTTP/2 limits (see `h2/server_connection.ts`), or false to speak HTTP/1.1 only.
   * HTTP/2 is served over TLS when ALPN selects "h2", and in clear text to clients that
   * start with its preface (prior knowledge).
   */
  http2?: Http2Options | false;
}

/** Counters of an {@linkcode HttpServer}. */
export interface HttpServerStatistics {
  /** Connections accepted since start. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Requests served since start. */
  requests: number;
  /** The acceptor's counters (cap, resource errors), once listening. */
  acceptor: AcceptorStatistics | null;
  /** The connection threads' group (running, finished, failed: see {@linkcode ThreadGroup}). */
  threads: ThreadGroupStatistics;
  /** Whether `close()` was called. */
  closing: boolean;
}

/** Options of {@linkcode HttpServer.close}. */
export interface HttpServerCloseOptions {
  /**
   * Seconds requests in flight may take to finish (5) before their threads are shut
   * down (`Shutdown` at their blocking point). Idle keep-alive and upgraded (WebSocket)
   * connections are shut down at once; HTTP/2 connections send GOAWAY at once and drain
   * their streams within their own `shutdownGrace`.
   */
  graceSeconds?: number;
}

/**
 * An HTTP/1.1 server. Push handlers (or use `route`), then `listen`.
 *
 * Keep-alive follows HTTP/1.1 (kept unless `Connection: close`) and HTTP/1.0 (kept only
 * if asked and the reply has a length). Heads larger than `maxHeadBytes` or with more
 * than `maxHeaders` fields get 431, bodies over `maxBodyBytes` 413, malformed requests
 * 400, all without harm to other connections. The connection threads live in a
 * {@linkcode ThreadGroup} (a thread that fails unexpectedly is reported through the
 * thread error hook; the others go on). `close()` is graceful: it stops accepting,
 * closes idle keep-alive connections at once, lets requests in flight finish within a
 * grace period, then shuts the rest down. The group belongs to the thread that made the
 * server: shutting that thread down shuts the connections down.
 *
 * What escapes a handler: an {@linkcode HttpError} becomes its status; any other error is
 * the handler's failure, reported to `onError(error, request)` and answered 500, or 504
 * for an `HttpTimeoutError` (an upstream HTTP server the handler called did not answer
 * in time), or 502 for an upstream connection's failure (a `SocketError` but
 * `TooManyOpenFilesError`, an `EOFError`, a `PeerLostError`: its `HttpClient` refused or
 * reset, a Postgres or AMQP connection lost, a response body cut short). That includes
 * the handler's own timeouts: its `withTimeout` expiring (`TimeoutError`), a client's
 * deadline (`HttpTimeoutError`, `ConfirmTimeoutError`). If the reply's head was already
 * sent, the connection (HTTP/2: the stream) is closed (reset) instead. Only
 * interruptions of the exchange end it with no reply and no report: the server's own
 * deadlines on its client ({@linkcode PeerTimeoutError}: a body or a reply waiting
 * `bodyTimeout` or `sendTimeout`), its close and its owner's shutdown (`Shutdown`), an
 * HTTP/2 stream reset (`StreamResetError`), the client gone (a socket error of the
 * exchange's own connection: reading the request's body, sending the reply, a server
 * WebSocket's sends; or an `Interrupted` raised by a fetch handler's watch), and any
 * other `Interrupted` that is not a `TimeoutError`. Socket errors of a socket the
 * handler took over (`upgrade()`) and uses itself are its own: handle them.
 *
 * @example
 * ```ts
 * import { HttpServer } from "./server.ts";
 * import { spawn } from "../../core/thread.ts";
 * const server = new HttpServer();
 * server.route("GET", "/hello/:name", (request) =>
 *   request.respond(200, `hello ${request.params.name}\n`, { "content-type": "text/plain" }));
 * server.listen("127.0.0.1:0");
 * console.log(`listening on ${server.url}`);
 * await spawn(() => server.close()).join();
 * ```
 */
export class HttpServer {
  /** The handlers, tried in order. */
  readonly handlers: Handler[] = [];
  readonly #options: Required<Omit<HttpServerOptions, "http2">>;
  readonly #http2: Http2Options | null;
  #listener: Socket | null = null;
  #acceptor: Acceptor | null = null;
  /** The connection threads. */
  readonly #group = new ThreadGroup({ name: "http connections", childErrors: "report" });
  /** What the sweeper and `close()` need of each connection. */
  readonly #connections = new Set<Connection>();
  #sweeper: Thread | null = null;
  readonly #clock: SweepClock;
  readonly #sweepEvery: number;
  #tls = false;
  #closing = false;
  #stats = { connections: 0, requests: 0 };

  /**
   * Creates a {@linkcode HttpServer}.
   *
   * @param options limits and timeouts
   */
  constructor(options: HttpServerOptions = {}) {
    this.#options = {
      idleTimeout: options.idleTimeout ?? 30,
      headerTimeout: options.headerTimeout ?? 10,
      handshakeTimeout: options.handshakeTimeout ?? 10,
      bodyTimeout: options.bodyTimeout ?? 30,
      sendTimeout: options.sendTimeout ?? 30,
      maxHeadBytes: options.maxHeadBytes ?? 16384,
      maxHeaders: options.maxHeaders ?? 100,
      maxBodyBytes: options.maxBodyBytes ?? 16 << 20,
      maxSkipBytes: options.maxSkipBytes ?? 65536,
      maxConnections: options.maxConnections ?? 10_000,
      onError: options.onError ?? ((error, request) => {
        console.error(`shrapnel http: ${request} failed:`, error);
      }),
    };
    this.#http2 = options.http2 === false ? null : options.http2 ?? {};
    const o = this.#options;
    const shortest = Math.min(
      o.idleTimeout,
      o.headerTimeout,
      o.handshakeTimeout,
      o.bodyTimeout,
      o.sendTimeout,
    );
    this.#sweepEvery = Math.min(Math.max(shortest / 4, 0.005), 1);
    this.#clock = new SweepClock(this.#sweepEvery);
  }

  /** Adds a handler after the others. */
  push(handler: Handler): this {
    this.handlers.push(handler);
    return this;
  }

  /**
   * Adds a handler for `method` ("*" for any) and a path `pattern` where ":name"
   * segments are captured and a final "*" matches the rest. Its `match` returns the
   * captures, which the server sets as `request.params` for `fn`.
   */
  route(
    method: string,
    pattern: string,
    fn: (request: HttpRequest) => Promise<void> | void,
  ): this {
    const names: string[] = [];
    const source = pattern.split("/").map((segment) => {
      if (segment === "*") {
        names.push("*");
        return "(.*)";
      }
      if (segment.startsWith(":")) {
        names.push(segment.slice(1));
        return "([^/]+)";
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }).join("/");
    const regex = new RegExp(`^${source}$`);
    const exact = names.length === 0 ? pattern : null; // no captures: a string compare
    return this.push({
      match(request) {
        if (
          method !== "*" && request.method !== method &&
          !(method === "GET" && request.method === "HEAD")
        ) return false;
        if (exact !== null) return request.path === exact;
        const m = regex.exec(request.path);
        if (m === null) return false;
        const params: Record<string, string> = {};
        for (let i = 0; i < names.length; i++) params[names[i]] = m[i + 1];
        return params;
      },
      handle: fn,
    });
  }

  /**
   * Listens on `address` ("127.0.0.1:8080", "[::1]:0", a unix path) and serves in an
   * acceptor thread. Returns the listening socket. The second argument is the backlog or
   * {@linkcode ListenOptions} (`{ reusePort: true }` in the worker processes of a cluster).
   */
  listen(
    address: string | Address = "127.0.0.1:0",
    options: number | ListenOptions = 1024,
  ): Socket {
    return this.serveListener(listenOn(address, options));
  }

  /**
   * Serves HTTPS on `address` with Deno's TLS (certificate and key in PEM); returns the
   * listening socket. ALPN offers "h2" and "http/1.1" unless `tls.alpnProtocols` says
   * otherwise (or HTTP/2 is off).
   */
  listenTls(address: string | Address, tls: ListenTlsOptions): Socket {
    this.#tls = true;
    const alpnProtocols = tls.alpnProtocols ??
      (this.#http2 !== null ? ["h2", "http/1.1"] : ["http/1.1"]);
    return this.serveListener(listenTls(address, { ...tls, alpnProtocols }));
  }

  /** Serves connections accepted from `listener` (plain or TLS) in an acceptor thread. */
  serveListener(listener: Socket): Socket {
    this.#listener = listener;
    const acceptor: Acceptor = this.#acceptor = new Acceptor(
      listener,
      (socket, peer) => this.serve(socket, peer, acceptor),
      {
        name: `http acceptor ${formatAddress(this.address)}`,
        maxConnections: this.#options.maxConnections,
      },
    );
    return listener;
  }

  /** The listening address. */
  get address(): Address {
    if (this.#listener === null) throw new Error("the server is not listening");
    return this.#listener.localAddress();
  }

  /** "http://host:port" of the listening address. */
  get url(): string {
    const a = this.address;
    if (a.family === "unix") return `http+unix://${encodeURIComponent(a.path)}`;
    const scheme = this.#tls ? "https" : "http";
    return a.family === "ipv6"
      ? `${scheme}://[${a.host}]:${a.port}`
      : `${scheme}://${a.host}:${a.port}`;
  }

  /** Counters since start. */
  statistics(): HttpServerStatistics {
    return {
      ...this.#stats,
      open: this.#connections.size,
      acceptor: this.#acceptor?.statistics() ?? null,
      threads: this.#group.statistics(),
      closing: this.#closing,
    };
  }

  /**
   * Serves one connection (accepted elsewhere, e.g. a TLS socket) in a thread of its
   * own (a child of the server's connection group); returns the thread.
   *
   * @param socket the connection
   * @param peer the client's address
   * @param acceptor the acceptor that took it, released when the connection ends
   * @throws {ClosedError} if the server is closing (the socket is closed)
   */
  serve(socket: Socket, peer: Address, acceptor?: Acceptor): Thread {
    if (this.#closing) {
      socket.close();
      acceptor?.release();
      throw new ClosedError("the HTTP server is closing");
    }
    this.#stats.connections++;
    if (peer.family !== "unix") {
      try {
        socket.setOption("TCP_NODELAY", true); // replies go out whole: no Nagle delay
      } catch { /* not TCP after all */ }
    }
    const state = new Connection(this.#clock, this.#options, socket, acceptor);
    state.thread = this.#group.spawn({ name: `http ${describe(peer)}` }, async () => {
      try {
        await this.#connection(socket, peer, state);
      } finally {
        this.#ended(state);
      }
    });
    this.#connections.add(state);
    this.#sweeper ??= spawn({ name: "http timeouts" }, () => this.#sweep());
    return state.thread;
  }

  /**
   * Interrupts connections past their deadline with a {@linkcode PeerTimeoutError}. One
   * thread checking deadlines costs less than a timer per request (two per request
   * otherwise: idle, head).
   * It runs until `close()` has drained the connections (deadlines hold during the grace),
   * and closes the socket of a connection whose thread was shut down before it started.
   */
  async #sweep(): Promise<void> {
    for (;;) {
      await sleep(this.#sweepEvery);
      refreshHttpDate();
      const sweep = ++this.#clock.sweeps;
      for (const c of this.#connections) {
        if (c.others !== null) {
          // Into the thread whose wait it bounds (a response body's pump, the sender of
          // held replies): never another one, which may be past that wait already.
          for (const [thread, other] of c.others) {
            if (other.deadline > sweep) continue;
            c.others.delete(thread);
            if (!thread.dead) thread.raise(new PeerTimeoutError(other.timeout, other.waitingFor));
          }
        }
        if (c.deadline <= sweep) {
          c.deadline = Infinity;
          if (!c.thread.dead) c.thread.raise(new PeerTimeoutError(c.timeout, c.waitingFor));
        } else if (c.thread.dead) { // never ran its code, so never closed its socket
          c.socket.close();
          this.#ended(c);
        }
      }
    }
  }

  /** A connection is over (its thread ended, or was shut down before it started). */
  #ended(state: Connection): void {
    if (!this.#connections.delete(state)) return;
    state.acceptor?.release();
  }

  #deadline(seconds: number): number {
    return this.#clock.deadline(seconds);
  }

  async #connection(socket: Socket, peer: Address, state: Connection): Promise<void> {
    const options = this.#options;
    const reader = new SocketReader(socket, 8192);
    // Replies to pipelined requests, held while the next request is buffered already.
    const held = new HeldReplies();
    let upgraded = false, blankHeads = 0, first = true, handshaking = true;
    try {
      while (!this.#closing) {
        if (reader.buffered === 0) {
          if (held.length > 0) await sendHeld(socket, held, state);
          // Idle between requests: the only wait the server's close may cut short. A TLS
          // connection's first wait is its handshake, under a deadline of its own.
          const handshake = handshaking && socket instanceof DenoSocket &&
            socket._handshakePending;
          const wait = handshake ? options.handshakeTimeout : options.idleTimeout;
          state.waitingFor = handshake ? "handshake" : "idle";
          handshaking = false;
          state.timeout = wait;
          state.deadline = this.#deadline(wait);
          let more: boolean | null;
          state.idle = true;
          state.request = null;
          try {
            while ((more = reader.fillNow()) === null) await socket.waitForRead();
          } catch (e) {
            if (e instanceof Interrupted) return; // idle timeout, or the server closing
            throw e;
          } finally {
            state.idle = false;
          }
          if (!more) return;
        }
        let head: RequestHead, framing: Framing;
        try {
          let bytes = reader.takeHead(options.maxHeadBytes);
          if (bytes === null) {
            if (held.length > 0) await sendHeld(socket, held, state);
            state.timeout = options.headerTimeout;
            state.waitingFor = "head";
            state.deadline = this.#deadline(options.headerTimeout);
            bytes = await reader.readHead(options.maxHeadBytes);
          }
          state.deadline = Infinity;
          if (bytes === null) return;
          if (first && bytes.length === 18 && this.#http2 !== null && isHttp2Preface(bytes)) {
            state.idle = true; // its Shutdown is a graceful GOAWAY: close() sends it at once
            await this.#serveHttp2(socket, reader, peer, state);
            return;
          }
          first = false;
          // Blank lines before a request line are ignored (RFC 9112 2.2), a few of them.
          if ((bytes[0] === 13 || bytes[0] === 10) && isBlank(bytes)) {
            if (++blankHeads > 4) throw new HttpProtocolError("blank lines instead of a request");
            continue;
          }
          head = parseRequestHead(bytes, options.maxHeaders, true);
          framing = bodyFraming(head.headers, true);
          // Chunked is HTTP/1.1's: on 1.0 the framing is faulty (RFC 9112 6.1).
          if (head.minor === 0 && framing.kind === "chunked") {
            throw new HttpProtocolError("Transfer-Encoding on HTTP/1.0");
          }
        } catch (e) {
          if (held.length > 0) await sendHeld(socket, held, state);
          await this.#refuse(socket, e);
          return;
        }
        const request = state.request = this.#request(
          head,
          framing,
          socket,
          reader,
          peer,
          state,
          held,
        );
        this.#stats.requests++;
        if (this.#closing) request.closeAfter();
        // Pipelining: a request followed by more bytes already has its complete reply
        // held, to go out in one write with the next ones. Not a request with a body or
        // with a field that can lead to a write of its own (Expect's 100 Continue, an
        // upgrade's 101: an upgrade needs "Connection: upgrade"); before such a request,
        // the held replies go out.
        const plain = request._bodyIfAny === null && !head.headers._mayHave(CONNECTION | EXPECT);
        if (reader.buffered > 0 && plain) held.hold = true;
        else if (held.length > 0 && !plain) await sendHeld(socket, held, state);
        // The handler's promise is awaited here, not in a helper: one frame less a request.
        try {
          const handler = this.#handlerFor(request);
          if (handler === undefined) await this.#notServed(request);
          else {
            // A reply that went out whole at once (`return request.respond(...)`) is
            // not awaited: no trip through the microtask queue per request.
            const handled = handler.handle(request);
            if (handled !== SENT) {
              // A handler that blocks does not hold the replies before its own back.
              if (held.length > 0) held.sendBehind(socket, state);
              await handled;
            }
            if (!request.finished) await request.done();
          }
        } catch (e) {
          await this.#failed(request, e);
        }
        held.hold = false;
        if (held.busy) await held.drained(state);
        if (request.upgraded) {
          upgraded = true;
          return;
        }
        if (!request.keepAlive || this.#closing) {
          if (held.length > 0) await sendHeld(socket, held, state);
          return;
        }
        blankHeads = 0;
        const body = request._bodyIfAny;
        if (body !== null && !body.done) {
          // The rest of a body the handler left: at most maxSkipBytes in bodyTimeout.
          body.deadline = null;
          state.timeout = options.bodyTimeout;
          state.waitingFor = "body";
          state.deadline = this.#deadline(options.bodyTimeout);
          let skipped: boolean;
          try {
            skipped = await body.skip(options.maxSkipBytes);
          } catch (e) {
            // Cut short or malformed after its reply went out: nothing to answer, and
            // no thread death to report for a client's fault; the connection just ends.
            if (e instanceof HttpProtocolError) return;
            throw e;
          }
          state.deadline = Infinity;
          if (!skipped) return;
        }
      }
      // The server is closing: what is held still goes out before the close.
      if (held.busy) await held.drained(state);
      if (held.length > 0) await sendHeld(socket, held, state);
    } catch (e) {
      // A peer that vanished is not the server's failure.
      if (e instanceof SocketError || e instanceof EOFError || e instanceof Interrupted) return;
      throw e;
    } finally {
      if (!upgraded) socket.close();
    }
  }

  /**
   * Serves the rest of the connection as HTTP/2. Its end (a deadline, the server closing,
   * the client gone) is not an error of the HTTP/1.1 head being read: nothing to answer.
   */
  async #serveHttp2(
    socket: Socket,
    reader: SocketReader,
    peer: Address,
    state: Connection,
  ): Promise<void> {
    try {
      const { serveHttp2 } = await loadHttp2Server();
      await serveHttp2(this.#http2Host(state), socket, reader, peer);
    } catch (e) {
      if (e instanceof Interrupted || e instanceof SocketError || e instanceof EOFError) return;
      throw e;
    }
  }

  /** What an HTTP/2 connection uses of this server, for the connection `state`. */
  #http2Host(state: Connection): Http2ServerHost {
    const options = this.#options;
    return {
      serve: (request) => this.#serveOne(request),
      setDeadline: (seconds, waitingFor) => {
        state.timeout = seconds;
        state.waitingFor = waitingFor;
        state.deadline = seconds === Infinity ? Infinity : this.#deadline(seconds);
      },
      idleTimeout: options.idleTimeout,
      headerTimeout: options.headerTimeout,
      bodyTimeout: options.bodyTimeout,
      sendTimeout: options.sendTimeout,
      maxBodyBytes: options.maxBodyBytes,
      options: this.#http2!,
    };
  }

  /** Serves one request (an HTTP/2 stream's) through the handlers. */
  async #serveOne(request: HttpRequest): Promise<void> {
    this.#stats.requests++;
    try {
      const handler = this.#handlerFor(request);
      if (handler === undefined) await this.#notServed(request);
      else {
        await handler.handle(request);
        if (!request.finished) await request.done();
      }
    } catch (e) {
      await this.#failed(request, e);
    }
  }

  #request(
    head: RequestHead,
    framing: Framing,
    socket: Socket,
    reader: SocketReader,
    peer: Address,
    state: Connection,
    held: HeldReplies,
  ): HttpRequest {
    const options = this.#options;
    // No body (most requests): the request makes an empty reader if a handler asks.
    const body = framing.kind === "length" && framing.length === 0
      ? null
      : new BodyReader(reader, framing, options.maxBodyBytes);
    if (body !== null) body.deadline = state;
    const headers = head.headers;
    const connection = headers._mayHave(CONNECTION);
    const keepAlive = head.minor === 1
      ? !(connection && headers.hasToken("connection", "close"))
      : connection && headers.hasToken("connection", "keep-alive");
    const request = new HttpRequest(head, body, socket, reader, peer, keepAlive, state, held);
    if (
      body !== null && head.minor === 1 && headers._mayHave(EXPECT) &&
      headers.hasToken("expect", "100-continue")
    ) {
      body.onFirstRead = async () => {
        try {
          if (!request.headSent) await socket.send(CONTINUE);
        } catch (e) {
          throw markClientGone(e);
        }
      };
    }
    return request;
  }

  /** The first handler that takes `request`; none for a body too large (413). */
  #handlerFor(request: HttpRequest): Handler | undefined {
    if (request._bodyIfAny?.tooLarge) return undefined;
    const handlers = this.handlers;
    for (let i = 0; i < handlers.length; i++) {
      const matched = handlers[i].match(request);
      if (!matched) continue;
      if (matched !== true) request.params = matched;
      return handlers[i];
    }
    return undefined;
  }

  /** The reply when no handler took `request`: 413 for a body too large, else 404. */
  #notServed(request: HttpRequest): Promise<void> {
    return request._bodyIfAny?.tooLarge
      ? request.error(413, `the body is larger than ${this.#options.maxBodyBytes} bytes`)
      : request.error(404, `nothing at ${request.path}`);
  }

  /**
   * A handler failed: an HttpError becomes its reply, anything else is reported to
   * `onError` and answered 500 (504 for an upstream HTTP client's `HttpTimeoutError`, 502
   * for an upstream connection's failure: see `failureStatus`); interruptions of the
   * exchange (see `interruptsExchange`: the server's close, its own deadlines on the
   * client, a stream reset, its own socket's errors) end the connection.
   */
  async #failed(request: HttpRequest, e: unknown): Promise<void> {
    if (interruptsExchange(e)) throw e;
    // An HttpError is the request's own fault, unless an upstream client lost its peer
    // (a response body cut short is an HttpProtocolError too): that is the handler's.
    if (e instanceof HttpError && !(e instanceof PeerLostError)) {
      await request.error(e.status, e.message);
      return;
    }
    this.#options.onError(e, request);
    await request.error(failureStatus(e));
  }

  async #refuse(socket: Socket, error: unknown): Promise<void> {
    let status: number;
    if (error instanceof TooLongError) status = 431;
    else if (error instanceof HeadersTooLargeError || error instanceof HttpError) {
      status = error.status;
    } else if (error instanceof TimeoutError) status = 408;
    else if (error instanceof EOFError) return;
    else if (error instanceof HttpProtocolError) status = 400;
    else throw error;
    const reason = status === 431
      ? "Request Header Fields Too Large"
      : status === 408
      ? "Request Timeout"
      : status === 505
      ? "HTTP Version Not Supported"
      : status === 501
      ? "Not Implemented"
      : "Bad Request";
    const body = `${status} ${reason}\n`;
    try {
      await socket.send(
        new TextEncoder().encode(
          `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        ),
      );
    } catch (e) {
      // A peer that broke the protocol and left: nothing more to tell it.
      if (!(e instanceof SocketError || e instanceof ClosedError)) throw e;
    }
  }

  /**
   * Closes the server gracefully: stops accepting, closes idle keep-alive connections at
   * once (and sends HTTP/2 connections' GOAWAY; upgraded connections such as WebSockets
   * are shut down at once too: they have no request to finish), lets requests in flight
   * finish within `graceSeconds` (their connections close after the reply), then shuts
   * the remaining connection threads down and waits for them; returns when no thread of
   * the server is left. The deadlines of requests (body, send) still apply during the
   * grace.
   *
   * Interruption point: an interrupted `close()` shuts every connection down, waits for
   * them, and throws the interruption.
   * @throws {LockError} if called from one of the server's connection threads (a
   * handler): it would wait for itself; spawn a thread to close the server
   */
  async close(options: HttpServerCloseOptions = {}): Promise<void> {
    const grace = options.graceSeconds ?? 5;
    this.#closing = true;
    if (this.#acceptor !== null) await this.#acceptor.close();
    else this.#listener?.close();
    for (const c of this.#connections) {
      // An upgraded connection (WebSocket) has no request to finish: it is shut down too.
      if (c.idle || c.request?.upgraded) c.thread.shutdown();
      else if (c.request !== null) c.request.closeAfter(); // its reply says so
      else if (!c.thread.started) c.shutdownBeforeStart(() => this.#ended(c));
    }
    try {
      if (grace > 0 && this.#group.size > 0) {
        await withTimeout(grace, () => this.#group.join());
      }
    } catch (e) {
      // The grace is over: join() shut the stragglers down and waited for them.
      if (!(e instanceof TimeoutError)) throw e;
    } finally {
      await this.#stopRest();
    }
  }

  /** Shuts down what is left of the connections and the sweeper, and waits for them. */
  async #stopRest(): Promise<void> {
    for (const c of this.#connections) {
      if (!c.thread.started) c.shutdownBeforeStart(() => this.#ended(c));
    }
    this.#group.shutdown();
    await this.#group.join();
    const sweeper = this.#sweeper;
    if (sweeper !== null && !sweeper.dead) {
      sweeper.shutdown();
      try {
        await sweeper.join();
      } catch (e) {
        if (!(e instanceof Shutdown)) throw e;
      }
    }
  }
}

/** The server's time, counted in sweeps of its deadline thread (no clock read per request). */
class SweepClock {
  sweeps = 0;
  readonly #every: number;
  constructor(every: number) {
    this.#every = every;
  }
  /** A deadline `seconds` from now: it passes between `seconds` and one sweep later. */
  deadline(seconds: number): number {
    return this.sweeps + 1 + Math.ceil(seconds / this.#every);
  }
}

/** A deadline armed by a thread other than the connection's, in sweeps. */
interface OtherDeadline {
  deadline: number;
  timeout: number;
  waitingFor: PeerWait;
}

/**
 * A connection's thread and the time (in sweeps) by which it must have received what it
 * waits for; also the deadline of its request's body reads and sends.
 */
class Connection implements PeerDeadline {
  thread: Thread = null!;
  deadline = Infinity;
  /** The timeout the deadline comes from, and what it waits for: the error's fields. */
  timeout = 0;
  waitingFor: PeerWait = "idle";
  /** Waiting between requests (or HTTP/2): a closing server shuts it down at once. */
  idle = false;
  /** The request being served, if any (told to close the connection after its reply). */
  request: HttpRequest | null = null;
  /**
   * Deadlines armed by threads other than the connection's (a response body's pump, the
   * sender of held replies, a body read on another thread's behalf), each its own: one
   * thread's send that completes does not clear another's body read (null: none yet).
   */
  others: Map<Thread, OtherDeadline> | null = null;
  readonly socket: Socket;
  readonly acceptor: Acceptor | undefined;
  readonly #clock: SweepClock;
  readonly #options: Required<Omit<HttpServerOptions, "http2">>;
  constructor(
    clock: SweepClock,
    options: Required<Omit<HttpServerOptions, "http2">>,
    socket: Socket,
    acceptor: Acceptor | undefined,
  ) {
    this.#clock = clock;
    this.#options = options;
    this.socket = socket;
    this.acceptor = acceptor;
  }
  /** A thread shut down before it started runs none of its code: its socket is closed here. */
  shutdownBeforeStart(ended: () => void): void {
    this.thread.shutdown();
    this.socket.close();
    ended();
  }
  arm(kind: "body" | "send"): void {
    const seconds = kind === "body" ? this.#options.bodyTimeout : this.#options.sendTimeout;
    const deadline = this.#clock.deadline(seconds);
    const me = current();
    if (me === null || me === this.thread) {
      this.timeout = seconds;
      this.waitingFor = kind;
      this.deadline = deadline;
    } else {
      (this.others ??= new Map()).set(me, { deadline, timeout: seconds, waitingFor: kind });
    }
  }
  disarm(): void {
    const me = current();
    if (me === null || me === this.thread) this.deadline = Infinity;
    else this.others?.delete(me);
  }
  // Run as reactions of the arming thread's send: in its context, so `current()` is it.
  readonly sent = (): void => {
    this.disarm();
  };
  readonly failed = (error: unknown): never => {
    this.disarm();
    throw markClientGone(error);
  };
  readonly lost = markClientGone;
}

/** Whether a head holds nothing but line ends. */
function isBlank(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 13 && bytes[i] !== 10) return false;
  return true;
}

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

const PRI_HEAD = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\n");

/** Whether an 18-byte head is the start of HTTP/2's connection preface. */
function isHttp2Preface(head: Uint8Array): boolean {
  for (let i = 0; i < 18; i++) if (head[i] !== PRI_HEAD[i]) return false;
  return true;
}

function describe(a: Address): string {
  return a.family === "unix" ? a.path || "unix" : `${a.host}:${a.port}`;
}
