/**
 * HTTP header fields: case-insensitive, in arrival order, repeated fields kept.
 *
 * @module
 */

import { framingBit } from "./framing_fields.ts";
import { checkField } from "./field_syntax.ts";

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
   * @internal Whether any of the framing fields in `bits` (see `framing_fields.ts`) may be
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
