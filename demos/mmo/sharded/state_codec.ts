/**
 * The shards' own messages, in compact binary (little-endian): a **handoff** (wanderers
 * one shard gives another, in one commit) and a **snapshot** (a shard's whole region as
 * of one commit, with its handoff counters). A wanderer is 24 bytes in both:
 *
 * u32 id, u32 generation, i32 fx, i32 fy (1/256 px), i16 dx, i16 dy, u16 steps left,
 * u8 colour, u8 0.
 *
 * - handoff: u8 1 (kind), u8 1 (version), u16 from region, u16 to region, u32 n, then
 *   n wanderers. 10 + 24n bytes.
 * - snapshot: u8 2, u8 2 (version), u16 region, u16 regions in the grid (g), u8 columns,
 *   u8 rows (the grid's shape: "1.0" of 2x2 and of 4x1 are other squares of the world),
 *   f64 commit number, then g f64 wanderers sent to each region so far, g f64 adopted
 *   from each, then u32 n and n wanderers. 20 + 16g + 24n bytes.
 * - journal entry (what one commit changed in the region): u8 3, u8 2, u16 region, u16 g,
 *   u8 columns, u8 rows, f64 commit number, the counters as in a snapshot, u32 r and r ids
 *   of wanderers handed off, u32 a and a wanderers adopted. 24 + 16g + 4r + 24a bytes.
 *
 * @module
 */

import { ShrapnelError } from "../../../core/errors.ts";
import type { WandererState } from "../world.ts";

/** A message in a shard's queue that is not a handoff or snapshot of this version. */
export class StateCodecError extends ShrapnelError {}

/** Bytes of one wanderer. */
export const WANDERER_BYTES = 24;
const HANDOFF_HEADER = 10;
const HANDOFF_KIND = 1, SNAPSHOT_KIND = 2, JOURNAL_KIND = 3, VERSION = 1;
/** Version of snapshots and journal entries (2: with the grid's shape). */
const STATE_VERSION = 2;
/** Where a snapshot's or journal entry's counters start (after the commit number). */
const COUNTERS = 16;

/** The shape of a region grid (a `RegionGrid` is one). */
export interface GridShape {
  /** Regions across (1..255). */
  columns: number;
  /** Regions down (1..255). */
  rows: number;
}

/** Wanderers handed from one region to another. */
export interface Handoff {
  /** Index of the region that gave them. */
  from: number;
  /** Index of the region they go to. */
  to: number;
  /** Their states as of the giver's commit. */
  wanderers: WandererState[];
}

/** What one commit of a shard changed in its region. */
export interface JournalEntry {
  /** Index of the region. */
  region: number;
  /** Regions across in the grid it was written for. */
  columns: number;
  /** Regions down in the grid it was written for. */
  rows: number;
  /** The commit's number. */
  commit: number;
  /** Wanderers handed to each region (by index) in all commits up to this one. */
  sentTo: number[];
  /** Wanderers adopted from each region (by index) in all commits up to this one. */
  adoptedFrom: number[];
  /** Ids of the wanderers handed off in this commit. */
  released: number[];
  /** The wanderers adopted in this commit, as they arrived. */
  adopted: WandererState[];
}

/** A shard's committed region. */
export interface Snapshot {
  /** Index of the region. */
  region: number;
  /** Regions across in the grid it was written for. */
  columns: number;
  /** Regions down in the grid it was written for. */
  rows: number;
  /** The shard's commit number (from 1). */
  commit: number;
  /** Wanderers handed to each region (by index) in all commits so far. */
  sentTo: number[];
  /** Wanderers adopted from each region (by index) in all commits so far. */
  adoptedFrom: number[];
  /** The region's wanderers. */
  wanderers: WandererState[];
}

function putWanderer(v: DataView, p: number, w: WandererState): void {
  v.setUint32(p, w.id, true);
  v.setUint32(p + 4, w.generation, true);
  v.setInt32(p + 8, w.fx, true);
  v.setInt32(p + 12, w.fy, true);
  v.setInt16(p + 16, w.dx, true);
  v.setInt16(p + 18, w.dy, true);
  v.setUint16(p + 20, w.stepsLeft, true);
  v.setUint8(p + 22, w.color);
  v.setUint8(p + 23, 0);
}

function getWanderer(v: DataView, p: number): WandererState {
  return {
    id: v.getUint32(p, true),
    generation: v.getUint32(p + 4, true),
    fx: v.getInt32(p + 8, true),
    fy: v.getInt32(p + 12, true),
    dx: v.getInt16(p + 16, true),
    dy: v.getInt16(p + 18, true),
    stepsLeft: v.getUint16(p + 20, true),
    color: v.getUint8(p + 22),
  };
}

