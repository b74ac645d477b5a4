/**
 * The HTTP/2 frame layer (RFC 9113 section 4): a frame's 9-byte header, and
 * {@linkcode FrameWriter}, which lays frames one after another into a buffer that a
 * connection's writer sends in as few writes as it can.
 *
 * @module
 */

import {
  CONTINUATION,
  DATA,
  END_HEADERS,
  GOAWAY,
  HEADERS,
  PING,
  RST_STREAM,
  SETTINGS,
  WINDOW_UPDATE,
} from "./constants.ts";

/** A frame header as read. */
export interface FrameHeader {
  /** Payload length. */
  length: number;
  /** Frame type. */
  type: number;
  /** Flags. */
  flags: number;
  /** Stream identifier (the reserved bit cleared). */
  stream: number;
}

/** Size of a frame header. */
export const FRAME_HEADER_SIZE = 9;

/**
 * Reads the frame header at `at` of `bytes` (which must hold 9 bytes from there).
 *
 * @example
 * ```ts
 * import { readFrameHeader } from "./frames.ts";
 * const h = readFrameHeader(new Uint8Array([0, 0, 8, 6, 1, 0, 0, 0, 0]), 0);
 * console.log(h); // { length: 8, type: 6, flags: 1, stream: 0 }
 * ```
 */
export function readFrameHeader(bytes: Uint8Array, at: number): FrameHeader {
  return {
    length: (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2],
    type: bytes[at + 3],
    flags: bytes[at + 4],
    stream: ((bytes[at + 5] & 0x7f) << 24 | bytes[at + 6] << 16 | bytes[at + 7] << 8 |
      bytes[at + 8]) >>> 0,
  };
}

/** A 32-bit big-endian number at `at`. */
export function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/**
 * Frames laid out in a growing buffer, for one connection's writer to send. Every method
 * appends whole frames synchronously: frames from many threads never interleave, and a
 * header block's HEADERS and CONTINUATION frames stay together as the protocol requires.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameWriter } from "./frames.ts";
 * const out = new FrameWriter();
 * out.ping(0, new Uint8Array(8));
 * out.windowUpdate(0, 1 << 20);
 * console.log(out.length); // 17 + 13
 * const bytes = out.take();
 * assert.deepEqual([bytes.length, out.length], [30, 0]);
 * ```
 */
export class FrameWriter {
  #buf = new Uint8Array(16384);
  #spare: Uint8Array<ArrayBuffer> | null = null;
  #p = 0;

  /** Bytes waiting to be sent. */
  get length(): number {
    return this.#p;
  }

  /**
   * The bytes laid out so far, and a fresh start. The view stays valid until the next
   * `take` (two buffers alternate: the writer sends one while the other fills).
   */
  take(): Uint8Array {
    const out = this.#buf.subarray(0, this.#p);
    const spare = this.#spare;
    this.#spare = this.#buf;
    this.#buf = spare !== null && spare.length >= 16384 ? spare : new Uint8Array(16384);
    this.#p = 0;
    return out;
  }

  #room(n: number): void {
    if (this.#p + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#p + n));
    bigger.set(this.#buf.subarray(0, this.#p));
    this.#buf = bigger;
  }

  #head(length: number, type: number, flags: number, stream: number): void {
    const b = this.#buf, p = this.#p;
    b[p] = length >>> 16;
    b[p + 1] = (length >>> 8) & 0xff;
    b[p + 2] = length & 0xff;
    b[p + 3] = type;
    b[p + 4] = flags;
    b[p + 5] = (stream >>> 24) & 0x7f;
    b[p + 6] = (stream >>> 16) & 0xff;
    b[p + 7] = (stream >>> 8) & 0xff;
    b[p + 8] = stream & 0xff;
    this.#p = p + 9;
  }

  #u32(value: number): void {
    const b = this.#buf, p = this.#p;
    b[p] = value >>> 24;
    b[p + 1] = (value >>> 16) & 0xff;
    b[p + 2] = (value >>> 8) & 0xff;
    b[p + 3] = value & 0xff;
    this.#p = p + 4;
  }

  /** Appends a frame of any type with `payload`. */
  frame(type: number, flags: number, stream: number, payload: Uint8Array): void {
    this.#room(9 + payload.length);
    this.#head(payload.length, type, flags, stream);
    this.#buf.set(payload, this.#p);
    this.#p += payload.length;
  }

  /** Appends a DATA frame. */
  data(stream: number, data: Uint8Array, flags: number): void {
    this.frame(DATA, flags, stream, data);
  }

  /**
   * Appends a header block as HEADERS (with `flags`, END_HEADERS added on the last frame)
   * and as many CONTINUATION frames as `maxFrameSize` requires.
   */
  headers(stream: number, block: Uint8Array, flags: number, maxFrameSize: number): void {
    let first = Math.min(block.length, maxFrameSize);
    this.#room(9 + block.length + 9 * Math.ceil(block.length / maxFrameSize));
    this.#head(first, HEADERS, first === block.length ? flags | END_HEADERS : flags, stream);
    this.#buf.set(block.subarray(0, first), this.#p);
    this.#p += first;
    while (first < block.length) {
      const n = Math.min(block.length - first, maxFrameSize);
      this.#head(n, CONTINUATION, first + n === block.length ? END_HEADERS : 0, stream);
      this.#buf.set(block.subarray(first, first + n), this.#p);
      this.#p += n;
      first += n;
    }
  }

  /** Appends SETTINGS with `[id, value]` pairs, or an ACK when `ack`. */
  settings(pairs: readonly (readonly [number, number])[], ack = false): void {
    this.#room(9 + 6 * pairs.length);
    this.#head(ack ? 0 : 6 * pairs.length, SETTINGS, ack ? 1 : 0, 0);
    if (ack) return;
    for (const [id, value] of pairs) {
      this.#buf[this.#p++] = id >>> 8;
      this.#buf[this.#p++] = id & 0xff;
      this.#u32(value);
    }
  }

  /** Appends a PING (an ACK when `flags` is 1) with its 8 bytes of data. */
  ping(flags: number, data: Uint8Array): void {
    this.frame(PING, flags, 0, data);
  }

  /** Appends a WINDOW_UPDATE. */
  windowUpdate(stream: number, increment: number): void {
    this.#room(13);
    this.#head(4, WINDOW_UPDATE, 0, stream);
    this.#u32(increment);
  }

  /** Appends a RST_STREAM. */
  rstStream(stream: number, code: number): void {
    this.#room(13);
    this.#head(4, RST_STREAM, 0, stream);
    this.#u32(code);
  }

  /** Appends a GOAWAY with the last stream processed, the error code and debug text. */
  goaway(lastStream: number, code: number, debug = ""): void {
    const text = new TextEncoder().encode(debug.slice(0, 256));
    this.#room(17 + text.length);
    this.#head(8 + text.length, GOAWAY, 0, 0);
    this.#u32(lastStream);
    this.#u32(code);
    this.#buf.set(text, this.#p);
    this.#p += text.length;
  }
}
