/**
 * HTTP header fields: case-insensitive, in arrival order, repeated fields kept; the syntax
 * checks of the fields we send, and the framing fields as bits (one module: each module
 * Deno loads at import costs more than its code, see docs/benchmarks.md).
 *
 * @module
 */

import { InvalidFieldError } from "./errors.ts";

/**
 * @internal `text` in lower case; itself when it has no upper-case letter (the common case of
 * names written in lower case): `toLowerCase` is a slow builtin for so little work.
 */
export function lower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return text.toLowerCase();
  }
  return text;
}

/** @internal Whether the comma-separated `value` holds `token` (case-insensitive). */
export function valueHasToken(value: string, token: string): boolean {
  const want = lower(token);
  if (value.length === want.length) return lower(value) === want; // one token
  return value.split(",").some((t) => t.trim().toLowerCase() === want);
}

/** The fields of a headers object with none: shared, never written (the first add replaces it). */
const NONE: string[] = [];

/**
 * Header fields by lower-case name. `get` joins repeated fields with ", " (as RFC 9110
 * allows for list fields); `getAll` returns them apart (Set-Cookie). Names and values are
 * checked when set (a token; no CR, LF, NUL), so a value copied from a request cannot
 * split a message.
 *
 * @example
 * ```ts
 * import { HttpHeaders } from "./headers.ts";
 * const h = new HttpHeaders([["Content-Type", "text/plain"], ["Accept", "a"], ["accept", "b"]]);
 * console.log(h.get("content-type"), h.get("ACCEPT"), h.getAll("accept")); // text/plain a, b [a, b]
 * ```
 */
export class HttpHeaders {
  /**
   * Names and values in turn: [name, value, name, value...], names lower-case. One array
   * and no pair per field: a request's headers cost two allocations, not one per field.
   */
  #flat: string[] = NONE;
  /** Framing fields ever added (a bit stays set until `delete`): see `_mayHave`. */
  #bits = 0;

  /**
   * Creates a {@linkcode HttpHeaders}.
   *
   * @param init fields as [name, value] pairs, or a record
   */
  constructor(init?: Iterable<readonly [string, string]> | Record<string, string>) {
    if (init === undefined) return;
    const pairs = Symbol.iterator in init
      ? init as Iterable<readonly [string, string]>
      : Object.entries(init);
    for (const [name, value] of pairs) this.add(name, value);
  }

  /** The value of `name` (repeated fields joined by ", "), or null. */
  get(name: string): string | null {
    const key = lower(name);
    const flat = this.#flat;
    let out: string | null = null;
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] === key) out = out === null ? flat[i + 1] : `${out}, ${flat[i + 1]}`;
    }
    return out;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = lower(name);
    const flat = this.#flat;
    const out: string[] = [];
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) out.push(flat[i + 1]);
    return out;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    const key = lower(name);
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) return true;
    return false;
  }

  /**
   * Replaces every `name` field with one (where the first was, or at the end).
   * @throws {InvalidFieldError} if `name` is not a token or `value` holds CR, LF, NUL or
   *   another control character but HTAB (nothing is changed then)
   */
  set(name: string, value: string): void {
    checkField(name, value);
    const key = lower(name);
    const flat = this.#flat;
    let at = -1, count = 0;
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] !== key) continue;
      if (at < 0) at = i;
      count++;
    }
    if (at < 0) {
      this.#append(key, value);
      return;
    }
    flat[at + 1] = value;
    if (count > 1) this.#removeFrom(key, at + 2);
  }

  /**
   * Adds a field (keeps existing ones).
   * @throws {InvalidFieldError} as `set`
   */
  add(name: string, value: string): void {
    checkField(name, value);
    this.#append(lower(name), value);
  }

  /** @internal Adds a field whose name is already lower case (the parser's fast path). */
  _addLower(name: string, value: string): void {
    this.#append(name, value);
  }

  #append(key: string, value: string): void {
    // The first field makes an array of its exact size: most heads have few fields.
    if (this.#flat === NONE) this.#flat = [key, value];
    else this.#flat.push(key, value);
    this.#bits |= framingBit(key);
  }

  /** Drops the `key` fields at or after index `from` (of the flat array). */
  #removeFrom(key: string, from: number): void {
    const flat = this.#flat;
    let to = from;
    for (let i = from; i < flat.length; i += 2) {
      if (flat[i] === key) continue;
      flat[to] = flat[i];
      flat[to + 1] = flat[i + 1];
      to += 2;
    }
    flat.length = to;
  }

  /**
   * @internal Whether any of the framing fields in `bits` (see `CONTENT_LENGTH`...) may be
   * present: false means surely absent, so the lookup can be skipped.
   */
  _mayHave(bits: number): boolean {
    return (this.#bits & bits) !== 0;
  }

  /** Removes every `name` field. */
  delete(name: string): void {
    const key = lower(name);
    if (!this.has(key)) return;
    this.#removeFrom(key, 0);
    this.#bits &= ~framingBit(key);
  }

  /** Number of fields. */
  get size(): number {
    return this.#flat.length >> 1;
  }

  /** Whether a comma-separated field holds `token` (case-insensitive), e.g. Connection: close. */
  hasToken(name: string, token: string): boolean {
    const value = this.get(name);
    return value !== null && valueHasToken(value, token);
  }

  /** The fields as [lower-case name, value] pairs, in order. */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) yield [flat[i], flat[i + 1]];
  }

  /**
   * @internal The fields, names and values in turn ([name, value, name, value...], names
   * lower-case): read only, for writing a head.
   */
  _flat(): readonly string[] {
    return this.#flat;
  }

  /** The fields as "Name: value\r\n" lines (names as stored: lower case). */
  toString(): string {
    let out = "";
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) out += `${flat[i]}: ${flat[i + 1]}\r\n`;
    return out;
  }
}

