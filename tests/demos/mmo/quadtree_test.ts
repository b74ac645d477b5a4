/** The quadtree answers like a brute-force scan, through inserts, moves, removes and growth. */
import assert from "node:assert/strict";
import { type Bounded, type QuadEntry, QuadTree } from "../../../demos/mmo/quadtree.ts";
import { prng } from "../../_helpers.ts";

interface Item extends Bounded {
  id: number;
}

function brute(items: Set<Item>, r: Bounded): number[] {
  return [...items].filter((i) => i.x0 <= r.x1 && i.x1 >= r.x0 && i.y0 <= r.y1 && i.y1 >= r.y0)
    .map((i) => i.id).sort((a, b) => a - b);
}

function ids(tree: QuadTree<Item>, r: Bounded): number[] {
  return tree.query(r).map((i) => i.id).sort((a, b) => a - b);
}

for (const minSize of [16, 512]) {
  Deno.test(`queries match a brute-force scan through 20k random operations (nodes down to ${minSize})`, () => {
    randomOperations(new QuadTree<Item>(0, 0, 4096, minSize));
  });
}

function randomOperations(tree: QuadTree<Item>): void {
  const random = prng(21);
  const items = new Set<Item>();
  const entries = new Map<Item, QuadEntry<Item>>();
  const rect = (): Bounded => {
    const x = random() * 5000 - 400, y = random() * 5000 - 400; // some fall outside the root
    const w = random() * 300, h = random() * 300;
    return { x0: x, y0: y, x1: x + w, y1: y + h };
  };
  let id = 0;
  for (let op = 0; op < 20_000; op++) {
    const choice = random();
    if (choice < 0.4 || items.size === 0) {
      const item = { id: ++id, ...rect() };
      entries.set(item, tree.insert(item));
      items.add(item);
    } else if (choice < 0.8) {
      const item = [...items][Math.floor(random() * items.size)];
      const r = random() < 0.7
        ? { x0: item.x0 + 7, y0: item.y0 - 5, x1: item.x1 + 7, y1: item.y1 - 5 } // a small step
        : rect();
      // By the object (looked up) or by its entry (as the movers do): the same move.
      if (random() < 0.5) tree.move(item, r.x0, r.y0, r.x1, r.y1);
      else tree.moveEntry(entries.get(item)!, r.x0, r.y0, r.x1, r.y1);
    } else {
      const item = [...items][Math.floor(random() * items.size)];
      assert.equal(tree.remove(item), true);
      items.delete(item);
      const entry = entries.get(item)!;
      entries.delete(item);
      assert.throws(() => tree.moveEntry(entry, 0, 0, 1, 1), /removed/);
    }
    if (op % 200 === 0) {
      const q = rect();
      assert.deepEqual(ids(tree, q), brute(items, q), `after op ${op}`);
      assert.equal(tree.size, items.size);
    }
  }
  const [x, y, side] = tree.bounds;
  assert.ok(x < 0 && y < 0 && side > 4096, "the root grew to hold what fell outside");
  assert.deepEqual(
    ids(tree, { x0: -1e9, y0: -1e9, x1: 1e9, y1: 1e9 }),
    brute(items, { x0: -1e9, y0: -1e9, x1: 1e9, y1: 1e9 }),
  );
}

Deno.test("remove of an absent item is false; insert twice throws", () => {
  const tree = new QuadTree<Item>();
  const item = { id: 1, x0: 1, y0: 1, x1: 2, y1: 2 };
  assert.equal(tree.remove(item), false);
  tree.insert(item);
  assert.throws(() => tree.insert(item));
  assert.equal(tree.remove(item), true);
  assert.equal(tree.query({ x0: 0, y0: 0, x1: 10, y1: 10 }).length, 0);
});