function putStateHeader(v: DataView, kind: number, s: GridShape & { region: number }, g: number) {
  v.setUint8(0, kind);
  v.setUint8(1, STATE_VERSION);
  v.setUint16(2, s.region, true);
  v.setUint16(4, g, true);
  v.setUint8(6, s.columns);
  v.setUint8(7, s.rows);
}

/**
 * Encodes a handoff.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHandoff, encodeHandoff } from "./state_codec.ts";
 * const w = { id: 7, generation: 2, fx: 2560, fy: -1, dx: 300, dy: -300, stepsLeft: 4, color: 6 };
 * const bytes = encodeHandoff({ from: 0, to: 3, wanderers: [w] });
 * assert.equal(bytes.length, 10 + 24);
 * assert.deepEqual(decodeHandoff(bytes), { from: 0, to: 3, wanderers: [w] });
 * ```
 */
export function encodeHandoff(h: Handoff): Uint8Array {
  const out = new Uint8Array(HANDOFF_HEADER + WANDERER_BYTES * h.wanderers.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, HANDOFF_KIND);
  v.setUint8(1, VERSION);
  v.setUint16(2, h.from, true);
  v.setUint16(4, h.to, true);
  v.setUint32(6, h.wanderers.length, true);
  let p = HANDOFF_HEADER;
  for (const w of h.wanderers) {
    putWanderer(v, p, w);
    p += WANDERER_BYTES;
  }
  return out;
}

/**
 * Decodes a handoff.
 * @throws {StateCodecError} for anything but a whole handoff of this version
 */
