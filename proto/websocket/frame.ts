/**
 * WebSocket frames (RFC 6455 section 5): encoding, and reading from a socket with every
 * rule of the framing checked.
 *
 * @module
 */

import { ProtocolError } from "../../core/errors.ts";
import type { SocketReader } from "../../net/buffered_reader.ts";
import { EOFError } from "../../net/errors.ts";

/** Frame opcodes. */
export const Opcode = {
  continuation: 0,
  text: 1,
  binary: 2,
  close: 8,
  ping: 9,
  pong: 10,
} as const;

/** Close status codes used here (RFC 6455 7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  noStatus: 1005,
  abnormal: 1006,
  invalidData: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  mandatoryExtension: 1010,
  internalError: 1011,
  serviceRestart: 1012,
  tryAgainLater: 1013,
  badGateway: 1014,
} as const;

/**
 * The peer broke the WebSocket protocol; `code` is the close code to answer with (1002
 * protocol error, 1007 invalid UTF-8, 1009 message too big). A `ProtocolError` of
 * protocol "websocket".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WebSocketError } from "./frame.ts";
 * assert.deepEqual(new WebSocketError(1009, "message too big").code, 1009);
 * ```
 */
export class WebSocketError extends ProtocolError {
  /** The close code that describes the failure. */
  readonly code: number;
  /**
   * Creates a {@linkcode WebSocketError}.
   *
   * @param code a close code; @param message what went wrong
   */
  constructor(code: number, message: string) {
    super("websocket", message);
    this.code = code;
  }
}

/** One frame as read. */
export interface Frame {
  /** Whether this is the last frame of its message. */
  fin: boolean;
  /** The RSV1 bit (per-message compression). */
  rsv1: boolean;
  /** The opcode. */
  opcode: number;
  /** The unmasked payload. */
  payload: Uint8Array;
}

/**
 * Encodes one frame; clients mask (`mask: true`), servers do not.
 *
 * @example
 * ```ts
 * import { encodeFrame, Opcode } from "./frame.ts";
 * console.log(encodeFrame(Opcode.text, new TextEncoder().encode("hi"))); // [0x81, 2, 104, 105]
 * ```
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {},
): Uint8Array {
  const length = payload.length;
  const mask = options.mask ?? false;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerSize = 2 + lengthBytes + (mask ? 4 : 0);
  const out = new Uint8Array(headerSize + length);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | opcode;
  if (lengthBytes === 0) out[1] = length;
  else if (lengthBytes === 2) {
    out[1] = 126;
    out[2] = length >> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(length));
  }
  if (mask) {
    out[1] |= 0x80;
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, 2 + lengthBytes);
    for (let i = 0; i < length; i++) out[headerSize + i] = payload[i] ^ key[i & 3];
  } else {
    out.set(payload, headerSize);
  }
  return out;
}

/** The payload of every empty frame: a flood of them allocates nothing. */
const EMPTY = new Uint8Array(0);

/**
 * Reads one frame. `masked` is what the peer must do: true for a server reading a
 * client, false for a client reading a server.
 *
 * Interruption point. The frame is taken whole or not at all: an interrupted read (a
 * timeout around `receive`) leaves the reader at the frame's start, never inside it,
 * where the rest of its payload would be parsed as frames of their own.
 * @throws {WebSocketError} 1002 for framing errors, 1009 for a payload over `maxPayload`
 * @throws {EOFError} if the stream ends inside the frame
 */
export async function readFrame(
  reader: SocketReader,
  masked: boolean,
  maxPayload: number,
  extensionsAllowRsv1 = false,
): Promise<Frame | null> {
  // fillTo only when the bytes are not buffered yet: no promise per frame on the hot path.
  if (reader.buffered < 2 && !await reader.fillTo(2)) {
    if (reader.buffered === 0) return null;
    throw endedInFrame(reader, 2);
  }
  const head = reader.peek();
  const fin = (head[0] & 0x80) !== 0;
  const rsv1 = (head[0] & 0x40) !== 0;
  if ((head[0] & 0x30) !== 0 || (rsv1 && !extensionsAllowRsv1)) {
    throw new WebSocketError(CloseCode.protocolError, "reserved bits set");
  }
  const opcode = head[0] & 0x0f;
  if ((opcode > 2 && opcode < 8) || opcode > 10) {
    throw new WebSocketError(CloseCode.protocolError, `unknown opcode ${opcode}`);
  }
  const isMasked = (head[1] & 0x80) !== 0;
  if (isMasked !== masked) {
    throw new WebSocketError(
      CloseCode.protocolError,
      masked ? "client frames must be masked" : "server frames must not be masked",
    );
  }
  let length = head[1] & 0x7f;
  if (opcode >= 8) {
    if (!fin) throw new WebSocketError(CloseCode.protocolError, "fragmented control frame");
    if (length > 125) throw new WebSocketError(CloseCode.protocolError, "control frame too long");
  }
  const lengthBytes = length === 126 ? 2 : length === 127 ? 8 : 0;
  const headSize = 2 + lengthBytes + (masked ? 4 : 0);
  if (reader.buffered < 2 + lengthBytes && !await reader.fillTo(2 + lengthBytes)) {
    throw endedInFrame(reader, 2 + lengthBytes);
  }
  const b = reader.peek();
  if (length === 126) {
    length = (b[2] << 8) | b[3];
    if (length < 126) throw new WebSocketError(CloseCode.protocolError, "length not minimal");
  } else if (length === 127) {
    const big = new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0);
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < 65536n) {
      throw new WebSocketError(CloseCode.protocolError, "bad 64-bit length");
    }
    length = Number(big);
  }
  if (length > maxPayload) {
    throw new WebSocketError(CloseCode.tooBig, `frame of ${length} bytes over ${maxPayload}`);
  }
  const frameSize = headSize + length;
  if (reader.buffered < frameSize && !await reader.fillTo(frameSize)) {
    throw endedInFrame(reader, frameSize);
  }
  const key = masked ? reader.peek().slice(headSize - 4, headSize) : null;
  reader.skip(headSize);
  const payload = length === 0 ? EMPTY : reader.peek().slice(0, length);
  reader.skip(length);
  if (key !== null) { for (let i = 0; i < length; i++) payload[i] ^= key[i & 3]; }
  return { fin, rsv1, opcode, payload };
}

/** The stream ended inside a frame: what came of it, consumed. */
function endedInFrame(reader: SocketReader, needed: number): EOFError {
  const partial = reader.peek().slice();
  reader.skip(partial.length);
  return new EOFError(partial, needed);
}
