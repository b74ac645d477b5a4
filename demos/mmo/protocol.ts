/**
 * The field demo's wire format, server to browser, in binary WebSocket messages
 * (little-endian):
 *
 * - view (type 1): u8 1, i32 x, i32 y, u32 side, u32 n, then n boxes of
 *   (i32 x0, i32 y0, u16 w, u16 h, u8 colour): sent when the viewport moved.
 * - movers (type 2): u8 2, u32 n, then n movers of (u32 id, i32 x, i32 y, u8 colour): the
 *   circles in view, sent only when something in view changed, at most once a frame.
 * - world boxes (type 3): u8 3, u32 world size, u32 n, then n boxes as in a view: every box,
 *   for the minimap, sent once.
 * - overview (type 4): u8 4, u32 wanderers in the world, u32 steps per second, u32 viewers,
 *   u16 grid side g, then g*g u16 wanderer counts (row by row, saturating at 65535): the
 *   minimap's density and the header's counts, sent about once a second.
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

/** Encodes a movers message (of anything with a mover's id, centre and colour). */
export function encodeMovers(movers: Pick<Mover, "id" | "x" | "y" | "color">[]): Uint8Array {
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
/** Bytes of one box record. */
const BOX_BYTES = 13;

function putBox(v: DataView, out: Uint8Array, p: number, b: Box): void {
  v.setInt32(p, b.x0, true);
  v.setInt32(p + 4, b.y0, true);
  v.setUint16(p + 8, b.x1 - b.x0, true);
  v.setUint16(p + 10, b.y1 - b.y0, true);
  out[p + 12] = b.color;
}

/**
 * Every box of a world of side `size`, for the minimap (type 3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage, encodeWorldBoxes } from "./protocol.ts";
 * const m = decodeMessage(encodeWorldBoxes(100, [{ x0: 1, y0: 2, x1: 11, y1: 22, color: 3 }]));
 * assert.deepEqual(m, { type: "world", size: 100, boxes: [[1, 2, 10, 20, 3]] });
 * ```
 */
export function encodeWorldBoxes(size: number, boxes: Box[]): Uint8Array {
  const out = new Uint8Array(9 + boxes.length * BOX_BYTES);
  const v = new DataView(out.buffer);
  out[0] = 3;
  v.setUint32(1, size, true);
  v.setUint32(5, boxes.length, true);
  for (let i = 0, p = 9; i < boxes.length; i++, p += BOX_BYTES) putBox(v, out, p, boxes[i]);
  return out;
}

/** The counts of an overview message. */
export interface OverviewCounts {
  /** Wanderers in the whole world. */
  wanderers: number;
  /** Steps taken per second, all wanderers together. */
  stepsPerSecond: number;
  /** Browsers watching. */
  viewers: number;
}

/**
 * The overview (type 4): counts, and wanderers per cell of a `side` x `side` grid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage, encodeOverview } from "./protocol.ts";
 * const counts = { wanderers: 3, stepsPerSecond: 30, viewers: 1 };
 * const m = decodeMessage(encodeOverview(counts, 2, Uint16Array.of(1, 0, 0, 2)));
 * assert.deepEqual(m, { type: "overview", ...counts, side: 2, density: [1, 0, 0, 2] });
 * ```
 */
export function encodeOverview(
  counts: OverviewCounts,
  side: number,
  grid: Uint16Array,
): Uint8Array {
  const out = new Uint8Array(15 + side * side * 2);
  const v = new DataView(out.buffer);
  out[0] = 4;
  v.setUint32(1, counts.wanderers, true);
  v.setUint32(5, Math.round(counts.stepsPerSecond), true);
  v.setUint32(9, counts.viewers, true);
  v.setUint16(13, side, true);
  for (let i = 0; i < side * side; i++) v.setUint16(15 + i * 2, grid[i], true);
  return out;
}

export type ServerMessage =
  | {
    type: "view";
    x: number;
    y: number;
    side: number;
    boxes: [number, number, number, number, number][];
  }
  | { type: "movers"; movers: [number, number, number, number][] }
  | { type: "world"; size: number; boxes: [number, number, number, number, number][] }
  | {
    type: "overview";
    wanderers: number;
    stepsPerSecond: number;
    viewers: number;
    side: number;
    density: number[];
  };

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
  if (data[0] === 3) {
    const n = v.getUint32(5, true);
    if (data.length !== 9 + n * BOX_BYTES) throw new RangeError("bad world message length");
    const boxes: [number, number, number, number, number][] = [];
    for (let i = 0, p = 9; i < n; i++, p += BOX_BYTES) {
      boxes.push([
        v.getInt32(p, true),
        v.getInt32(p + 4, true),
        v.getUint16(p + 8, true),
        v.getUint16(p + 10, true),
        data[p + 12],
      ]);
    }
    return { type: "world", size: v.getUint32(1, true), boxes };
  }
  if (data[0] === 4) {
    const side = v.getUint16(13, true);
    if (data.length !== 15 + side * side * 2) throw new RangeError("bad overview length");
    const density: number[] = [];
    for (let i = 0; i < side * side; i++) density.push(v.getUint16(15 + i * 2, true));
    return {
      type: "overview",
      wanderers: v.getUint32(1, true),
      stepsPerSecond: v.getUint32(5, true),
      viewers: v.getUint32(9, true),
      side,
      density,
    };
  }
  throw new RangeError(`unknown message type ${data[0]}`);
}
