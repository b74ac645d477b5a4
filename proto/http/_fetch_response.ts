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
import { type HttpHeaders, lower } from "./headers.ts";
import { byteLength } from "./reply_bytes.ts";
import type { HttpRequest } from "./request.ts";

/**
 * Deno's slots of a Response, read (never written) to tell a static body from a stream;
 * found by the first reply (making a Response at import would load Deno's fetch code into
 * every program that imports shrapnel).
 */
let INNER: symbol | undefined;
let LAZY_BODY: symbol | undefined;
let LAZY_TYPE: symbol | undefined;
let HEADERS: symbol | undefined;
/** Whether `fastFields` agrees with the public API (checked with the slots). */
let FAST_FIELDS = false;
let slotsFound = false;

/**
 * Deno's `Response` and `ReadableStream`, held once found: reading either global costs
 * ~60 ns each time (a getter that asks for Deno's lazily loaded module), more than the
 * `instanceof` it is read for.
 */
let ResponseClass: typeof Response | undefined;
let ReadableStreamClass: typeof ReadableStream | undefined;

/** Whether `value` is a `Response` (see `ResponseClass`). */
export function isResponse(value: unknown): value is Response {
  return value instanceof (ResponseClass ??= Response);
}

function findSlots(): void {
  slotsFound = true;
  ResponseClass ??= Response;
  ReadableStreamClass = ReadableStream;
  const slots = Object.getOwnPropertySymbols(new Response("x"));
  INNER = slots.find((s) => s.description === "response");
  LAZY_BODY = slots.find((s) => s.description === "lazy static body");
  LAZY_TYPE = slots.find((s) => s.description === "lazy static content type");
  HEADERS = slots.find((s) => s.description === "headers");
  FAST_FIELDS = fastFieldsAgree();
  if (!FAST_FIELDS) {
    console.warn(
      "shrapnel http: this Deno's Response slots differ from Deno 2.9's; response header fields " +
        "are read through the public API (about 0.5 µs more a response). Report your Deno version.",
    );
  }
}

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
  if (held === undefined || held instanceof ReadableStreamClass! || held.consumed !== false) {
    return undefined;
  }
  const data = held.body;
  if (typeof data === "string" || data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return undefined;
}

function copyField(this: HttpHeaders, value: string, name: string): void {
  if (name !== "transfer-encoding" && name !== "keep-alive") this.add(name, value);
}

/**
 * The header fields of `response` read from Deno's slots: its field list, plus the
 * Content-Type Deno adds when the fields are first looked at (a lazily held body's). Costs
 * a tenth of `headers.forEach` (which makes the `Headers` object and sorts). Null when the
 * slots are not as expected; `fastFieldsAgree` checks the result against the public API
 * once, with the slots.
 */
function fastFields(response: Response): readonly (readonly [string, string])[] | null {
  if (INNER === undefined || LAZY_TYPE === undefined || LAZY_BODY === undefined) return null;
  const slot = response as unknown as Record<symbol, unknown>;
  const list = (slot[INNER] as { headerList?: unknown } | undefined)?.headerList;
  if (!Array.isArray(list)) return null;
  if (slot[HEADERS!] != null) return list; // made already: the list is complete
  let type = slot[LAZY_TYPE];
  if (type == null && typeof slot[LAZY_BODY] === "string") type = "text/plain;charset=UTF-8";
  if (typeof type !== "string") return list;
  for (let i = 0; i < list.length; i++) {
    const name = list[i][0];
    if (name.length === 12 && name.toLowerCase() === "content-type") return list;
  }
  return [...list, ["content-type", type]];
}

/**
 * The status read from the inner response: the public getter costs ~75 ns (a brand
 * check). Used once `fastFieldsAgree` found it to agree.
 */
function statusOf(response: Response): number {
  return (response as unknown as Record<symbol, { status: number }>)[INNER!].status;
}

/** Whether `fastFields` reads what the public API gives, for responses made every way. */
function fastFieldsAgree(): boolean {
  const probes = [
    () => new Response("text"),
    () => new Response("text", { status: 201, headers: { "X-A": "1" } }),
    () => new Response("text", { headers: { "content-type": "a/b" } }),
    () => Response.json({ a: 1 }),
    () => Response.json({ a: 1 }, { headers: { "set-cookie": "a=1" } }),
    () => new Response(new Uint8Array(2)),
    () => new Response(null, { status: 204 }),
    () => new Response(new URLSearchParams("a=b")),
    () => {
      const r = new Response("t");
      r.headers.append("set-cookie", "b=2");
      return r;
    },
  ];
  for (const probe of probes) {
    const response = probe();
    if (statusOf(response) !== response.status) return false;
    const fast = fastFields(response);
    if (fast === null) return false;
    const expected: string[] = [];
    probe().headers.forEach((value, name) => expected.push(`${name}: ${value}`));
    const got = fast.map(([name, value]) => `${name.toLowerCase()}: ${value}`);
    if (expected.sort().join("\n") !== got.sort().join("\n")) return false;
  }
  return true;
}

