/**
 * The region grid of the sharded field: `--shards=WxH` cuts the square world into W
 * columns and H rows of regions, one shard process each. Shards, the gateway and the
 * tests all derive regions from this one file, so a point belongs to the same region
 * everywhere.
 *
 * A region's id is `c.r` (column, row, from 0): a valid AMQP topic routing key of two
 * words, so a gateway can bind `*.0` (row 0) or `1.*` if it ever wants whole bands. Its
 * index is `r * columns + c`; the shard of index i is cluster worker `i + 1` (the
 * supervisor numbers workers from 1).
 *
 * @module
 */

import { ShrapnelError } from "../../../core/errors.ts";

/**
 * A `--shards` value that is not `WxH` with W and H whole numbers from 1 to 64, or a grid
 * with regions thinner than the world allows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GridSpecError, RegionGrid } from "./grid.ts";
 * assert.throws(() => RegionGrid.parse("2by2", 1000), GridSpecError);
 * ```
 */
export class GridSpecError extends ShrapnelError {}

/** One region: a rectangle of the world, `x0 <= x < x1`, `y0 <= y < y1`. */
export interface Region {
  /** `c.r`, e.g. "1.0". */
  readonly id: string;
  /** Its index in {@linkcode RegionGrid.regions}: `row * columns + column`. */
  readonly index: number;
  /** Column, from 0 (left). */
  readonly column: number;
  /** Row, from 0 (top). */
  readonly row: number;
  /** Left edge (inclusive). */
  readonly x0: number;
  /** Top edge (inclusive). */
  readonly y0: number;
  /** Right edge (exclusive; the last column's is the world's side, and includes it). */
  readonly x1: number;
  /** Bottom edge (exclusive; the last row's is the world's side, and includes it). */
  readonly y1: number;
}

/** Most columns or rows of a grid. */
export const MAX_GRID_SIDE = 64;

/**
 * The world cut into `columns` x `rows` regions of (nearly) equal size: edges at
 * `floor(i * size / n)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegionGrid } from "./grid.ts";
 * const grid = RegionGrid.parse("2x2", 1000);
 * assert.equal(grid.count, 4);
 * assert.equal(grid.regionAt(600, 100).id, "1.0");
 * assert.deepEqual(grid.neighbours(grid.byId("0.0")).map((r) => r.id), ["1.0", "0.1", "1.1"]);
 * assert.deepEqual(grid.overlapping({ x0: 400, y0: 400, x1: 600, y1: 600 }).length, 4);
 * ```
 */
export class RegionGrid {
  /** Side of the square world. */
  readonly size: number;
  /** Regions per row. */
  readonly columns: number;
  /** Regions per column. */
  readonly rows: number;
  /** Every region, by index (`row * columns + column`). */
  readonly regions: readonly Region[];
  readonly #xs: number[];
  readonly #ys: number[];
  readonly #byId = new Map<string, Region>();

  /**
   * A grid of `columns` x `rows` regions over a world of side `size`.
   *
   * @param size side of the world
   * @param columns regions across
   * @param rows regions down
   * @throws {GridSpecError} if a count is not a whole number in 1..64, or a region would
   *   be narrower than 1 px
   */
  constructor(size: number, columns: number, rows: number) {
    for (const [what, n] of [["columns", columns], ["rows", rows]] as const) {
      if (!Number.isInteger(n) || n < 1 || n > MAX_GRID_SIDE) {
        throw new GridSpecError(`${what} must be a whole number from 1 to ${MAX_GRID_SIDE}: ${n}`);
      }
    }
    if (!Number.isInteger(size) || size < Math.max(columns, rows)) {
      throw new GridSpecError(`a world of side ${size} cannot be cut into ${columns}x${rows}`);
    }
    this.size = size;
    this.columns = columns;
    this.rows = rows;
    this.#xs = edges(size, columns);
    this.#ys = edges(size, rows);
    const regions: Region[] = [];
    for (let row = 0; row < rows; row++) {
      for (let column = 0; column < columns; column++) {
        const region: Region = Object.freeze({
          id: `${column}.${row}`,
          index: regions.length,
          column,
          row,
          x0: this.#xs[column],
          y0: this.#ys[row],
          x1: this.#xs[column + 1],
          y1: this.#ys[row + 1],
        });
        regions.push(region);
        this.#byId.set(region.id, region);
      }
    }
    this.regions = Object.freeze(regions);
  }

