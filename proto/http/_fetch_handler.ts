/**
 * The fetch-style handler's exchange (`Request` in, `Response` out, the client watched),
 * behind {@linkcode fetchHandler} (fetch_handler.ts): loaded by a fetch handler's first
 * request, so that importing the library does not compile it (bench/import.ts).
 *
 * @module
 */

import { ClosedError, Interrupted, Shutdown } from "../../core/errors.ts";
import { scheduler } from "../../core/scheduler.ts";
import { currentFor, spawn, type Thread } from "../../core/thread.ts";
import type { Address } from "../../net/address.ts";
import { DenoSocket } from "../../net/deno_socket.ts";
import { SocketError } from "../../net/errors.ts";
import { FetchRequest } from "./_fetch_request.ts";
import { isResponse, writeResponse } from "./_fetch_response.ts";
import { upgradeOf } from "./_upgrades.ts";
import { Http2Request, interruptsExchange } from "./request.ts";
import { SENT } from "./reply_bytes.ts";
import type { HttpRequest } from "./request.ts";
import type { Handler } from "./server.ts";

import type {
  FetchHandlerFunction,
  FetchHandlerInfo,
  FetchHandlerOptions,
} from "./fetch_handler.ts";

type Outcome = { ok: true } | { ok: false; error: unknown };
const OK: Outcome = Object.freeze({ ok: true });

/** What an exchange needs only when it is not answered at once (kept apart: most are). */
class Watching {
  watch: PeerWatch | null = null;
  soon = false;
  /** Listening to the thread's raises (for a `Shutdown`: the server closing). */
  listening = false;
  streaming: { stop(error: unknown): void } | null = null;
  completed: PromiseWithResolvers<void> | null = null;
}

/**
 * One request's exchange: the info handed to the function, and what serving it needs.
 * Small on purpose (one is made per request): the request, the thread and the rest are
 * reached through the `FetchRequest` and a state made on first need.
 */
class Exchange implements FetchHandlerInfo {
  readonly fetchRequest: FetchRequest;
  #outcome: Outcome | null = null;
  #state: Watching | null = null;

  constructor(request: HttpRequest, thread: Thread, scheme: string | undefined) {
    this.fetchRequest = new FetchRequest(request, thread, scheme ?? schemeOf(request));
  }

  /** The request as our server parsed it. */
  get request(): HttpRequest {
    return this.fetchRequest._http;
  }

  /** The connection's thread, which runs the function. */
  get thread(): Thread {
    return this.fetchRequest._thread;
  }

  get remoteAddr(): Deno.NetAddr | Deno.UnixAddr {
    return denoAddr(this.request.remote);
  }

  get completed(): Promise<void> {
    const state = this.#state ??= new Watching();
    if (state.completed === null) {
      state.completed = Promise.withResolvers<void>();
      const outcome = this.#outcome;
      if (outcome !== null) this.#settle(state.completed, outcome);
    }
    return state.completed.promise;
  }

