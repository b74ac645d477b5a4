/**
 * HTTP header fields: case-insensitive, in arrival order, repeated fields kept.
 *
 * @module
 */

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
    const key = name.toLowerCase();
    let out: string | null = null;
    for (const [n, v] of this.#fields) {
      if (n === key) out = out === null ? v : `${out}, ${v}`;
    }
    return out;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.#fields.filter(([n]) => n === key).map(([, v]) => v);
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    const key = name.toLowerCase();
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i++) if (fields[i][0] === key) return true;
    return false;
  }

  /** Replaces every `name` field with one. */
  set(name: string, value: string): void {
    const key = name.toLowerCase();
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
    else fields.push([key, value]);
  }

  /** Adds a field (keeps existing ones). */
  add(name: string, value: string): void {
    this.#fields.push([name.toLowerCase(), value]);
  }

  /** @internal Adds a field whose name is already lower case (the parser's fast path). */
  _addLower(name: string, value: string): void {
    this.#fields.push([name, value]);
  }

  /** Removes every `name` field. */
  delete(name: string): void {
    const key = name.toLowerCase();
    if (this.has(key)) this.#fields = this.#fields.filter(([n]) => n !== key);
  }

  /** Number of fields. */
  get size(): number {
    return this.#fields.length;
  }

  /** Whether a comma-separated field holds `token` (case-insensitive), e.g. Connection: close. */
  hasToken(name: string, token: string): boolean {
    const value = this.get(name);
    if (value === null) return false;
    const want = token.toLowerCase();
    if (value.length === want.length) return value.toLowerCase() === want; // one token
    return value.split(",").some((t) => t.trim().toLowerCase() === want);
  }

  /** The fields as [lower-case name, value] pairs. */
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#fields[Symbol.iterator]();
  }

  /** The fields as "Name: value\r\n" lines (names as stored: lower case). */
  toString(): string {
    let out = "";
    for (const [n, v] of this.#fields) out += `${n}: ${v}\r\n`;
    return out;
  }
}
