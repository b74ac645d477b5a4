/**
 * `deno task demo:fringe`: compares a few trees' fringes with two walker threads and
 * shows how few leaves were walked before a difference was found.
 *
 * @module
 */

import { main } from "../../core/main.ts";
import { compareFringes, type Tree } from "./fringe.ts";

/** A right-leaning ("linked list") tree of `leaves`. */
function rightComb<T>(leaves: T[]): Tree<T> {
  let tree: Tree<T> = [];
  for (let i = leaves.length - 1; i >= 0; i--) tree = [leaves[i], tree];
  return tree;
}

/** A left-leaning tree of `leaves`. */
function leftComb<T>(leaves: T[]): Tree<T> {
  let tree: Tree<T> = [];
  for (const leaf of leaves) tree = [tree, leaf];
  return tree;
}

/** A balanced tree of `leaves`. */
function balanced<T>(leaves: T[]): Tree<T> {
  if (leaves.length <= 2) return leaves;
  const half = leaves.length >> 1;
  return [balanced(leaves.slice(0, half)), balanced(leaves.slice(half))];
}

if (import.meta.main) {
  await main(async () => {
    const n = 100_000;
    const leaves = Array.from({ length: n }, (_, i) => i);
    const changed = leaves.map((v) => (v === 10 ? -1 : v));
    const cases: [string, Tree<number>, Tree<number>][] = [
      ["small: [1, [2, [3]]] vs [[1, 2], 3]", [1, [2, [3]]], [[1, 2], 3]],
      [`${n} leaves, right comb vs balanced`, rightComb(leaves), balanced(leaves)],
      [`${n} leaves, left comb vs balanced, leaf 10 differs`, leftComb(leaves), balanced(changed)],
      [`${n} vs ${n - 1} leaves`, balanced(leaves), rightComb(leaves.slice(0, -1))],
    ];
    for (const [name, a, b] of cases) {
      const r = await compareFringes(a, b);
      const verdict = r.same
        ? "same fringe"
        : `differ at leaf ${r.compared} (${String(r.difference!.left)} vs ${
          String(r.difference!.right)
        })`;
      console.log(`${name}: ${verdict}; leaves walked: ${r.walked.join(" and ")}`);
    }
  });
}
