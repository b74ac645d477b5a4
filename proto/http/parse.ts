/**
 * Parsing HTTP/1.x heads (request and status lines, header fields) from bytes: pure
 * functions, strict where laxity enables request smuggling, fuzz-tested.
 *
 * @module
 */

import { HeadersTooLargeError, HttpError, ProtocolError } from "./errors.ts";
import { HttpHeaders } from "./headers.ts";

/** A parsed request head. */
export interface RequestHead {
  /** The method, e.g. "GET". */
  method: string;
  /** The request target as sent, e.g. "/path?q=1". */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** The header fields. */
  headers: HttpHeaders;
}

/** A parsed response head. */
export interface ResponseHead {
  /** The status code. */
  status: number;
  /** The reason phrase. */
  reason: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** The header fields. */
  headers: HttpHeaders;
}

const LATIN1 = new TextDecoder("latin1");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible characters, spaces, tabs and obs-text; no CR, LF or NUL.
// deno-lint-ignore no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Bytes as Latin-1 text; small heads without the decoder's call overhead. */
function latin1(bytes: Uint8Array): string {
  if (bytes.length <= 8192) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  return LATIN1.decode(bytes);
}

function lines(head: Uint8Array): string[] {
  const text = latin1(head);
  const out = text.split("\n");
  for (let i = 0; i < out.length; i++) {
    const line = out[i];
    if (line.endsWith("\r")) out[i] = line.slice(0, -1);
  }
  // A head ends with an empty line (two, after the split): drop them.
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  // Servers SHOULD ignore empty lines before the request line (RFC 9112 2.2).
  while (out.length > 0 && out[0] === "") out.shift();
  return out;
}

function version(text: string): 0 | 1 {
  if (text === "HTTP/1.1") return 1;
  if (text === "HTTP/1.0") return 0;
  if (/^HTTP\/\d\.\d$/.test(text)) throw new HttpError(505, `unsupported version ${text}`);
  throw new ProtocolError(`bad version "${text.slice(0, 20)}"`);
}

function fields(all: string[], maxFields: number): HttpHeaders {
  if (all.length - 1 > maxFields) {
    throw new HeadersTooLargeError(`more than ${maxFields} header fields`);
  }
  const headers = new HttpHeaders();
  for (let i = 1; i < all.length; i++) {
    const line = all[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new ProtocolError(`bad header line "${line.slice(0, 40)}"`);
    const name = line.slice(0, colon);
    // No space before the colon, no obsolete line folding (RFC 9112 5.1, 5.2).
    if (!TOKEN.test(name)) throw new ProtocolError(`bad header name "${name.slice(0, 40)}"`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new ProtocolError(`bad value for header ${name}`);
    headers.add(name, value);
  }
  return headers;
}

/** Token characters of RFC 9110 (method and field names), by byte. */
const TOKEN_BYTE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~0123456789") t[c.charCodeAt(0)] = 1;
  for (let c = 65; c <= 90; c++) t[c] = t[c + 32] = 1;
  return t;
})();

function text(head: Uint8Array, from: number, to: number): string {
  return latin1(head.subarray(from, to));
}

function badLine(head: Uint8Array, from: number, to: number, what: string): ProtocolError {
  return new ProtocolError(`bad ${what} "${text(head, from, Math.min(to, from + 60))}"`);
}

/** Lower-case field names seen lately, by a hash of their bytes: most names repeat. */
const fieldNames: (string | undefined)[] = new Array(512).fill(undefined);

/** The lower-case name at `head[from..to)`: from `fieldNames` if there, else made (and kept). */
function fieldName(all: string, head: Uint8Array, from: number, to: number, hash: number): string {
  const slot = hash & 511;
  const known = fieldNames[slot];
  if (known !== undefined && known.length === to - from) {
    let i = 0;
    while (i < known.length) {
      let b = head[from + i];
      if (b >= 65 && b <= 90) b += 32;
      if (known.charCodeAt(i) !== b) break;
      i++;
    }
    if (i === known.length) return known;
  }
  return fieldNames[slot] = all.slice(from, to).toLowerCase();
}

/**
 * Parses a request head (as returned by `SocketReader.readHead`), scanning bytes: no
 * string is made but the method, target, field names and values.
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "./parse.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
 * console.log(head.method, head.target, head.headers.get("host")); // GET /a?b=1 x
 * ```
 * @throws {ProtocolError} if malformed (400)
 * @throws {HttpError} 505 for a version other than 1.0/1.1
 * @throws {HeadersTooLargeError} if there are more than `maxFields` fields (431)
 */
