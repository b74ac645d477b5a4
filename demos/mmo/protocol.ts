/**
 * The field demo's wire format, server to browser, in binary WebSocket messages
 * (little-endian):
 *
 * - view (type 1): u8 1, i32 x, i32 y, u32 side, u32 n, then n boxes of
 *   (i32 x0, i32 y0, u16 w, u16 h, u8 colour): sent when the viewport moved.
 * - movers (type 2): u8 2, u32 n, then n movers of (u32 id, i32 x, i32 y, u8 colour): the
 *   circles in view, sent only when something in view changed, at most once a frame.
 *
 * Browser to server: text `{"x": ..., "y": ...}` moves the viewport.
 *
 * @module
 */

import type { Box, Mover, Viewport } from "./world.ts";

/** Encodes a view message. */
export function encodeView(view: Viewport, boxes: Box[]): Uint8Array {
  const out = new Uint8Array(1 + 16 + boxes.length * 13);
  const v = new DataView(out.buffer);
  out[0] = 1;
  v.setInt32(1, view.x0, true);
  v.setInt32(5, view.y0, true);
  v.setUint32(9, view.x1 - view.x0, true);
  v.setUint32(13, boxes.length, true);
  let p = 17;
  for (const b of boxes) {
    v.setInt32(p, b.x0, true);
    v.setInt32(p + 4, b.y0, true);
    v.setUint16(p + 8, b.x1 - b.x0, true);
    v.setUint16(p + 10, b.y1 - b.y0, true);
    out[p + 12] = b.color;
    p += 13;
  }
  return out;
}

/** Encodes a movers message. */
export function encodeMovers(movers: Mover[]): Uint8Array {
  const out = new Uint8Array(5 + movers.length * 13);
  const v = new DataView(out.buffer);
  out[0] = 2;
  v.setUint32(1, movers.length, true);
  let p = 5;
  for (const m of movers) {
    v.setUint32(p, m.id, true);
    v.setInt32(p + 4, Math.round(m.x), true);
    v.setInt32(p + 8, Math.round(m.y), true);
    out[p + 12] = m.color;
    p += 13;
  }
  return out;
}

/** A decoded server message (for tests and non-browser viewers). */
export type ServerMessage =
  | {
    type: "view";
    x: number;
    y: number;
    side: number;
    boxes: [number, number, number, number, number][];
  }
  | { type: "movers"; movers: [number, number, number, number][] };

/**
 * Decodes a server message.
 * @throws {RangeError} if it is cut short or of an unknown type
 */
export function decodeMessage(data: Uint8Array): ServerMessage {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[0] === 1) {
    const n = v.getUint32(13, true);
    if (data.length !== 17 + n * 13) throw new RangeError("bad view message length");
    const boxes: [number, number, number, number, number][] = [];
    for (let i = 0, p = 17; i < n; i++, p += 13) {
      boxes.push([
        v.getInt32(p, true),
        v.getInt32(p + 4, true),
        v.getUint16(p + 8, true),
        v.getUint16(p + 10, true),
        data[p + 12],
      ]);
    }
    return {
      type: "view",
      x: v.getInt32(1, true),
      y: v.getInt32(5, true),
      side: v.getUint32(9, true),
      boxes,
    };
  }
  if (data[0] === 2) {
    const n = v.getUint32(1, true);
    if (data.length !== 5 + n * 13) throw new RangeError("bad movers message length");
    const movers: [number, number, number, number][] = [];
    for (let i = 0, p = 5; i < n; i++, p += 13) {
      movers.push([
        v.getUint32(p, true),
        v.getInt32(p + 4, true),
        v.getInt32(p + 8, true),
        data[p + 12],
      ]);
    }
    return { type: "movers", movers };
  }
  throw new RangeError(`unknown message type ${data[0]}`);
}
