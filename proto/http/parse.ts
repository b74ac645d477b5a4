/**
 * Parsing HTTP/1.x heads (request and status lines, header fields) from bytes: pure
 * functions, strict where laxity enables request smuggling, fuzz-tested.
 *
 * @module
 */

import { HeadersTooLargeError, HttpError, HttpProtocolError } from "./errors.ts";
import { CONTENT_LENGTH, HttpHeaders, TRANSFER_ENCODING } from "./headers.ts";

// Strings by their bytes, kept from one head to the next: most names and many values (Host,
// User-Agent, Accept, the paths of a busy route) repeat, and comparing bytes with a kept string
// costs less than making a new string in V8 (about 100 ns even for a short one).

/** Latin-1 text of `bytes[from..to)`. */
function latin1Range(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode.apply(null, bytes.subarray(from, to) as unknown as number[]);
}

/**
 * @internal A table of strings by a hash of their bytes (the caller computes the hash
 * while it scans the bytes anyway). A slot keeps the last string that hashed to it.
 */
export class InternedStrings {
  readonly #slots: (string | undefined)[];
  readonly #mask: number;
  readonly #maxLength: number;
  readonly #fold: boolean;

  /**
   * @param size slots, a power of two
   * @param maxLength longer strings are made each time, not kept
   * @param fold whether the strings are the bytes in lower case (ASCII letters)
   */
  constructor(size: number, maxLength: number, fold: boolean) {
    this.#slots = new Array(size).fill(undefined);
    this.#mask = size - 1;
    this.#maxLength = maxLength;
    this.#fold = fold;
  }

  /**
   * The string of `bytes[from..to)` (lower-cased if this table folds), whose `hash` the
   * caller computed with {@linkcode hashByte} over the same bytes (folded if it folds).
   */
  get(bytes: Uint8Array, from: number, to: number, hash: number): string {
    const length = to - from;
    if (length > this.#maxLength) return this.#make(bytes, from, to);
    const slot = hash & this.#mask;
    const kept = this.#slots[slot];
    if (kept !== undefined && kept.length === length) {
      let i = 0;
      if (this.#fold) {
        for (; i < length; i++) {
          let b = bytes[from + i];
          if (b >= 65 && b <= 90) b += 32;
          if (kept.charCodeAt(i) !== b) break;
        }
      } else {
        for (; i < length; i++) if (kept.charCodeAt(i) !== bytes[from + i]) break;
      }
      if (i === length) return kept;
    }
    return this.#slots[slot] = this.#make(bytes, from, to);
  }

  #make(bytes: Uint8Array, from: number, to: number): string {
    const text = latin1Range(bytes, from, to);
    return this.#fold ? text.toLowerCase() : text;
  }
}

/** The hash after one more byte (callers fold letters with `| 0x20` for folding tables). */
export function hashByte(hash: number, byte: number): number {
  return (hash * 31 + byte) | 0;
}

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
  throw new HttpProtocolError(`bad version "${text.slice(0, 20)}"`);
}

