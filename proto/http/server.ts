/**
 * The HTTP/1.1 server: one thread per connection, one request at a time on it, handlers
 * tried in the order they were pushed.
 *
 * @module
 */

import { ClosedError, Shutdown, TimeoutError } from "../../core/errors.ts";
import { current, spawn, type Thread } from "../../core/thread.ts";
import { sleep } from "../../core/sleep.ts";
import { ThreadGroup, type ThreadGroupStatistics } from "../../core/thread_group.ts";
import { withTimeout } from "../../core/with_timeout.ts";
import { type Address, formatAddress } from "../../net/address.ts";
import { Acceptor, type AcceptorStatistics } from "../../net/acceptor.ts";
import { listenOn, type ListenOptions } from "../../net/constructors.ts";
import { listenTls, type ListenTlsOptions } from "../../net/tls.ts";
import type { Socket } from "../../net/socket.ts";
import type { PeerDeadline } from "./body.ts";
import { PeerTimeoutError, type PeerWait } from "./errors.ts";
import { type HttpRequest, markClientGone, refreshHttpDate } from "./request.ts";
import type { Http2Options } from "./h2/server_connection.ts";
import { loadOnce } from "../_load_once.ts";

/**
 * The connection loop (`_server_connection.ts`: parsing, requests, replies, HTTP/2's
 * hand-over), loaded by the first connection a server serves.
 */
const connectionLoop = loadOnce(
  () => import("./_server_connection.ts"),
  "the HTTP server's connection loop",
);
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
  /** @internal The limits and timeouts, defaults filled in. */
  readonly _options: Required<Omit<HttpServerOptions, "http2">>;
  /** @internal HTTP/2's limits, or null: HTTP/1.1 only. */
  readonly _http2: Http2Options | null;
  #listener: Socket | null = null;
  #acceptor: Acceptor | null = null;
  /** The connection threads. */
  readonly #group = new ThreadGroup({ name: "http connections", childErrors: "report" });
  /** What the sweeper and `close()` need of each connection. */
  readonly #connections = new Set<Connection>();
  #sweeper: Thread | null = null;
  /** @internal The deadlines' clock, in sweeps. */
  readonly _clock: SweepClock;
  readonly #sweepEvery: number;
  #tls = false;
  /** @internal Whether `close()` was called. */
  _closing = false;
  /** @internal Connections accepted and requests served. */
  readonly _stats = { connections: 0, requests: 0 };

  /**
   * Creates a {@linkcode HttpServer}.
   *
   * @param options limits and timeouts
   */
  constructor(options: HttpServerOptions = {}) {
    this._options = {
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
    this._http2 = options.http2 === false ? null : options.http2 ?? {};
    const o = this._options;
    const shortest = Math.min(
      o.idleTimeout,
      o.headerTimeout,
      o.handshakeTimeout,
      o.bodyTimeout,
      o.sendTimeout,
    );
    this.#sweepEvery = Math.min(Math.max(shortest / 4, 0.005), 1);
    this._clock = new SweepClock(this.#sweepEvery);
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
      (this._http2 !== null ? ["h2", "http/1.1"] : ["http/1.1"]);
    return this.serveListener(listenTls(address, { ...tls, alpnProtocols }));
  }

  /**
   * Serves connections accepted from `listener` (plain or TLS) in an acceptor thread.
   * The server's first start loads its connection loop (`_server_connection.ts`) before
   * it accepts: connections wait in the listen backlog meanwhile (a few milliseconds),
   * and the load never competes with them for file descriptors. A failed load is the
   * loading thread's error (reported): the server then accepts nothing.
   */
  serveListener(listener: Socket): Socket {
    this.#listener = listener;
    if (connectionLoop.loaded !== undefined) this.#accept(listener);
    else {
      spawn({ name: "http: loading the connection loop" }, async () => {
        await connectionLoop();
        if (!this._closing) this.#accept(listener);
      });
    }
    return listener;
  }

  #accept(listener: Socket): void {
    const acceptor: Acceptor = this.#acceptor = new Acceptor(
      listener,
      (socket, peer) => this.serve(socket, peer, acceptor),
      {
        name: `http acceptor ${formatAddress(this.address)}`,
        maxConnections: this._options.maxConnections,
      },
    );
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
      ...this._stats,
      open: this.#connections.size,
      acceptor: this.#acceptor?.statistics() ?? null,
      threads: this.#group.statistics(),
      closing: this._closing,
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
    if (this._closing) {
      socket.close();
      acceptor?.release();
      throw new ClosedError("the HTTP server is closing");
    }
    this._stats.connections++;
    if (peer.family !== "unix") {
      try {
        socket.setOption("TCP_NODELAY", true); // replies go out whole: no Nagle delay
      } catch { /* not TCP after all */ }
    }
    const state = new Connection(this._clock, this._options, socket, acceptor);
    state.thread = this.#group.spawn({ name: `http ${describe(peer)}` }, async () => {
      try {
        // Loaded as the server started listening (else by its first connection): then
        // called at once, with no wait.
        let loop = connectionLoop.loaded;
        if (loop === undefined) {
          try {
            loop = await connectionLoop();
          } catch (e) {
            socket.close(); // the loop, which closes it, never ran
            throw e;
          }
        }
        await loop.serveConnection(this, socket, peer, state);
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
      const sweep = ++this._clock.sweeps;
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
    this._closing = true;
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
  /** @internal The deadlines' clock, in sweeps. */
  readonly _clock: SweepClock;
  /** @internal The limits and timeouts, defaults filled in. */
  readonly _options: Required<Omit<HttpServerOptions, "http2">>;
  constructor(
    clock: SweepClock,
    options: Required<Omit<HttpServerOptions, "http2">>,
    socket: Socket,
    acceptor: Acceptor | undefined,
  ) {
    this._clock = clock;
    this._options = options;
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
    const seconds = kind === "body" ? this._options.bodyTimeout : this._options.sendTimeout;
    const deadline = this._clock.deadline(seconds);
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

function describe(a: Address): string {
  return a.family === "unix" ? a.path || "unix" : `${a.host}:${a.port}`;
}
