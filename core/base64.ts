/**
 * Base64 without a dependency (std's encoding module lives on JSR, which we do not use).
 *
 * @module
 */

/**
 * Encodes bytes as base64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBase64 } from "./base64.ts";
 * assert.deepEqual(encodeBase64(new TextEncoder().encode("hi")), "aGk=");
 * ```
 */
export function encodeBase64(data: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Decodes base64 into bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBase64 } from "./base64.ts";
 * assert.deepEqual(decodeBase64("aGk="), new Uint8Array([104, 105]));
 * ```
 * @throws {DOMException} if the text is not base64
 */
export function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
