/** The sharded field's region grid: every point in exactly one region, neighbours, parsing. */
import assert from "node:assert/strict";
import { GridSpecError, RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";

Deno.test("every point of the world is in exactly one region, the one regionAt names", () => {
  for (const [size, spec] of [[1000, "2x2"], [1001, "3x2"], [20480, "4x4"], [7, "7x1"]] as const) {
    const grid = RegionGrid.parse(spec, size);
    for (let y = 0; y <= size; y += Math.max(1, Math.floor(size / 97))) {
      for (let x = 0; x <= size; x += Math.max(1, Math.floor(size / 89))) {
        const holding = grid.regions.filter((r) =>
          x >= r.x0 && (x < r.x1 || (r.x1 === size && x === size)) &&
          y >= r.y0 && (y < r.y1 || (r.y1 === size && y === size))
        );
        assert.equal(holding.length, 1, `${spec} of ${size}: (${x}, ${y})`);
        assert.equal(grid.regionAt(x, y), holding[0]);
        assert.ok(grid.contains(holding[0], x, y));
      }
    }
    assert.equal(grid.toString(), spec);
    for (const r of grid.regions) {
      assert.equal(grid.byId(r.id), r);
      assert.equal(grid.regions[r.index], r);
    }
  }
});

Deno.test("out-of-world points are clamped into the border regions", () => {
  const grid = RegionGrid.parse("2x2", 1000);
  assert.equal(grid.regionAt(-5, -5).id, "0.0");
  assert.equal(grid.regionAt(5000, 5000).id, "1.1");
  assert.equal(grid.regionAt(NaN, 999).id, "0.1");
});

Deno.test("neighbours: sides and corners, none outside", () => {
  const grid = RegionGrid.parse("3x3", 900);
  assert.equal(grid.neighbours(grid.byId("1.1")).length, 8);
  assert.deepEqual(grid.neighbours(grid.byId("0.0")).map((r) => r.id), ["1.0", "0.1", "1.1"]);
  assert.deepEqual(grid.neighbours(grid.byId("2.1")).map((r) => r.id).sort(), [
    "1.0",
    "1.1",
    "1.2",
    "2.0",
    "2.2",
  ]);
  assert.deepEqual(
    RegionGrid.parse("1x1", 10).neighbours(RegionGrid.parse("1", 10).regions[0]),
    [],
  );
});

Deno.test("overlapping: a view on a corner gets the four regions around it", () => {
  const grid = RegionGrid.parse("2x2", 1000);
  assert.deepEqual(grid.overlapping({ x0: 0, y0: 0, x1: 499, y1: 499 }).map((r) => r.id), ["0.0"]);
  assert.deepEqual(
    grid.overlapping({ x0: 400, y0: 400, x1: 600, y1: 600 }).map((r) => r.id),
    ["0.0", "1.0", "0.1", "1.1"],
  );
  assert.deepEqual(grid.overlapping({ x0: 600, y0: 0, x1: 900, y1: 900 }).map((r) => r.id), [
    "1.0",
    "1.1",
  ]);
});

Deno.test("bad --shards values get a GridSpecError", () => {
  for (const spec of ["", "x", "2x", "0x2", "2x0", "65x1", "2by2", "-1x2", "1.5x2"]) {
    assert.throws(() => RegionGrid.parse(spec, 1000), GridSpecError, spec);
  }
  assert.throws(() => new RegionGrid(3, 4, 1), GridSpecError);
  assert.throws(() => RegionGrid.parse("2x2", 1000).byId("5.5"), GridSpecError);
});