  /**
   * The grid of a `--shards` value: `WxH` ("2x2", "4x1"); "1" or "1x1" is one region.
   * @throws {GridSpecError} for anything else
   */
  static parse(spec: string, size: number): RegionGrid {
    const m = /^(\d{1,2})(?:x(\d{1,2}))?$/.exec(spec.trim());
    if (m === null) {
      throw new GridSpecError(`--shards must be WxH (e.g. 2x2), not ${JSON.stringify(spec)}`);
    }
    return new RegionGrid(size, Number(m[1]), Number(m[2] ?? "1"));
  }

  /** Number of regions (and of shard processes). */
  get count(): number {
    return this.regions.length;
  }

  /** `WxH`, as `parse` takes it. */
  toString(): string {
    return `${this.columns}x${this.rows}`;
  }

  /** Column of `x` (clamped to the world). */
  columnAt(x: number): number {
    return find(this.#xs, x);
  }

  /** Row of `y` (clamped to the world). */
  rowAt(y: number): number {
    return find(this.#ys, y);
  }

  /** Index of the region holding (x, y) (clamped to the world). */
  indexAt(x: number, y: number): number {
    return this.rowAt(y) * this.columns + this.columnAt(x);
  }

  /** The region holding (x, y) (clamped to the world). */
  regionAt(x: number, y: number): Region {
    return this.regions[this.indexAt(x, y)];
  }

  /** Whether (x, y) is in `region` (the world's far edges belong to the last regions). */
  contains(region: Region, x: number, y: number): boolean {
    return this.indexAt(x, y) === region.index;
  }

  /**
   * The region of id `c.r`.
   * @throws {GridSpecError} if there is none
   */
  byId(id: string): Region {
    const region = this.#byId.get(id);
    if (region === undefined) throw new GridSpecError(`no region ${id} in a ${this} grid`);
    return region;
  }

  /** The up to 8 regions touching `region` (sides and corners), by index. */
  neighbours(region: Region): Region[] {
    const out: Region[] = [];
    for (let row = region.row - 1; row <= region.row + 1; row++) {
      for (let column = region.column - 1; column <= region.column + 1; column++) {
        if (row < 0 || row >= this.rows || column < 0 || column >= this.columns) continue;
        if (row === region.row && column === region.column) continue;
        out.push(this.regions[row * this.columns + column]);
      }
    }
    return out;
  }

  /**
   * The regions a rectangle overlaps (a viewport's: the regions whose frames it needs),
   * by index. Edges are inclusive: a view ending exactly on a border also gets the next
   * region (a circle centred there draws into it).
   */
  overlapping(bounds: { x0: number; y0: number; x1: number; y1: number }): Region[] {
    const c0 = this.columnAt(bounds.x0), c1 = this.columnAt(bounds.x1);
    const r0 = this.rowAt(bounds.y0), r1 = this.rowAt(bounds.y1);
    const out: Region[] = [];
    for (let row = r0; row <= r1; row++) {
      for (let column = c0; column <= c1; column++) {
        out.push(this.regions[row * this.columns + column]);
      }
    }
    return out;
  }
}

function edges(size: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= n; i++) out.push(Math.floor(i * size / n));
  return out;
}

/** The cell of `edges` holding `v`, clamped: the last cell also takes `v >= size`. */
function find(edges: number[], v: number): number {
  const last = edges.length - 2;
  if (!(v >= edges[1])) return 0; // also NaN
  if (v >= edges[last]) return last;
  let lo = 1, hi = last - 1; // edges[lo] <= v < edges[last]
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (edges[mid] <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