/** Copies status and header fields; Transfer-Encoding and Keep-Alive are the server's. */
function putHead(http: HttpRequest, response: Response): void {
  http.status = FAST_FIELDS ? statusOf(response) : response.status;
  const headers = http.replyHeaders;
  const fields = FAST_FIELDS ? fastFields(response) : null;
  if (fields === null) {
    // forEach, not iteration: a quarter of the cost in Deno (no iterator objects).
    response.headers.forEach(copyField, headers);
    return;
  }
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const name = lower(field[0]);
    if (name !== "transfer-encoding" && name !== "keep-alive") headers.add(name, field[1]);
  }
}

/** Told when a thread streaming a response body starts (with a way to stop it) and ends. */
export interface StreamObserver {
  /** Called with the streaming thread's handle when it starts, with null when it ends. */
  onStream(streaming: { stop(error: unknown): void } | null): void;
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
  observer: StreamObserver,
): Promise<void> {
  if (!slotsFound) findSlots();
  const body = staticBody(response);
  if (body !== undefined) {
    // Held whole (the common answer): its fields go into the head as a record, as a
    // native `respond` does, without a headers object.
    let fields = FAST_FIELDS ? fieldRecord(response) : null;
    if (fields !== null) {
      if (body !== null && http.method === "HEAD" && fields["content-length"] === undefined) {
        // What a GET would say (a copy: the record may be a shared one).
        fields = { ...fields, "content-length": String(byteLength(body)) };
      }
      return http.respond(statusOf(response), body ?? "", fields);
    }
  }
  putHead(http, response);
  if (body === null) return http.done();
  if (body !== undefined) {
    if (http.method === "HEAD" && !http.replyHeaders.has("content-length")) {
      // The length a GET would have (as Deno.serve says), though no body follows.
      http.replyHeaders.set("content-length", String(byteLength(body)));
    }
    return http.done(body);
  }
  const stream = response.body;
  if (stream === null) return http.done();
  return streamBody(http, stream, observer);
}

/**
 * The response's fields as a record of lower-case names, or null if a name repeats
 * (Set-Cookie) or the slots are not as expected: those go through a headers object.
 */
function fieldRecord(response: Response): Record<string, string> | null {
  const slot = response as unknown as Record<symbol, unknown>;
  const list = (slot[INNER!] as { headerList?: unknown } | undefined)?.headerList;
  if (!Array.isArray(list)) return null;
  // The common answers carry one field, Content-Type (given, or Deno's for a lazily held
  // text body): their records are made once and shared (`respond` only reads them).
  if (list.length === 0 && slot[HEADERS!] == null) {
    let type = slot[LAZY_TYPE!];
    if (type == null && typeof slot[LAZY_BODY!] === "string") type = "text/plain;charset=UTF-8";
    if (typeof type === "string") return typeRecord(type);
  } else if (list.length === 1) {
    const field = list[0] as [string, string];
    const name = field[0];
    if (
      name === "content-type" || name === "Content-Type" ||
      (name.length === 12 && lower(name) === "content-type")
    ) {
      return typeRecord(field[1]);
    }
  }
  return listRecord(fastFields(response));
}

/** Shared records `{ "content-type": type }`, by type (a bounded number of them). */
const typeRecords = new Map<string, Readonly<Record<string, string>>>();

function typeRecord(type: string): Record<string, string> {
  let record = typeRecords.get(type);
  if (record === undefined) {
    record = Object.freeze({ "content-type": type });
    if (typeRecords.size < 64) typeRecords.set(type, record);
  }
  return record as Record<string, string>;
}

/** The record of a field list (see {@linkcode fieldRecord}). */
function listRecord(
  list: readonly (readonly [string, string])[] | null,
): Record<string, string> | null {
  if (list === null) return null;
  const record: Record<string, string> = {};
  for (let i = 0; i < list.length; i++) {
    const field = list[i];
    const name = lower(field[0]);
    if (name === "transfer-encoding" || name === "keep-alive") continue;
    // Also true for names Object.prototype has ("__proto__", "constructor"): those go
    // through a headers object too, never into the record's prototype.
    if (record[name] !== undefined) return null;
    record[name] = field[1];
  }
  return record;
}

function streamBody(
  http: HttpRequest,
  stream: ReadableStream<Uint8Array>,
  observer: StreamObserver,
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
  observer.onStream({
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
  return finished.promise.finally(() => observer.onStream(null));
}