export function decodeHandoff(bytes: Uint8Array): Handoff {
  if (bytes.length < HANDOFF_HEADER || bytes[0] !== HANDOFF_KIND || bytes[1] !== VERSION) {
    throw new StateCodecError(`not a handoff (version ${VERSION})`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint32(6, true);
  if (bytes.length !== HANDOFF_HEADER + n * WANDERER_BYTES) {
    throw new StateCodecError(`handoff of ${bytes.length} bytes for ${n} wanderers`);
  }
  const wanderers: WandererState[] = [];
  for (let i = 0, p = HANDOFF_HEADER; i < n; i++, p += WANDERER_BYTES) {
    wanderers.push(getWanderer(v, p));
  }
  return { from: v.getUint16(2, true), to: v.getUint16(4, true), wanderers };
}

/**
 * Encodes a snapshot; `wanderers` may be any iterable of `count` states (a shard passes
 * its live wanderers, read between their steps).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSnapshot, encodeSnapshot } from "./state_codec.ts";
 * const w = { id: 1, generation: 0, fx: 256, fy: 512, dx: 0, dy: 0, stepsLeft: 0, color: 1 };
 * const s = {
 *   region: 1, columns: 2, rows: 1, commit: 9, sentTo: [3, 0], adoptedFrom: [2, 0], wanderers: [w],
 * };
 * assert.deepEqual(decodeSnapshot(encodeSnapshot(s, s.wanderers, 1)), s);
 * ```
 */
export function encodeSnapshot(
  s: Omit<Snapshot, "wanderers">,
  wanderers: Iterable<WandererState>,
  count: number,
): Uint8Array {
  const regions = s.columns * s.rows;
  const head = COUNTERS + 4 + 16 * regions;
  const out = new Uint8Array(head + WANDERER_BYTES * count);
  const v = new DataView(out.buffer);
  putStateHeader(v, SNAPSHOT_KIND, s, regions);
  v.setFloat64(8, s.commit, true);
  for (let i = 0; i < regions; i++) {
    v.setFloat64(COUNTERS + 8 * i, s.sentTo[i] ?? 0, true);
    v.setFloat64(COUNTERS + 8 * (regions + i), s.adoptedFrom[i] ?? 0, true);
  }
  v.setUint32(head - 4, count, true);
  let p = head, written = 0;
  for (const w of wanderers) {
    if (written === count) throw new RangeError(`more than ${count} wanderers`);
    putWanderer(v, p, w);
    p += WANDERER_BYTES;
    written++;
  }
  if (written !== count) throw new RangeError(`${written} wanderers, not ${count}`);
  return out;
}

/**
 * Decodes a snapshot.
 * @throws {StateCodecError} for anything but a whole snapshot of this version
 */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  if (bytes.length < COUNTERS + 4 || bytes[0] !== SNAPSHOT_KIND || bytes[1] !== STATE_VERSION) {
    throw new StateCodecError(`not a snapshot (version ${STATE_VERSION})`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const regions = v.getUint16(4, true), head = COUNTERS + 4 + 16 * regions;
  if (bytes.length < head) throw new StateCodecError("snapshot cut short");
  const n = v.getUint32(head - 4, true);
  if (bytes.length !== head + n * WANDERER_BYTES) {
    throw new StateCodecError(`snapshot of ${bytes.length} bytes for ${n} wanderers`);
  }
  const sentTo: number[] = [], adoptedFrom: number[] = [];
  for (let i = 0; i < regions; i++) {
    sentTo.push(v.getFloat64(COUNTERS + 8 * i, true));
    adoptedFrom.push(v.getFloat64(COUNTERS + 8 * (regions + i), true));
  }
  const wanderers: WandererState[] = [];
  for (let i = 0, p = head; i < n; i++, p += WANDERER_BYTES) wanderers.push(getWanderer(v, p));
  return {
    region: v.getUint16(2, true),
    columns: bytes[6],
    rows: bytes[7],
    commit: v.getFloat64(8, true),
    sentTo,
    adoptedFrom,
    wanderers,
  };
}

/**
 * Encodes a journal entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeJournalEntry, encodeJournalEntry } from "./state_codec.ts";
 * const w = { id: 3, generation: 1, fx: 256, fy: 512, dx: 9, dy: -9, stepsLeft: 2, color: 0 };
 * const entry = {
 *   region: 0, columns: 1, rows: 2, commit: 12, sentTo: [0, 4], adoptedFrom: [0, 1],
 *   released: [8, 9], adopted: [w],
 * };
 * const bytes = encodeJournalEntry(entry);
 * assert.equal(bytes.length, 24 + 32 + 8 + 24);
 * assert.deepEqual(decodeJournalEntry(bytes), entry);
 * ```
 */
export function encodeJournalEntry(j: JournalEntry): Uint8Array {
  const regions = j.columns * j.rows;
  const head = COUNTERS + 16 * regions;
  const out = new Uint8Array(
    head + 4 + 4 * j.released.length + 4 + WANDERER_BYTES * j.adopted.length,
  );
  const v = new DataView(out.buffer);
  putStateHeader(v, JOURNAL_KIND, j, regions);
  v.setFloat64(8, j.commit, true);
  for (let i = 0; i < regions; i++) {
    v.setFloat64(COUNTERS + 8 * i, j.sentTo[i] ?? 0, true);
    v.setFloat64(COUNTERS + 8 * (regions + i), j.adoptedFrom[i] ?? 0, true);
  }
  let p = head;
  v.setUint32(p, j.released.length, true);
  p += 4;
  for (const id of j.released) {
    v.setUint32(p, id, true);
    p += 4;
  }
  v.setUint32(p, j.adopted.length, true);
  p += 4;
  for (const w of j.adopted) {
    putWanderer(v, p, w);
    p += WANDERER_BYTES;
  }
  return out;
}

/**
 * Decodes a journal entry.
 * @throws {StateCodecError} for anything but a whole journal entry of this version
 */
export function decodeJournalEntry(bytes: Uint8Array): JournalEntry {
  if (bytes.length < COUNTERS + 8 || bytes[0] !== JOURNAL_KIND || bytes[1] !== STATE_VERSION) {
    throw new StateCodecError(`not a journal entry (version ${STATE_VERSION})`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const regions = v.getUint16(4, true);
  let p = COUNTERS + 16 * regions;
  const need = (n: number) => {
    if (p + n > bytes.length) throw new StateCodecError("journal entry cut short");
  };
  need(4);
  const r = v.getUint32(p, true);
  p += 4;
  need(4 * r + 4);
  const released: number[] = [];
  for (let i = 0; i < r; i++, p += 4) released.push(v.getUint32(p, true));
  const a = v.getUint32(p, true);
  p += 4;
  if (p + a * WANDERER_BYTES !== bytes.length) {
    throw new StateCodecError(`journal entry of ${bytes.length} bytes for ${a} wanderers`);
  }
  const adopted: WandererState[] = [];
  for (let i = 0; i < a; i++, p += WANDERER_BYTES) adopted.push(getWanderer(v, p));
  const sentTo: number[] = [], adoptedFrom: number[] = [];
  for (let i = 0; i < regions; i++) {
    sentTo.push(v.getFloat64(COUNTERS + 8 * i, true));
    adoptedFrom.push(v.getFloat64(COUNTERS + 8 * (regions + i), true));
  }
  return {
    region: v.getUint16(2, true),
    columns: bytes[6],
    rows: bytes[7],
    commit: v.getFloat64(8, true),
    sentTo,
    adoptedFrom,
    released,
    adopted,
  };
}
