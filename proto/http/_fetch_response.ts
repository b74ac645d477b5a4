/**
 * Writing a Fetch API `Response` as the reply to one of our requests: status, header
 * fields, and the body sent whole (text, bytes) or streamed as it is produced (chunked
 * unless the response gave a Content-Length).
 *
 * @module
 */

import { scheduler } from "../../core/scheduler.ts";
import { spawn } from "../../core/thread.ts";
import { waitFor } from "../../core/wait_for.ts";
import type { HttpRequest } from "./request.ts";

/** Deno's slots of a Response, read (never written) to tell a static body from a stream. */
const probe = new Response("x");
const slots = Object.getOwnPropertySymbols(probe);
const INNER = slots.find((s) => s.description === "response");
const LAZY_BODY = slots.find((s) => s.description === "lazy static body");

interface InnerResponse {
  body: { streamOrStatic?: unknown } | null;
}

let warned = false;

/**
 * The body of `response` if it is held whole (a string or bytes given to the
 * constructor, `Response.json`), without reading it through a stream; `null` for no body;
 * `undefined` for a stream, or when Deno's slots are not as expected (the body is then
 * streamed: correct, a little slower, said once).
 */
function staticBody(response: Response): string | Uint8Array | null | undefined {
  const inner = INNER === undefined
    ? undefined
    : (response as unknown as Record<symbol, InnerResponse | undefined>)[INNER];
  if (inner === undefined || typeof inner !== "object" || !("body" in inner)) {
    if (!warned) {
      warned = true;
      console.warn(
        "shrapnel http: this Deno's Response has no slots as in Deno 2.9; " +
          "every response body is streamed (chunked). Report your Deno version.",
      );
    }
    return undefined;
  }
  const body = inner.body;
  if (body === null) {
    const lazy = LAZY_BODY === undefined
      ? null
      : (response as unknown as Record<symbol, unknown>)[LAZY_BODY];
    if (lazy === null || lazy === undefined) return null;
    return typeof lazy === "string" || lazy instanceof Uint8Array ? lazy : undefined;
  }
  const held = body.streamOrStatic as { body?: unknown; consumed?: boolean } | undefined;
  if (held === undefined || held instanceof ReadableStream || held.consumed !== false) {
    return undefined;
  }
  const data = held.body;
  if (typeof data === "string" || data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return undefined;
}

/** Copies status and header fields; Transfer-Encoding and Keep-Alive are the server's. */
function putHead(http: HttpRequest, response: Response): void {
  http.status = response.status;
  const headers = http.replyHeaders;
  for (const [name, value] of response.headers) {
    if (name === "transfer-encoding" || name === "keep-alive") continue;
    headers.add(name, value);
  }
}

/**
 * Sends `response` as the reply to `http`. A body held whole goes out in one write with
 * its length; a stream goes out piece by piece as the application produces it (flushed
 * at once: server-sent events are not held back), in a thread of its own, so that the
 * application's producer may block the connection's thread meanwhile.
 *
 * Returns a promise that is never a blocking call of the calling thread: it settles when
 * the reply is complete (or failed).
 */
export function writeResponse(
  http: HttpRequest,
  response: Response,
  onStream: (streaming: { stop(error: unknown): void } | null) => void,
): Promise<void> {
  putHead(http, response);
  const body = staticBody(response);
  if (body === null) return http.done();
  if (body !== undefined) return http.done(body);
  const stream = response.body;
  if (stream === null) return http.done();
  return streamBody(http, stream, onStream);
}

function streamBody(
  http: HttpRequest,
  stream: ReadableStream<Uint8Array>,
  onStream: (streaming: { stop(error: unknown): void } | null) => void,
): Promise<void> {
  const reader = stream.getReader();
  const finished = Promise.withResolvers<void>();
  const pump = spawn({ name: `http response body ${http}` }, async () => {
    try {
      if (http.method === "HEAD") {
        await http.done();
        await waitFor(reader.cancel(), "cancel response body");
        return;
      }
      for (;;) {
        const next = await waitFor(reader.read(), "response body");
        if (next.done) break;
        const piece = next.value;
        if (!(piece instanceof Uint8Array)) {
          throw new TypeError("a response body stream must give Uint8Array pieces");
        }
        await http.push(piece);
        await http.flush();
      }
      await http.done();
    } catch (e) {
      reader.cancel(e).catch((c) => {
        if (c !== e) console.error("shrapnel http: cancelling a response body failed:", c);
      });
      throw e;
    }
  });
  onStream({
    stop(error) {
      if (!pump.started) pump.shutdown();
      else if (!pump.dead) pump.raise(error);
    },
  });
  // Joined outside the thread: the connection's thread must not block while the
  // application's producer (running as that thread) may.
  scheduler.context.exit(() => pump.join()).then(
    () => finished.resolve(),
    (e) => finished.reject(e),
  );
  return finished.promise.finally(() => onStream(null));
}