export function parseRequestHead(head: Uint8Array, maxFields = 100): RequestHead {
  const n = head.length;
  // One decode for the whole head; the strings below are slices of it (byte i = char i).
  const all = latin1(head);
  let p = 0;
  // Servers SHOULD ignore empty lines before the request line (RFC 9112 2.2).
  while (p < n && (head[p] === 13 || head[p] === 10)) p++;
  if (p >= n) throw new ProtocolError("empty request");
  let lf = head.indexOf(10, p);
  if (lf < 0) lf = n;
  const lineEnd = lf > p && head[lf - 1] === 13 ? lf - 1 : lf;
  let q = p;
  while (q < lineEnd && TOKEN_BYTE[head[q]] === 1) q++;
  if (q === p || q >= lineEnd || head[q] !== 32) throw badLine(head, p, lineEnd, "request line");
  const method = q - p === 3 && head[p] === 71 && head[p + 1] === 69 && head[p + 2] === 84
    ? "GET"
    : all.slice(p, q);
  const t0 = q + 1;
  let t1 = t0;
  while (t1 < lineEnd && head[t1] > 32 && head[t1] !== 127) t1++;
  if (t1 === t0 || t1 >= lineEnd || head[t1] !== 32) {
    throw badLine(head, p, lineEnd, "request line");
  }
  const target = all.slice(t0, t1);
  const minor = version(all.slice(t1 + 1, lineEnd));
  const headers = new HttpHeaders();
  let count = 0;
  p = lf + 1;
  while (p < n) {
    let end = head.indexOf(10, p);
    if (end < 0) end = n;
    const e = end > p && head[end - 1] === 13 ? end - 1 : end;
    if (e === p) break; // the blank line
    if (++count > maxFields) throw new HeadersTooLargeError(`more than ${maxFields} header fields`);
    let c = p, hash = 0;
    for (; c < e; c++) {
      const b = head[c];
      if (TOKEN_BYTE[b] !== 1) break;
      // Letters hash alike in either case; the compare in fieldName is exact.
      hash = (hash * 31 + (b | 0x20)) | 0;
    }
    // No space before the colon, no obsolete line folding (RFC 9112 5.1, 5.2).
    if (c === p || c >= e || head[c] !== 58) throw badLine(head, p, e, "header line");
    let v0 = c + 1, v1 = e;
    while (v0 < v1 && (head[v0] === 32 || head[v0] === 9)) v0++;
    while (v1 > v0 && (head[v1 - 1] === 32 || head[v1 - 1] === 9)) v1--;
    for (let i = v0; i < v1; i++) {
      const b = head[i];
      if ((b < 32 && b !== 9) || b === 127) {
        throw new ProtocolError(`bad value for header ${text(head, p, c)}`);
      }
    }
    headers._addLower(fieldName(all, head, p, c, hash), all.slice(v0, v1));
    p = end + 1;
  }
  return { method, target, minor, headers };
}

/**
 * Parses a response head.
 *
 * @example
 * ```ts
 * import { parseResponseHead } from "./parse.ts";
 * const head = parseResponseHead(new TextEncoder().encode("HTTP/1.1 404 Not Found\r\n\r\n"));
 * console.log(head.status, head.reason); // 404 Not Found
 * ```
 * @throws {ProtocolError} if malformed (status 502: the peer is a bad gateway)
 */
export function parseResponseHead(head: Uint8Array, maxFields = 100): ResponseHead {
  try {
    const all = lines(head);
    if (all.length === 0) throw new ProtocolError("empty response");
    const first = all[0];
    const space = first.indexOf(" ");
    const v = space < 0 ? first : first.slice(0, space);
    const rest = space < 0 ? "" : first.slice(space + 1);
    const codeText = rest.slice(0, 3);
    if (!/^[1-9]\d\d$/.test(codeText) || (rest.length > 3 && rest[3] !== " ")) {
      throw new ProtocolError(`bad status line "${first.slice(0, 60)}"`);
    }
    return {
      status: Number(codeText),
      reason: rest.slice(4),
      minor: version(v),
      headers: fields(all, maxFields),
    };
  } catch (e) {
    if (e instanceof HttpError && !(e instanceof HeadersTooLargeError)) {
      throw new ProtocolError(`malformed response: ${e.message}`, 502);
    }
    throw e;
  }
}

const NO_BODY = Object.freeze({ kind: "length", length: 0 } as const);
const TO_CLOSE = Object.freeze({ kind: "close" } as const);

/**
 * How a message's body is delimited, from its headers (RFC 9112 6.3): "chunked", a
 * length, or "close" (read to the end: responses only).
 * @throws {ProtocolError} for conflicting or malformed framing (a smuggling vector)
 */
export function bodyFraming(
  headers: HttpHeaders,
  isRequest: boolean,
): { kind: "chunked" } | { kind: "length"; length: number } | { kind: "close" } {
  const te = headers.get("transfer-encoding");
  if (te === null && !headers.has("content-length")) return isRequest ? NO_BODY : TO_CLOSE;
  const cl = headers.getAll("content-length");
  if (te !== null) {
    if (cl.length > 0) throw new ProtocolError("both Transfer-Encoding and Content-Length");
    const codings = te.split(",").map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== "chunked") {
      if (isRequest) throw new ProtocolError(`unsupported transfer coding "${te}"`);
      return { kind: "close" };
    }
    if (codings.length > 1) throw new HttpError(501, `unsupported transfer coding "${te}"`);
    return { kind: "chunked" };
  }
  if (cl.length > 0) {
    const values = new Set(cl.flatMap((v) => v.split(",").map((x) => x.trim())));
    if (values.size !== 1) throw new ProtocolError("conflicting Content-Length");
    const text = [...values][0];
    if (!/^\d{1,15}$/.test(text)) throw new ProtocolError(`bad Content-Length "${text}"`);
    return { kind: "length", length: Number(text) };
  }
  return isRequest ? { kind: "length", length: 0 } : { kind: "close" };
}