  #settle(completed: PromiseWithResolvers<void>, outcome: Outcome): void {
    if (outcome.ok) completed.resolve();
    else {
      completed.reject(outcome.error);
      completed.promise.catch(() => {
        // Rejected for whoever awaits `completed`; the failure itself reached the server.
      });
    }
  }

  /** The response is out (or failed): settles `completed`, if anyone asked for it. */
  finish(outcome: Outcome): void {
    this.#outcome = outcome;
    const completed = this.#state?.completed;
    if (completed != null) this.#settle(completed, outcome);
  }

  /**
   * Starts watching the client (see {@linkcode PeerWatch}), and the thread: a `Shutdown`
   * raised in it (the server closing, after its grace) aborts the request's signal and
   * stops the response body's stream, as a client going away does. The application may
   * be awaiting foreign promises (no blocking point), which the `Shutdown` alone would
   * not reach.
   */
  watch(): void {
    const state = this.#state ??= new Watching();
    const thread = this.thread;
    if (!state.listening) {
      state.listening = true;
      thread._setRaiseListener((error) => {
        if (!(error instanceof Shutdown)) return; // a timeout, an interrupt: the app's own
        this.fetchRequest._abort(error);
        state.streaming?.stop(error);
      });
    }
    (state.watch ??= new PeerWatch(thread)).start(this.request, this.fetchRequest);
  }

  /**
   * Starts watching the client at the next tick if the response is not out by then: a
   * handler done within its microtasks costs no watcher thread.
   */
  watchSoon(): void {
    (this.#state ??= new Watching()).soon = true;
    soon.push(this);
    if (soon.length === 1) scheduler.onNextTick(watchPending);
  }

  /** @internal Called at the tick after `watchSoon`. */
  _tick(): void {
    const state = this.#state;
    if (state !== null && state.soon) {
      state.soon = false;
      this.watch();
    }
  }

  /** Stops watching the client; settles once the watcher has let go of the socket. */
  unwatch(): Promise<void> {
    const state = this.#state;
    if (state === null) return SENT;
    state.soon = false;
    if (state.listening) {
      state.listening = false;
      this.thread._setRaiseListener(undefined);
    }
    return state.watch === null ? SENT : state.watch.stop();
  }

  /** The thread streaming the response body started (or, with null, ended). */
  onStream(streaming: { stop(error: unknown): void } | null): void {
    const state = this.#state ??= new Watching();
    state.streaming = streaming;
    if (streaming !== null) this.watch();
    if (state.watch !== null) state.watch.streaming = streaming;
  }
}

/** Exchanges whose watch starts at the next tick, if their response is not out by then. */
let soon: Exchange[] = [];

function watchPending(): void {
  const pending = soon;
  soon = [];
  for (let i = 0; i < pending.length; i++) pending[i]._tick();
}

/** "https" for a request that came over TLS, "http" otherwise. */
function schemeOf(request: HttpRequest): string {
  const socket = request._connection.socket;
  return socket instanceof DenoSocket && socket._tls ? "https" : "http";
}

function denoAddr(a: Address): Deno.NetAddr | Deno.UnixAddr {
  return a.family === "unix"
    ? { transport: "unix", path: a.path }
    : { transport: "tcp", hostname: a.host, port: a.port };
}

/**
 * Watches the client while the application works on a request: if it goes away (its
 * end closed, or reset), the request's signal aborts and the connection's thread is
 * interrupted at its blocking point, as is the thread streaming the response. Watching
 * needs the socket to itself: it starts only when the request body has been read (or
 * there is none) and no pipelined request is already buffered, and stops at the first
 * byte of a pipelined request.
 */
class PeerWatch {
  readonly #thread: Thread;
  #watcher: Thread | null = null;
  #streaming: { stop(error: unknown): void } | null = null;
  #gone: Interrupted | null = null;

  constructor(thread: Thread) {
    this.#thread = thread;
  }

