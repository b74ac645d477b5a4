/**
 * The Huffman code of HPACK (RFC 7541, Appendix B): encoding, decoding and the encoded
 * length of a string. The code is canonical, so the table is its code lengths alone; the
 * codes are derived from them once, at load.
 *
 * @module
 */

import { Http2Error } from "./errors.ts";
import { COMPRESSION_ERROR } from "./constants.ts";

/** Code lengths in bits of symbols 0-255 and EOS (256), from RFC 7541 Appendix B. */
const LENGTHS = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28, // 0
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28, // 16
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6, // 32 ' '
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10, // 48 '0'
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7, // 64 '@'
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6, // 80 'P'
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5, // 96 '`'
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28, // 112 'p'
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23, // 128
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24, // 144
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23, // 160
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23, // 176
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25, // 192
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27, // 208
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23, // 224
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26, // 240
  30, // EOS
];

const EOS = 256;
const MAX_LENGTH = 30;

/** Each symbol's code, right-aligned in its length. */
const CODES = new Uint32Array(257);
/** The first code of each length, the number of codes of it, and where they start in SORTED. */
const FIRST = new Int32Array(MAX_LENGTH + 2);
const COUNT = new Int32Array(MAX_LENGTH + 2);
const OFFSET = new Int32Array(MAX_LENGTH + 2);
/** Symbols in canonical order (by length, then by value). */
const SORTED = new Uint16Array(257);

{
  let code = 0, at = 0;
  for (let length = 1; length <= MAX_LENGTH; length++) {
    FIRST[length] = code;
    OFFSET[length] = at;
    for (let symbol = 0; symbol <= EOS; symbol++) {
      if (LENGTHS[symbol] !== length) continue;
      CODES[symbol] = code++;
      SORTED[at++] = symbol;
      COUNT[length]++;
    }
    code <<= 1;
  }
}

/** @internal A symbol's code and length (for the tests against Appendix B). */
export function huffmanCode(symbol: number): { code: number; bits: number } {
  return { code: CODES[symbol], bits: LENGTHS[symbol] };
}

/**
 * The length in bytes of `data` once Huffman-coded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { huffmanLength } from "./huffman.ts";
 * assert.deepEqual(huffmanLength(new TextEncoder().encode("www.example.com")), 12);
 * ```
 */
export function huffmanLength(data: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < data.length; i++) bits += LENGTHS[data[i]];
  return (bits + 7) >> 3;
}

/**
 * Huffman-codes `data` into `out` at `at` (which must have `huffmanLength(data)` bytes of
 * room), padding the last byte with ones (the start of EOS); returns the end offset.
 *
 * @example
 * ```ts
 * import { huffmanEncode, huffmanLength } from "./huffman.ts";
 * const data = new TextEncoder().encode("no-cache");
 * const out = new Uint8Array(huffmanLength(data));
 * huffmanEncode(data, out, 0);
 * console.log(out); // a8 eb 10 64 9c bf
 * ```
 */
export function huffmanEncode(data: Uint8Array, out: Uint8Array, at: number): number {
  // Bits collect in `acc` (at most 7 pending plus a 30-bit code: 37 bits; a double keeps
  // 53 exactly, so arithmetic instead of 32-bit shifts).
  let acc = 0, pending = 0;
  for (let i = 0; i < data.length; i++) {
    const symbol = data[i], bits = LENGTHS[symbol];
    acc = acc * (1 << bits) + CODES[symbol];
    pending += bits;
    while (pending >= 8) {
      pending -= 8;
      const byte = Math.floor(acc / 2 ** pending);
      out[at++] = byte;
      acc -= byte * 2 ** pending;
    }
  }
  if (pending > 0) out[at++] = (acc << (8 - pending)) | (0xff >> pending);
  return at;
}

/**
 * Decodes Huffman-coded bytes to a string of byte-valued characters (Latin-1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { huffmanDecode } from "./huffman.ts";
 * assert.equal(huffmanDecode(new Uint8Array([0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf])), "no-cache");
 * ```
 * @throws {Http2Error} (COMPRESSION_ERROR) for EOS in the data, padding longer than 7
 *   bits or padding that is not ones
 */
export function huffmanDecode(data: Uint8Array): string {
  let out = "";
  let code = 0, length = 0;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    const byte = data[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      length++;
      if (length < 5) continue;
      const index = code - FIRST[length];
      if (index < COUNT[length]) {
        const symbol = SORTED[OFFSET[length] + index];
        if (symbol === EOS) throw new Http2Error(COMPRESSION_ERROR, "EOS in a Huffman string");
        out += String.fromCharCode(symbol);
        code = 0;
        length = 0;
      } else if (length === MAX_LENGTH) {
        throw new Http2Error(COMPRESSION_ERROR, "invalid Huffman code");
      }
    }
  }
  // What is left is padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (length > 7 || code !== (1 << length) - 1) {
    throw new Http2Error(COMPRESSION_ERROR, "bad Huffman padding");
  }
  return out;
}
