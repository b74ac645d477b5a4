/**
 * `shrapnelFetch`'s code, behind it (shrapnel_fetch.ts): loaded by its first call, so that
 * importing the library does not compile it (bench/import.ts).
 *
 * @module
 */

import { Interrupted } from "../../core/errors.ts";
import { scheduler } from "../../core/scheduler.ts";
import { current, currentFor, spawn } from "../../core/thread.ts";
import { waitFor } from "../../core/wait_for.ts";
import { defaultHttpClient, type HttpResponse, type RequestBody } from "./client.ts";
import { HttpProtocolError } from "./errors.ts";

import type { ShrapnelFetchInit } from "./shrapnel_fetch.ts";

/**
 * Runs a blocking call of the client as the current thread, or in a thread of its own.
 * A body stream's pulls carry the async context of its first read: when a thread other
 * than that one reads on, the thread found is not running (it waits elsewhere) and the
 * call gets a thread of its own.
 */
function blocking<T>(fn: () => Promise<T>): Promise<T> {
  const me = current();
  if (me !== null && me.state === "running") return fn();
  // Spawned and joined outside that context: a join would be the waiting thread's call.
  return scheduler.context.exit(() => spawn(fn).join()) as Promise<T>;
}

/** The response body as a stream read from the connection as it is consumed. */
function bodyStream(response: HttpResponse, signal: AbortSignal): ReadableStream<Uint8Array> {
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  let pulling = false;
  const onAbort = () => {
    stream.error(signal.reason);
    // The connection is dropped, not read on to keep it: the abort may come from any
    // thread (a blocking call left unawaited there would wedge it), and a read of the
    // body may be waiting on the connection (a second reader would race it).
    response.abandon();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream = controller;
      signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      let piece: Uint8Array;
      pulling = true;
      try {
        piece = await blocking(() => response.body.read());
      } catch (e) {
        // A body cut short (a PeerLostError) or overdue: the stream errors with it, and
        // the connection is closed (reading on to keep it would wait out the fault again).
        signal.removeEventListener("abort", onAbort);
        response.abandon();
        throw e;
      } finally {
        pulling = false;
      }
      if (piece.length > 0) {
        controller.enqueue(piece.slice()); // the piece is a view into the reader's buffer
        return;
      }
      signal.removeEventListener("abort", onAbort);
      await blocking(() => response.release()); // back to the pool
      controller.close();
    },
    async cancel() {
      signal.removeEventListener("abort", onAbort);
      // A read waiting on the connection (cancelled from elsewhere): dropped, not raced.
      if (pulling) response.abandon();
      else await blocking(() => response.release());
    },
  }, { highWaterMark: 0 });
}

/** The body to send: bytes when the request holds them whole, a stream otherwise. */
async function requestBody(
  request: Request,
  init: RequestInit | undefined,
  input: unknown,
): Promise<RequestBody | null> {
  if (request.body === null) return null;
  const streamed = init?.body instanceof ReadableStream ||
    (init?.body === undefined && input instanceof Request);
  if (!streamed) return new Uint8Array(await waitFor(request.arrayBuffer(), "request body"));
  const reader = request.body.getReader();
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const { done, value } = await waitFor(reader.read(), "request body");
        if (done) return;
        yield value;
      }
    },
  };
}

/** What {@linkcode shrapnelFetch} does once loaded: see there. */
export async function fetchThroughClient(
  input: string | URL | Request,
  init?: ShrapnelFetchInit,
): Promise<Response> {
  const thread = currentFor("shrapnelFetch");
  const request = new Request(input, init);
  const signal = request.signal;
  if (signal.aborted) throw signal.reason;
  const client = init?.shrapnelClient ?? defaultHttpClient();
  const aborted = new Interrupted("the fetch was aborted");
  const onAbort = () => {
    if (!thread.dead) thread.raise(aborted);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  let response: HttpResponse;
  try {
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    response = await client.request(request.url, {
      method: request.method,
      headers,
      body: await requestBody(request, init, input),
      redirect: request.redirect === "follow" ? "follow" : "manual",
    });
  } catch (e) {
    if (e === aborted) throw signal.reason;
    throw e;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  const status = response.status;
  if (request.redirect === "error" && status >= 300 && status < 400) {
    await response.release();
    throw new TypeError(`redirected (${status}) and the request's redirect mode is "error"`);
  }
  if (status < 200 || status > 599) {
    await response.release();
    throw new HttpProtocolError(`a Response cannot carry status ${status}`, 502);
  }
  const headers = new Headers();
  try {
    for (const [name, value] of response.headers) headers.append(name, value);
  } catch (e) {
    await response.release();
    throw new HttpProtocolError(
      `a response header field is not valid: ${(e as Error).message}`,
      502,
    );
  }
  const nullBody = status === 204 || status === 205 || status === 304 ||
    request.method === "HEAD";
  if (nullBody || response.body.done) await response.release();
  const result = new Response(nullBody ? null : bodyStream(response, signal), {
    status,
    statusText: response.reason,
    headers,
  });
  Object.defineProperty(result, "url", { value: response.url });
  Object.defineProperty(result, "redirected", { value: response.redirected });
  return result;
}