// The fields that decide how a message is framed and whether its connection stays open, as
// bits: headers note which of them they hold, so that the server skips looking up the ones a
// message does not have (most messages have none but a length).

/** @internal Content-Length. */
export const CONTENT_LENGTH = 1;
/** @internal Transfer-Encoding. */
export const TRANSFER_ENCODING = 2;
/** @internal Connection. */
export const CONNECTION = 4;
/** @internal Expect. */
export const EXPECT = 8;

/** @internal The bit of a lower-case field name, 0 for the other fields. */
export function framingBit(name: string): number {
  switch (name.length) {
    case 14:
      return name === "content-length" ? CONTENT_LENGTH : 0;
    case 17:
      return name === "transfer-encoding" ? TRANSFER_ENCODING : 0;
    case 10:
      return name === "connection" ? CONNECTION : 0;
    case 6:
      return name === "expect" ? EXPECT : 0;
    default:
      return 0;
  }
}

// The syntax of header fields we send (RFC 9110 5.1, 5.5): names are tokens; values are visible
// characters, spaces, tabs and obs-text, never CR, LF, NUL or another control character.
// Checked where a field is set, so that a value copied from a request (`Location: /?next=...`)
// cannot split a reply or smuggle a field.

/** Token characters of RFC 9110 5.6.2, by character code (below 128). */
const TOKEN_CHAR: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789") t[c.charCodeAt(0)] = 1;
  for (let c = 65; c <= 90; c++) t[c] = t[c + 32] = 1;
  return t;
})();

/**
 * Whether `text` is an RFC 9110 token (a field name, a method).
 *
 * @example
 * ```ts
 * import { isToken } from "./headers.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isToken("x-request-id"));
 * assert.ok(!isToken("bad name") && !isToken("x\r\nset-cookie") && !isToken(""));
 * ```
 */
export function isToken(text: string): boolean {
  const n = text.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN_CHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Whether `text` may be a field value: no control character but HTAB (so no CR, LF or
 * NUL), no DEL. Characters past ASCII are sent as UTF-8, whose bytes are all obs-text;
 * whitespace at either end is allowed (parsers drop it).
 *
 * @example
 * ```ts
 * import { isFieldValue } from "./headers.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isFieldValue("text/plain; charset=utf-8"));
 * assert.ok(!isFieldValue("/x\r\nset-cookie: a=b"));
 * ```
 */
export function isFieldValue(text: string): boolean {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return false;
  }
  return true;
}

/**
 * Throws unless `name` is a token and `value` a field value.
 *
 * @example
 * ```ts
 * import { checkField } from "./headers.ts";
 * import { InvalidFieldError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * checkField("location", "/next");
 * assert.throws(() => checkField("location", "/\r\nset-cookie: a=b"), InvalidFieldError);
 * ```
 * @throws {InvalidFieldError} naming the field (the value is not echoed)
 */
export function checkField(name: string, value: string): void {
  if (!isToken(name)) throw new InvalidFieldError(name, "name");
  if (!isFieldValue(value)) throw new InvalidFieldError(name, "value");
}
