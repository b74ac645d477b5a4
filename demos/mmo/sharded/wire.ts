/**
 * What shards and gateways say to each other through RabbitMQ, in binary messages
 * (little-endian), all on topic exchanges:
 *
 * - **tile frame** (shard to gateways, exchange `<namespace>.frames`, key `t.<tx>.<ty>`): the
 *   movers of one shard whose centres are in one tile (`tileSize` px square, tiles
 *   numbered from the world's top-left): u8 1, u16 region index, u16 tx, u16 ty,
 *   u32 sequence, f64 time (the shard's wall clock at the snapshot, ms since the epoch:
 *   the steps in it happened within the frame before), u32 n, then n movers of
 *   (u32 id, u16 x, u16 y relative to the tile's corner, u8 colour). 23 + 9n bytes.
 *   A tile at a region border gets a frame from each shard holding movers in it.
 * - **summary** (shard to gateways, `<namespace>.frames`, key `s.<c>.<r>`, about once a second):
 *   the world's settings (so that a gateway needs nothing but the broker's address), the
 *   shard's counts and its part of the minimap's density grid: u8 2, u16 region index,
 *   u8 columns, u8 rows, u32 world size, u32 boxes, u32 seed, u16 tile size, u16 fps,
 *   u32 instance (random per shard start), f64 time, u32 wanderers, u32 steps/s, u16 grid
 *   side g, u16 gx0, gy0, gx1, gy1 (the cells the region covers, end exclusive), then
 *   (gx1-gx0)*(gy1-gy0) u16 counts row by row.
 * - **interest** (gateway to a shard, exchange `<namespace>.interest`, key `i.<c>.<r>`): every
 *   tile the gateway watches near that region (the whole set: it replaces the previous
 *   one), for `lease` ms: u8 3, u32 gateway id high, u32 low, u32 lease ms, u16 n, then n
 *   (u16 tx, u16 ty). Renewed well before the lease ends; a gateway that dies stops
 *   costing its shards within a lease.
 *
 * @module
 */

import { ShrapnelError } from "../../../core/errors.ts";

/**
 * Exchange (topic) of tile frames and summaries of the field `namespace` ("mmo": the
 * shards' default; two fields on one broker need two).
 */
export function framesExchange(namespace: string): string {
  return `${namespace}.frames`;
}

/** Exchange (topic) of gateways' interest of the field `namespace`. */
export function interestExchange(namespace: string): string {
  return `${namespace}.interest`;
}
/** Bytes of a tile frame before its movers. */
export const TILE_HEADER_BYTES = 23;
/** Bytes of one mover in a tile frame. */
export const TILE_MOVER_BYTES = 9;
/** Most tiles per side: tile indexes are u16. */
export const MAX_TILES_PER_SIDE = 65535;
/**
 * How far past its region's edge a shard may still hold a mover (it wanders on there until
 * its handoff commits: `commitSeconds / stepSeconds + 1` steps of at most 13 px, 39 px with
 * the defaults): interest for tiles this close to a region goes to its shard too.
 */
export const REGION_MARGIN = 128;

/** A message of this protocol that cannot be decoded: dropped and counted, never fatal. */
export class WireError extends ShrapnelError {}

/** Routing key of a tile's frames. */
export function tileKey(tx: number, ty: number): string {
  return `t.${tx}.${ty}`;
}

/** Routing key of a region's summaries (region id `c.r`). */
export function summaryKey(regionId: string): string {
  return `s.${regionId}`;
}

/** Routing key of a region's interest messages (region id `c.r`). */
export function interestKey(regionId: string): string {
  return `i.${regionId}`;
}

/** A decoded tile frame; `movers` is a view into the message (see {@linkcode moverAt}). */
export interface TileFrame {
  /** Index of the shard's region. */
  region: number;
  /** Tile column. */
  tx: number;
  /** Tile row. */
  ty: number;
  /** Frame number of the shard (per publisher, from 1). */
  sequence: number;
  /** The shard's wall clock at the snapshot, ms since the epoch. */
  time: number;
  /** Movers in it. */
  count: number;
  /** The message. */
  bytes: Uint8Array;
}

/**
 * Writes a tile frame's header into `out` (which has room for the movers after it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTileFrame, moverAt, putTileHeader, putTileMover } from "./wire.ts";
 * const out = new Uint8Array(23 + 9);
 * const v = new DataView(out.buffer);
 * putTileHeader(v, 3, 1, 2, 7, 1000.5, 1);
 * putTileMover(v, 23, 42, 10, 20, 5);
 * const f = decodeTileFrame(out);
 * assert.deepEqual([f.region, f.tx, f.ty, f.sequence, f.time, f.count], [3, 1, 2, 7, 1000.5, 1]);
 * assert.deepEqual(moverAt(f, 0, 1024), { id: 42, x: 1034, y: 2068, color: 5 });
 * ```
 */
