/**
 * The syntax of header fields we send (RFC 9110 5.1, 5.5): names are tokens; values
 * are visible characters, spaces, tabs and obs-text, never CR, LF, NUL or another
 * control character. Checked where a field is set, so that a value copied from a
 * request (`Location: /?next=...`) cannot split a reply or smuggle a field.
 *
 * @module
 */

import { InvalidFieldError } from "./errors.ts";

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
 * import { isToken } from "./field_syntax.ts";
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
 * import { isFieldValue } from "./field_syntax.ts";
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
 * import { checkField } from "./field_syntax.ts";
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
