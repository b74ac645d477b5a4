/**
 * HTTP header fields: case-insensitive, in arrival order, repeated fields kept.
 *
 * @module
 */

import { framingBit } from "./framing_fields.ts";

/**
 * `text` in lower case; itself when it has no upper-case letter (the common case of
 * names written in lower case): `toLowerCase` is a slow builtin for so little work.
 */
function lower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return text.toLowerCase();
  }
  return text;
}

/**
 * Header fields by lower-case name. `get` joins repeated fields with ", " (as RFC 9110
 * allows for list fields); `getAll` returns them apart (Set-Cookie).
 *
 * @example
 * ```ts
 * import { HttpHeaders } from "./headers.ts";
 * const h = new HttpHeaders([["Content-Type", "text/plain"], ["Accept", "a"], ["accept", "b"]]);
 * console.log(h.get("content-type"), h.get("ACCEPT"), h.getAll("accept")); // text/plain a, b [a, b]
 * ```
 */
export class HttpHeaders {
  #fields: [string, string][] = [];
  /** Framing fields ever added (a bit stays set until `delete`): see `_mayHave`. */
  #bits = 0;

  /** @param init fields as [name, value] pairs, or a record */
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
    const fields = this.#fields;
    let out: string | null = null;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i];
      if (field[0] === key) out = out === null ? field[1] : `${out}, ${field[1]}`;
    }
    return out;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = lower(name);
    const fields = this.#fields;
    const out: string[] = [];
    for (let i = 0; i < fields.length; i++) if (fields[i][0] === key) out.push(fields[i][1]);
    return out;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    const key = lower(name);
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i++) if (fields[i][0] === key) return true;
    return false;
  }

  /** Replaces every `name` field with one. */
  set(name: string, value: string): void {
    const key = lower(name);
    const fields = this.#fields;
    let at = -1, count = 0;
    for (let i = 0; i < fields.length; i++) {
      if (fields[i][0] !== key) continue;
      if (at < 0) at = i;
      count++;
    }
    if (count > 1) {
      this.#fields = fields.filter(([n]) => n !== key);
      this.#fields.push([key, value]);
    } else if (at >= 0) fields[at] = [key, value];
    else {
      fields.push([key, value]);
      this.#bits |= framingBit(key);
    }
  }

  /** Adds a field (keeps existing ones). */
  add(name: string, value: string): void {
    const key = lower(name);
    this.#fields.push([key, value]);
    this.#bits |= framingBit(key);
  }

  /** @internal Adds a field whose name is already lower case (the parser's fast path). */
  _addLower(name: string, value: string): void {
    this.#fields.push([name, value]);
    this.#bits |= framingBit(name);
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
    this.#fields = this.#fields.filter(([n]) => n !== key);
    this.#bits &= ~framingBit(key);
  }

  /** Number of fields. */
  get size(): number {
    return this.#fields.length;
  }

  /** Whether a comma-separated field holds `token` (case-insensitive), e.g. Connection: close. */
  hasToken(name: string, token: string): boolean {
    const value = this.get(name);
    if (value === null) return false;
    const want = lower(token);
    if (value.length === want.length) return lower(value) === want; // one token
    return value.split(",").some((t) => t.trim().toLowerCase() === want);
  }

  /** The fields as [lower-case name, value] pairs. */
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#fields[Symbol.iterator]();
  }

  /** @internal The fields in order, names lower-case: read only, for writing a head. */
  _fields(): readonly (readonly [string, string])[] {
    return this.#fields;
  }

  /** The fields as "Name: value\r\n" lines (names as stored: lower case). */
  toString(): string {
    let out = "";
    for (const [n, v] of this.#fields) out += `${n}: ${v}\r\n`;
    return out;
  }
}