  start(http: HttpRequest, request: FetchRequest): void {
    if (this.#watcher !== null) return;
    if (http instanceof Http2Request) {
      // HTTP/2 streams share their connection's reader: nothing to watch here. A stream the
      // client drops is reset (RST_STREAM raises StreamResetError in its thread), and the
      // request's signal follows the reset.
      http._onReset((gone) => {
        this.#gone = gone;
        request._abort(gone);
        this.#streaming?.stop(gone);
      });
      return;
    }
    const body = http._bodyIfAny;
    const { socket, reader } = http._connection;
    if ((body !== null && !body.done) || reader.buffered > 0) return;
    this.#watcher = spawn({ name: `http watch ${http}` }, async () => {
      let more: boolean | null;
      try {
        while ((more = reader.fillNow()) === null) await socket.waitForRead();
      } catch (e) {
        // Stopped (the reply is out), or the socket closed under us: watching is over.
        if (e instanceof Interrupted || e instanceof ClosedError) return;
        if (!(e instanceof SocketError)) throw e;
        more = false; // reset by the peer
      }
      if (more) return; // a pipelined request: the client is still there
      const gone = this.#gone = new Interrupted("the client went away");
      request._abort(gone);
      this.#streaming?.stop(gone);
      this.#thread.raise(gone);
    });
  }

  /** The thread streaming the response body, while there is one. */
  set streaming(streaming: { stop(error: unknown): void } | null) {
    this.#streaming = streaming;
    if (streaming !== null && this.#gone !== null) streaming.stop(this.#gone);
  }

  /**
   * Stops watching; settles once the watcher has let go of the socket (a plain promise,
   * not a blocking call: the application may still be using the connection's thread).
   */
  stop(): Promise<void> {
    const watcher = this.#watcher;
    this.#watcher = null;
    if (watcher === null || watcher.dead) return SENT;
    watcher.shutdown();
    return scheduler.context.exit(() => watcher.join()).then(
      () => {},
      (e) => {
        if (!(e instanceof Shutdown)) throw e;
      },
    );
  }
}

/** What {@linkcode fetchHandler} makes once loaded: see there. */
export function makeFetchHandler(
  fn: FetchHandlerFunction,
  options: FetchHandlerOptions = {},
): Handler {
  const match = options.match ?? (() => true);
  const scheme = options.scheme;
  const onError = options.onError;

  async function finish(
    exchange: Exchange,
    pending: Response | PromiseLike<Response>,
  ): Promise<void> {
    try {
      let response: Response;
      try {
        response = await pending; // not a blocking call: the application may block this thread
      } catch (e) {
        // An interruption ends the exchange; the app's own failure (its own timeout
        // included) is the app's to answer.
        if (onError === undefined || interruptsExchange(e)) throw e;
        response = await onError(e);
      }
      const sending = sendOrFail(exchange, response);
      // A reply sent whole at once (most) is not awaited: two turns fewer.
      if (sending === SENT) exchange.finish(OK);
      else await settle(exchange, sending);
    } finally {
      const unwatching = exchange.unwatch();
      if (unwatching !== SENT) await unwatching;
    }
  }

  /** {@linkcode send}, the exchange told of a failure it throws at once. */
  function sendOrFail(exchange: Exchange, response: Response): Promise<void> {
    try {
      return send(exchange, response);
    } catch (e) {
      exchange.finish({ ok: false, error: e });
      throw e;
    }
  }

  /** Sends `response`; a streamed body is watched for the client going away. */
  function send(exchange: Exchange, response: Response): Promise<void> {
    if (!isResponse(response)) {
      throw new TypeError(`a fetch handler returned ${typeof response}, not a Response`);
    }
    const upgrade = upgradeOf(response);
    if (upgrade !== undefined) return exchange.unwatch().then(() => upgrade(exchange.request));
    return writeResponse(exchange.request, response, exchange);
  }

  async function settle(exchange: Exchange, sending: Promise<void>): Promise<void> {
    try {
      await sending;
      exchange.finish(OK);
    } catch (e) {
      exchange.finish({ ok: false, error: e });
      throw e;
    }
  }

  return {
    match,
    handle(http) {
      const exchange = new Exchange(http, currentFor("fetch handler"), scheme);
      let result: Response | Promise<Response>;
      try {
        result = fn(exchange.fetchRequest as unknown as Request, exchange);
      } catch (e) {
        if (onError === undefined) throw e;
        result = onError(e);
      }
      if (isResponse(result)) {
        // The common case (Hono's synchronous routes): nothing to wait for before sending,
        // and a reply sent whole at once is not even awaited.
        const sending = sendOrFail(exchange, result);
        if (sending === SENT) {
          exchange.finish(OK);
          return SENT;
        }
        return settle(exchange, sending).finally(() => exchange.unwatch());
      }
      exchange.watchSoon();
      return finish(exchange, result);
    },
  };
}
