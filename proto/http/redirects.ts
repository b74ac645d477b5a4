/**
 * Following redirects as browsers and `fetch` do: which statuses, what becomes of the
 * method and body, which credentials stay behind when the origin changes.
 *
 * @module
 */

import { ShrapnelError } from "../../core/errors.ts";
import type { RequestInit } from "./client.ts";
import type { HttpHeaders } from "./headers.ts";

/**
 * A request was redirected more times than the client allows (`maxRedirects`).
 *
 * @example
 * ```ts
 * import { TooManyRedirectsError } from "./redirects.ts";
 * const e = new TooManyRedirectsError(20, "http://example.test/loop");
 * if (e.limit !== 20 || !e.message.includes("20")) throw new Error(e.message);
 * ```
 */
export class TooManyRedirectsError extends ShrapnelError {
  /** The most redirects followed. */
  readonly limit: number;
  /** The URL first asked for. */
  readonly url: string;
  /**
   * Makes the error.
   *
   * @param limit the most redirects followed
   * @param url the URL first asked for
   */
  constructor(limit: number, url: string) {
    super(`more than ${limit} redirects from ${url}`);
    this.limit = limit;
    this.url = url;
  }
}

/** Fields that describe a body: dropped with it when a redirect turns the request into a GET. */
const BODY_FIELDS = [
  "content-type",
  "content-length",
  "content-encoding",
  "content-language",
  "content-location",
  "transfer-encoding",
];

/** Fields that carry credentials: never sent on to another origin. */
const CREDENTIAL_FIELDS = ["authorization", "cookie", "proxy-authorization"];

/**
 * The request to make after a redirect answer, or null if `status` is not a redirect
 * that can be followed: 301, 302, 303, 307 and 308 with a Location of http(s).
 *
 * - 303 becomes a GET without a body (a HEAD stays a HEAD); 301 and 302 turn a POST into a
 *   GET (what every browser does); 307 and 308 keep method and body. A streamed body
 *   cannot be sent twice: such a request is not followed (the 3xx answer is returned).
 * - Authorization, Cookie and Proxy-Authorization are dropped when the new URL's origin
 *   (scheme, host, port) differs from the old one's.
 *
 * @example
 * ```ts
 * import { HttpHeaders } from "./headers.ts";
 * import { redirectTarget } from "./redirects.ts";
 * const next = redirectTarget(303, new HttpHeaders({ location: "/done" }), "http://a.test/form", {
 *   method: "POST", body: "x=1", headers: { authorization: "Basic eDp5" },
 * });
 * if (next?.url !== "http://a.test/done" || next.init.method !== "GET") throw new Error();
 * ```
 * @throws {TypeError} for a Location that is not a URL, or not http(s)
 */
export function redirectTarget(
  status: number,
  headers: HttpHeaders,
  url: string,
  init: RequestInit,
): { url: string; init: RequestInit } | null {
  if (status !== 301 && status !== 302 && status !== 303 && status !== 307 && status !== 308) {
    return null;
  }
  const location = headers.get("location");
  if (location === null) return null;
  let next: URL;
  try {
    next = new URL(location, url);
  } catch {
    throw new TypeError(`redirect to an invalid URL: ${location.slice(0, 200)}`);
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    throw new TypeError(`redirect to a URL that is not http(s): ${next.protocol}`);
  }
  next.hash = "";
  const method = (init.method ?? "GET").toUpperCase();
  const fields: Record<string, string> = { ...init.headers };
  let body = init.body ?? null;
  let nextMethod = method;
  if (
    (status === 303 && method !== "HEAD") ||
    ((status === 301 || status === 302) && method === "POST")
  ) {
    nextMethod = "GET";
    body = null;
    for (const name of Object.keys(fields)) {
      if (BODY_FIELDS.includes(name.toLowerCase())) delete fields[name];
    }
  } else if (body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
    return null; // a stream was consumed by the first request
  }
  for (const name of Object.keys(fields)) {
    if (name.toLowerCase() === "host") delete fields[name]; // the new URL's own
  }
  if (new URL(url).origin !== next.origin) {
    for (const name of Object.keys(fields)) {
      if (CREDENTIAL_FIELDS.includes(name.toLowerCase())) delete fields[name];
    }
  }
  return {
    url: next.href,
    init: { ...init, method: nextMethod, headers: fields, body },
  };
}
