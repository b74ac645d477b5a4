/**
 * The HTTP/1.1 server's connection loop (head parsing, requests, pipelined replies, the
 * hand-over to HTTP/2, failures and refusals), loaded by an `HttpServer`'s first
 * connection: a program that imports the library and serves no HTTP does not evaluate it.
 *
 * @module
 */

import { ClosedError, Interrupted, TimeoutError } from "../../core/errors.ts";
import type { Thread } from "../../core/thread.ts";
import type { Address } from "../../net/address.ts";
import { SocketReader, TooLongError } from "../../net/buffered_reader.ts";
import { DenoSocket } from "../../net/deno_socket.ts";
import { EOFError, PeerLostError, SocketError } from "../../net/errors.ts";
import type { Socket } from "../../net/socket.ts";
import { BodyReader, type Framing, type PeerDeadline } from "./body.ts";
import { CONNECTION, EXPECT } from "./headers.ts";
import { HeadersTooLargeError, HttpError, HttpProtocolError, type PeerWait } from "./errors.ts";
import { failureStatus, HttpRequest, interruptsExchange, markClientGone } from "./request.ts";
import { bodyFraming, parseRequestHead, type RequestHead } from "./parse.ts";
import { HeldReplies, sendHeld, SENT } from "./reply_bytes.ts";
import type { Http2Options, Http2ServerHost } from "./h2/server_connection.ts";
import { loadHttp2Server } from "./_h2_lazy.ts";
import type { Handler, HttpServerOptions } from "./server.ts";

/** What the connection loop reads and counts of its `HttpServer`. */
export interface ServerInternals {
  readonly handlers: Handler[];
  readonly _options: Required<Omit<HttpServerOptions, "http2">>;
  readonly _http2: Http2Options | null;
  readonly _closing: boolean;
  readonly _stats: { connections: number; requests: number };
  readonly _clock: { deadline(seconds: number): number };
}

/** A connection's deadline and state, as the server's sweeper and `close()` see them. */
export interface ConnectionState extends PeerDeadline {
  deadline: number;
  timeout: number;
  waitingFor: PeerWait;
  idle: boolean;
  request: HttpRequest | null;
  readonly thread: Thread;
}

/**
 * Serves one connection of `server` until it ends: HTTP/1.1 requests in turn (pipelined
 * replies held and sent together), or HTTP/2 after its preface.
 */
export async function serveConnection(
  server: ServerInternals,
  socket: Socket,
  peer: Address,
  state: ConnectionState,
): Promise<void> {
  const options = server._options;
  const reader = new SocketReader(socket, 8192);
  // Replies to pipelined requests, held while the next request is buffered already.
  const held = new HeldReplies();
  let upgraded = false, blankHeads = 0, first = true, handshaking = true;
  try {
    while (!server._closing) {
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
        state.deadline = server._clock.deadline(wait);
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
          state.deadline = server._clock.deadline(options.headerTimeout);
          bytes = await reader.readHead(options.maxHeadBytes);
        }
        state.deadline = Infinity;
        if (bytes === null) return;
        if (first && bytes.length === 18 && server._http2 !== null && isHttp2Preface(bytes)) {
          state.idle = true; // its Shutdown is a graceful GOAWAY: close() sends it at once
          await serveHttp2Rest(server, socket, reader, peer, state);
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
        await refuse(socket, e);
        return;
      }
      const request = state.request = makeRequest(
        server,
        head,
        framing,
        socket,
        reader,
        peer,
        state,
        held,
      );
      server._stats.requests++;
      if (server._closing) request.closeAfter();
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
        const handler = handlerFor(server, request);
        if (handler === undefined) await notServed(server, request);
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
        await failed(server, request, e);
      }
      held.hold = false;
      if (held.busy) await held.drained(state);
      if (request.upgraded) {
        upgraded = true;
        return;
      }
      if (!request.keepAlive || server._closing) {
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
        state.deadline = server._clock.deadline(options.bodyTimeout);
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
async function serveHttp2Rest(
  server: ServerInternals,
  socket: Socket,
  reader: SocketReader,
  peer: Address,
  state: ConnectionState,
): Promise<void> {
  try {
    const { serveHttp2 } = await loadHttp2Server();
    await serveHttp2(http2Host(server, state), socket, reader, peer);
  } catch (e) {
    if (e instanceof Interrupted || e instanceof SocketError || e instanceof EOFError) return;
    throw e;
  }
}

/** What an HTTP/2 connection uses of this server, for the connection `state`. */
function http2Host(server: ServerInternals, state: ConnectionState): Http2ServerHost {
  const options = server._options;
  return {
    serve: (request) => serveOne(server, request),
    setDeadline: (seconds, waitingFor) => {
      state.timeout = seconds;
      state.waitingFor = waitingFor;
      state.deadline = seconds === Infinity ? Infinity : server._clock.deadline(seconds);
    },
    idleTimeout: options.idleTimeout,
    headerTimeout: options.headerTimeout,
    bodyTimeout: options.bodyTimeout,
    sendTimeout: options.sendTimeout,
    maxBodyBytes: options.maxBodyBytes,
    options: server._http2!,
  };
}

/** Serves one request (an HTTP/2 stream's) through the handlers. */
async function serveOne(server: ServerInternals, request: HttpRequest): Promise<void> {
  server._stats.requests++;
  try {
    const handler = handlerFor(server, request);
    if (handler === undefined) await notServed(server, request);
    else {
      await handler.handle(request);
      if (!request.finished) await request.done();
    }
  } catch (e) {
    await failed(server, request, e);
  }
}

function makeRequest(
  server: ServerInternals,
  head: RequestHead,
  framing: Framing,
  socket: Socket,
  reader: SocketReader,
  peer: Address,
  state: ConnectionState,
  held: HeldReplies,
): HttpRequest {
  const options = server._options;
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
function handlerFor(server: ServerInternals, request: HttpRequest): Handler | undefined {
  if (request._bodyIfAny?.tooLarge) return undefined;
  const handlers = server.handlers;
  for (let i = 0; i < handlers.length; i++) {
    const matched = handlers[i].match(request);
    if (!matched) continue;
    if (matched !== true) request.params = matched;
    return handlers[i];
  }
  return undefined;
}

/** The reply when no handler took `request`: 413 for a body too large, else 404. */
function notServed(server: ServerInternals, request: HttpRequest): Promise<void> {
  return request._bodyIfAny?.tooLarge
    ? request.error(413, `the body is larger than ${server._options.maxBodyBytes} bytes`)
    : request.error(404, `nothing at ${request.path}`);
}

/**
 * A handler failed: an HttpError becomes its reply, anything else is reported to
 * `onError` and answered 500 (504 for an upstream HTTP client's `HttpTimeoutError`, 502
 * for an upstream connection's failure: see `failureStatus`); interruptions of the
 * exchange (see `interruptsExchange`: the server's close, its own deadlines on the
 * client, a stream reset, its own socket's errors) end the connection.
 */
async function failed(server: ServerInternals, request: HttpRequest, e: unknown): Promise<void> {
  if (interruptsExchange(e)) throw e;
  // An HttpError is the request's own fault, unless an upstream client lost its peer
  // (a response body cut short is an HttpProtocolError too): that is the handler's.
  if (e instanceof HttpError && !(e instanceof PeerLostError)) {
    await request.error(e.status, e.message);
    return;
  }
  server._options.onError(e, request);
  await request.error(failureStatus(e));
}

async function refuse(socket: Socket, error: unknown): Promise<void> {
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
