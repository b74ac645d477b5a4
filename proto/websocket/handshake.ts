/**
 * The WebSocket opening handshake (RFC 6455 section 4) for both ends, and the older
 * hixie-76 server handshake.
 *
 * @module
 */

import { nodeBuiltin } from "../../core/_node_builtin.ts";

const createHash = (algorithm: string) =>
  nodeBuiltin<typeof import("node:crypto")>("node:crypto").createHash(algorithm);
import { encodeBase64 } from "../../core/base64.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * The Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
 *
 * @example
 * ```ts
 * import { acceptKey } from "./handshake.ts";
 * console.log(acceptKey("dGhlIHNhbXBsZSBub25jZQ==")); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (RFC 6455 1.3)
 * ```
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** A fresh random Sec-WebSocket-Key (16 random bytes, base64). */
export function newKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
}

/** Whether `key` is a valid Sec-WebSocket-Key: base64 of 16 bytes. */
export function isValidKey(key: string | null): key is string {
  return key !== null && /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/**
 * The 16-byte answer of a hixie-76 handshake: MD5 of the two keys' numbers (digits
 * divided by the count of spaces, big-endian) and the 8 bytes after the head.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hixie76Answer } from "./handshake.ts";
 * const answer = hixie76Answer("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00",
 *   new TextEncoder().encode("^n:ds[4U"));
 * assert.deepEqual(new TextDecoder().decode(answer), "8jKS'y:G*Co,Wxa-");
 * ```
 * @throws {RangeError} if a key has no spaces or its number is not a multiple of them
 */
export function hixie76Answer(key1: string, key2: string, key3: Uint8Array): Uint8Array {
  const part = (key: string): number => {
    const digits = Number(key.replace(/[^0-9]/g, ""));
    const spaces = key.split(" ").length - 1;
    if (spaces === 0 || digits % spaces !== 0 || !Number.isSafeInteger(digits)) {
      throw new RangeError("bad hixie-76 key");
    }
    return digits / spaces;
  };
  const challenge = new Uint8Array(16);
  const view = new DataView(challenge.buffer);
  view.setUint32(0, part(key1));
  view.setUint32(4, part(key2));
  challenge.set(key3.subarray(0, 8), 8);
  return new Uint8Array(createHash("md5").update(challenge).digest());
}