export function putTileHeader(
  v: DataView,
  region: number,
  tx: number,
  ty: number,
  sequence: number,
  time: number,
  count: number,
): void {
  v.setUint8(0, 1);
  v.setUint16(1, region, true);
  v.setUint16(3, tx, true);
  v.setUint16(5, ty, true);
  v.setUint32(7, sequence, true);
  v.setFloat64(11, time, true);
  v.setUint32(19, count, true);
}

/** Writes one mover at `p` of a tile frame (x, y relative to the tile's corner). */
export function putTileMover(
  v: DataView,
  p: number,
  id: number,
  x: number,
  y: number,
  color: number,
): void {
  v.setUint32(p, id, true);
  v.setUint16(p + 4, x, true);
  v.setUint16(p + 6, y, true);
  v.setUint8(p + 8, color);
}

/**
 * Decodes a tile frame's header (the movers stay in `bytes`).
 * @throws {WireError} if it is not a whole tile frame
 */
export function decodeTileFrame(bytes: Uint8Array): TileFrame {
  if (bytes.length < TILE_HEADER_BYTES || bytes[0] !== 1) {
    throw new WireError("not a tile frame");
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = v.getUint32(19, true);
  if (bytes.length !== TILE_HEADER_BYTES + count * TILE_MOVER_BYTES) {
    throw new WireError(`tile frame of ${bytes.length} bytes for ${count} movers`);
  }
  return {
    region: v.getUint16(1, true),
    tx: v.getUint16(3, true),
    ty: v.getUint16(5, true),
    sequence: v.getUint32(7, true),
    time: v.getFloat64(11, true),
    count,
    bytes,
  };
}

/** The `i`th mover of a tile frame, in world coordinates (tiles of side `tileSize`). */
export function moverAt(
  frame: TileFrame,
  i: number,
  tileSize: number,
): { id: number; x: number; y: number; color: number } {
  const b = frame.bytes, p = b.byteOffset + TILE_HEADER_BYTES + i * TILE_MOVER_BYTES;
  const v = new DataView(b.buffer);
  return {
    id: v.getUint32(p, true),
    x: frame.tx * tileSize + v.getUint16(p + 4, true),
    y: frame.ty * tileSize + v.getUint16(p + 6, true),
    color: v.getUint8(p + 8),
  };
}

/** The settings of a sharded world, as every summary carries them. */
export interface WorldSettings {
  /** Regions across. */
  columns: number;
  /** Regions down. */
  rows: number;
  /** Side of the world. */
  size: number;
  /** Number of boxes (regenerated from the seed by whoever draws them). */
  boxes: number;
  /** Seed of the layout. */
  seed: number;
  /** Side of a tile. */
  tileSize: number;
  /** Frames per second the shards publish. */
  fps: number;
}

/** A shard's summary. */
export interface Summary {
  /** Index of its region. */
  region: number;
  /** The world's settings. */
  settings: WorldSettings;
  /** Random per shard start: a new one means the shard restarted. */
  instance: number;
  /** The shard's wall clock, ms since the epoch. */
  time: number;
  /** Wanderers in the region. */
  wanderers: number;
  /** Steps per second of the region's wanderers. */
  stepsPerSecond: number;
  /** Side of the whole density grid. */
  gridSide: number;
  /** The cells the region covers: columns gx0..gx1-1, rows gy0..gy1-1. */
  gx0: number;
  /** See gx0. */
  gy0: number;
  /** See gx0. */
  gx1: number;
  /** See gx0. */
  gy1: number;
  /** Wanderers per cell, row by row over the cells above. */
  counts: Uint16Array;
}

/**
 * Encodes a summary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSummary, encodeSummary } from "./wire.ts";
 * const s = {
 *   region: 1,
 *   settings: { columns: 2, rows: 1, size: 2048, boxes: 10, seed: 7, tileSize: 512, fps: 20 },
 *   instance: 99, time: 12.5, wanderers: 3, stepsPerSecond: 30,
 *   gridSide: 4, gx0: 2, gy0: 0, gx1: 4, gy1: 1, counts: Uint16Array.of(1, 2),
 * };
 * assert.deepEqual(decodeSummary(encodeSummary(s)), s);
 * ```
 */
export function encodeSummary(s: Summary): Uint8Array {
  const cells = (s.gx1 - s.gx0) * (s.gy1 - s.gy0);
  const out = new Uint8Array(51 + cells * 2);
  const v = new DataView(out.buffer);
  const w = s.settings;
  out[0] = 2;
  v.setUint16(1, s.region, true);
  out[3] = w.columns;
  out[4] = w.rows;
  v.setUint32(5, w.size, true);
  v.setUint32(9, w.boxes, true);
  v.setUint32(13, w.seed >>> 0, true);
  v.setUint16(17, w.tileSize, true);
  v.setUint16(19, w.fps, true);
  v.setUint32(21, s.instance >>> 0, true);
  v.setFloat64(25, s.time, true);
  v.setUint32(33, s.wanderers, true);
  v.setUint32(37, Math.round(s.stepsPerSecond), true);
  v.setUint16(41, s.gridSide, true);
  v.setUint16(43, s.gx0, true);
  v.setUint16(45, s.gy0, true);
  v.setUint16(47, s.gx1, true);
  v.setUint16(49, s.gy1, true);
  for (let i = 0; i < cells; i++) v.setUint16(51 + i * 2, s.counts[i], true);
  return out;
}

/**
 * Decodes a summary.
 * @throws {WireError} if it is not a whole, consistent summary
 */
export function decodeSummary(bytes: Uint8Array): Summary {
  if (bytes.length < 51 || bytes[0] !== 2) throw new WireError("not a summary");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const gridSide = v.getUint16(41, true);
  const gx0 = v.getUint16(43, true), gy0 = v.getUint16(45, true);
  const gx1 = v.getUint16(47, true), gy1 = v.getUint16(49, true);
  if (!(gx0 <= gx1 && gx1 <= gridSide && gy0 <= gy1 && gy1 <= gridSide)) {
    throw new WireError("summary cells outside its grid");
  }
  const cells = (gx1 - gx0) * (gy1 - gy0);
  if (bytes.length !== 51 + cells * 2) throw new WireError("summary of the wrong length");
  const settings: WorldSettings = {
    columns: bytes[3],
    rows: bytes[4],
    size: v.getUint32(5, true),
    boxes: v.getUint32(9, true),
    seed: v.getUint32(13, true),
    tileSize: v.getUint16(17, true),
    fps: v.getUint16(19, true),
  };
  if (settings.columns === 0 || settings.rows === 0 || settings.tileSize === 0) {
    throw new WireError("summary with an empty grid or tile");
  }
  const region = v.getUint16(1, true);
  if (region >= settings.columns * settings.rows) throw new WireError("summary's region");
  const counts = new Uint16Array(cells);
  for (let i = 0; i < cells; i++) counts[i] = v.getUint16(51 + i * 2, true);
  return {
    region,
    settings,
    instance: v.getUint32(21, true),
    time: v.getFloat64(25, true),
    wanderers: v.getUint32(33, true),
    stepsPerSecond: v.getUint32(37, true),
    gridSide,
    gx0,
    gy0,
    gx1,
    gy1,
    counts,
  };
}

/** A gateway's interest in a region's tiles. */
export interface Interest {
  /** The gateway (random per gateway start). */
  gateway: bigint;
  /** Milliseconds it holds for. */
  leaseMs: number;
  /** Tiles as `ty * 65536 + tx`. */
  tiles: number[];
}

/**
 * Encodes an interest message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeInterest, encodeInterest } from "./wire.ts";
 * const i = { gateway: 2n ** 40n + 5n, leaseMs: 3000, tiles: [0, 65536 + 3] };
 * assert.deepEqual(decodeInterest(encodeInterest(i)), i);
 * ```
 */
export function encodeInterest(interest: Interest): Uint8Array {
  const out = new Uint8Array(15 + interest.tiles.length * 4);
  const v = new DataView(out.buffer);
  out[0] = 3;
  v.setBigUint64(1, BigInt.asUintN(64, interest.gateway), true);
  v.setUint32(9, interest.leaseMs, true);
  v.setUint16(13, interest.tiles.length, true);
  let p = 15;
  for (const t of interest.tiles) {
    v.setUint16(p, t & 0xffff, true);
    v.setUint16(p + 2, t >>> 16, true);
    p += 4;
  }
  return out;
}

/**
 * Decodes an interest message.
 * @throws {WireError} if it is not a whole interest message
 */
export function decodeInterest(bytes: Uint8Array): Interest {
  if (bytes.length < 15 || bytes[0] !== 3) throw new WireError("not an interest message");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint16(13, true);
  if (bytes.length !== 15 + n * 4) throw new WireError("interest of the wrong length");
  const tiles: number[] = [];
  for (let i = 0, p = 15; i < n; i++, p += 4) {
    tiles.push(v.getUint16(p + 2, true) * 65536 + v.getUint16(p, true));
  }
  return { gateway: v.getBigUint64(1, true), leaseMs: v.getUint32(9, true), tiles };
}

/** Wall-clock milliseconds since the epoch, sub-millisecond (frames' times). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