function fields(all: string[], maxFields: number): HttpHeaders {
  if (all.length - 1 > maxFields) {
    throw new HeadersTooLargeError(`more than ${maxFields} header fields`);
  }
  const headers = new HttpHeaders();
  for (let i = 1; i < all.length; i++) {
    const line = all[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpProtocolError(`bad header line "${line.slice(0, 40)}"`);
    const name = line.slice(0, colon);
    // No space before the colon, no obsolete line folding (RFC 9112 5.1, 5.2).
    if (!TOKEN.test(name)) throw new HttpProtocolError(`bad header name "${name.slice(0, 40)}"`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new HttpProtocolError(`bad value for header ${name}`);
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

/** Where the line starting at `from` ends (before its CR LF or LF). */
function lineEndFrom(head: Uint8Array, from: number): number {
  let end = head.indexOf(10, from);
  if (end < 0) end = head.length;
  return end > from && head[end - 1] === 13 ? end - 1 : end;
}

function badLine(head: Uint8Array, from: number, to: number, what: string): HttpProtocolError {
  return new HttpProtocolError(`bad ${what} "${text(head, from, Math.min(to, from + 60))}"`);
}

/** Field names (folded to lower case), values and request targets seen lately. */
const fieldNames = new InternedStrings(512, 64, true);
const fieldValues = new InternedStrings(1024, 256, false);
const targets = new InternedStrings(256, 256, false);

/** The method at `head[from..to)`: the common ones without making a string. */
function methodAt(head: Uint8Array, from: number, to: number): string {
  const b = head[from], n = to - from;
  if (n === 3 && b === 71 && head[from + 1] === 69 && head[from + 2] === 84) return "GET";
  if (n === 4 && b === 80 && head[from + 1] === 79 && head[from + 2] === 83) {
    if (head[from + 3] === 84) return "POST";
  }
  return text(head, from, to);
}

/** The version at `head[from..to)`: 1 for HTTP/1.1, 0 for HTTP/1.0. */
function versionAt(head: Uint8Array, from: number, to: number): 0 | 1 {
  if (
    to - from === 8 && head[from] === 72 && head[from + 1] === 84 && head[from + 2] === 84 &&
    head[from + 3] === 80 && head[from + 4] === 47 && head[from + 5] === 49 &&
    head[from + 6] === 46
  ) {
    if (head[from + 7] === 49) return 1;
    if (head[from + 7] === 48) return 0;
  }
  return version(text(head, from, to));
}

/**
 * Parses a request head (as returned by `SocketReader.readHead`), scanning bytes: no
 * string is made but the method, target, field names and values.
 *
 * With `checkHost` (a server's rule), no Host field on HTTP/1.1 or more than one on any
 * version is malformed too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestHead } from "./parse.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
 * assert.deepEqual([head.method, head.target, head.headers.get("host")], ["GET", "/a?b=1", "x"]);
 * ```
 * @throws {HttpProtocolError} if malformed (400), including a target with a byte past ASCII
 * @throws {HttpError} 505 for a version other than 1.0/1.1
 * @throws {HeadersTooLargeError} if there are more than `maxFields` fields (431)
 */
export function parseRequestHead(
  head: Uint8Array,
  maxFields = 100,
  checkHost = false,
): RequestHead {
  const n = head.length;
  let p = 0;
  // Servers SHOULD ignore empty lines before the request line (RFC 9112 2.2).
  while (p < n && (head[p] === 13 || head[p] === 10)) p++;
  if (p >= n) throw new HttpProtocolError("empty request");
  let lf = head.indexOf(10, p);
  if (lf < 0) lf = n;
  const lineEnd = lf > p && head[lf - 1] === 13 ? lf - 1 : lf;
  let q = p;
  while (q < lineEnd && TOKEN_BYTE[head[q]] === 1) q++;
  if (q === p || q >= lineEnd || head[q] !== 32) throw badLine(head, p, lineEnd, "request line");
  const method = methodAt(head, p, q);
  const t0 = q + 1;
  let t1 = t0, targetHash = 0;
  for (; t1 < lineEnd; t1++) {
    const b = head[t1];
    // A target is ASCII (RFC 3986): a control byte, DEL or a byte past it ends it (badly).
    if (b <= 32 || b >= 127) break;
    targetHash = hashByte(targetHash, b);
  }
  if (t1 === t0 || t1 >= lineEnd || head[t1] !== 32) {
    throw badLine(head, p, lineEnd, "request line");
  }
  const target = t1 - t0 === 1 && head[t0] === 47 ? "/" : targets.get(head, t0, t1, targetHash);
  const minor = versionAt(head, t1 + 1, lineEnd);
  const headers = new HttpHeaders();
  let count = 0, hosts = 0;
  // One pass per line: name, colon, value and line end found together (no indexOf calls).
  p = lf + 1;
  while (p < n) {
    const first = head[p];
    if (first === 10 || (first === 13 && (p + 1 === n || head[p + 1] === 10))) break; // blank
    if (++count > maxFields) throw new HeadersTooLargeError(`more than ${maxFields} header fields`);
    let c = p, nameHash = 0;
    for (; c < n; c++) {
      const b = head[c];
      if (TOKEN_BYTE[b] !== 1) break;
      nameHash = hashByte(nameHash, b | 0x20); // letters hash alike in either case
    }
    // No space before the colon, no obsolete line folding (RFC 9112 5.1, 5.2).
    if (c === p || c >= n || head[c] !== 58) {
      throw badLine(head, p, lineEndFrom(head, p), "header line");
    }
    let v0 = c + 1;
    while (v0 < n && (head[v0] === 32 || head[v0] === 9)) v0++;
    let i = v0, valueHash = 0;
    for (; i < n; i++) {
      const b = head[i];
      if (b === 10) break;
      if (b === 13 && (i + 1 === n || head[i + 1] === 10)) break;
      if ((b < 32 && b !== 9) || b === 127) {
        throw new HttpProtocolError(`bad value for header ${text(head, p, c)}`);
      }
      valueHash = hashByte(valueHash, b);
    }
    let v1 = i;
    while (v1 > v0 && (head[v1 - 1] === 32 || head[v1 - 1] === 9)) v1--;
    if (v1 !== i) { // trailing whitespace (rare): the hash covers the trimmed value only
      valueHash = 0;
      for (let k = v0; k < v1; k++) valueHash = hashByte(valueHash, head[k]);
    }
    const name = fieldNames.get(head, p, c, nameHash);
    if (c - p === 4 && name === "host") hosts++;
    headers._addLower(name, v0 === v1 ? "" : fieldValues.get(head, v0, v1, valueHash));
    p = i < n && head[i] === 13 ? i + 2 : i + 1;
  }
  // Exactly one Host on HTTP/1.1, at most one on 1.0 (RFC 9112 3.2): a server's rule.
  if (checkHost && hosts !== minor && (hosts > 1 || minor === 1)) {
    throw new HttpProtocolError(hosts > 1 ? "more than one Host field" : "no Host field");
  }
  return { method, target, minor, headers };
}

/**
 * Parses a response head.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseResponseHead } from "./parse.ts";
 * const head = parseResponseHead(new TextEncoder().encode("HTTP/1.1 404 Not Found\r\n\r\n"));
 * assert.deepEqual([head.status, head.reason], [404, "Not Found"]);
 * ```
 * @throws {HttpProtocolError} if malformed (status 502: the peer is a bad gateway)
 */
export function parseResponseHead(head: Uint8Array, maxFields = 100): ResponseHead {
  try {
    const all = lines(head);
    if (all.length === 0) throw new HttpProtocolError("empty response");
    const first = all[0];
    const space = first.indexOf(" ");
    const v = space < 0 ? first : first.slice(0, space);
    const rest = space < 0 ? "" : first.slice(space + 1);
    const codeText = rest.slice(0, 3);
    if (!/^[1-9]\d\d$/.test(codeText) || (rest.length > 3 && rest[3] !== " ")) {
      throw new HttpProtocolError(`bad status line "${first.slice(0, 60)}"`);
    }
    return {
      status: Number(codeText),
      reason: rest.slice(4),
      minor: version(v),
      headers: fields(all, maxFields),
    };
  } catch (e) {
    if (e instanceof HttpError && !(e instanceof HeadersTooLargeError)) {
      throw new HttpProtocolError(`malformed response: ${e.message}`, 502);
    }
    throw e;
  }
}

const NO_BODY = Object.freeze({ kind: "length", length: 0 } as const);
const TO_CLOSE = Object.freeze({ kind: "close" } as const);

/**
 * How a message's body is delimited, from its headers (RFC 9112 6.3): "chunked", a
 * length, or "close" (read to the end: responses only).
 * @throws {HttpProtocolError} for conflicting or malformed framing (a smuggling vector)
 */
export function bodyFraming(
  headers: HttpHeaders,
  isRequest: boolean,
): { kind: "chunked" } | { kind: "length"; length: number } | { kind: "close" } {
  if (!headers._mayHave(CONTENT_LENGTH | TRANSFER_ENCODING)) return isRequest ? NO_BODY : TO_CLOSE;
  const te = headers.get("transfer-encoding");
  if (te === null && !headers.has("content-length")) return isRequest ? NO_BODY : TO_CLOSE;
  const cl = headers.getAll("content-length");
  if (te !== null) {
    if (cl.length > 0) throw new HttpProtocolError("both Transfer-Encoding and Content-Length");
    const codings = te.split(",").map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== "chunked") {
      if (isRequest) throw new HttpProtocolError(`unsupported transfer coding "${te}"`);
      return { kind: "close" };
    }
    if (codings.length > 1) throw new HttpError(501, `unsupported transfer coding "${te}"`);
    return { kind: "chunked" };
  }
  if (cl.length > 0) {
    const values = new Set(cl.flatMap((v) => v.split(",").map((x) => x.trim())));
    if (values.size !== 1) throw new HttpProtocolError("conflicting Content-Length");
    const text = [...values][0];
    if (!/^\d{1,15}$/.test(text)) throw new HttpProtocolError(`bad Content-Length "${text}"`);
    return { kind: "length", length: Number(text) };
  }
  return isRequest ? { kind: "length", length: 0 } : { kind: "close" };
}
