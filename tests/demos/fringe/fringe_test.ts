/** Same fringe: trees that differ only in shape, in one leaf, or in length. */
import assert from "node:assert/strict";
import { allThreads, sleep } from "../../../mod.ts";
import { compareFringes, sameFringe, type Tree } from "../../../demos/fringe/fringe.ts";
import { inThread, prng } from "../../_helpers.ts";

/** A random shape over `leaves` (nesting, empty subtrees), the same leaves in order. */
function randomShape<T>(leaves: T[], random: () => number): Tree<T> {
  if (leaves.length === 0) return random() < 0.5 ? [] : [[]];
  if (leaves.length === 1 && random() < 0.5) return leaves[0];
  const cut = Math.floor(random() * (leaves.length + 1));
  const left = randomShape(leaves.slice(0, cut), random);
  const right = randomShape(leaves.slice(cut), random);
  return random() < 0.3 ? [left, [right]] : [left, right];
}

const walkers = () => allThreads().filter((t) => t.name.startsWith("fringe walker"));

Deno.test("trees that differ only in shape have the same fringe", () =>
  inThread(async () => {
    const random = prng(7);
    for (let round = 0; round < 200; round++) {
      const leaves = Array.from({ length: Math.floor(random() * 40) }, () =>
        Math.floor(random() * 5));
      const a = randomShape(leaves, random), b = randomShape(leaves, random);
      const r = await compareFringes(a, b);
      assert.equal(r.same, true, JSON.stringify([a, b]));
      assert.equal(r.compared, leaves.length);
    }
    assert.equal(await sameFringe([1, [2, [3, [4]]]], [[[[1], 2], 3], 4]), true);
    assert.equal(await sameFringe([], [[], [[]]]), true);
    // Deep trees: walked without recursion.
    let deep: Tree<number> = [];
    for (let i = 0; i < 50_000; i++) {
      deep = [deep, i];
    }
    assert.equal(
      await sameFringe(
        deep,
        Array.from({ length: 50_000 }, (_, i) =>
          i),
      ),
      true,
    );
  }));

Deno.test("one leaf differs: found there, the walkers stopped right after it", () =>
  inThread(async () => {
    const random = prng(11);
    for (let round = 0; round < 100; round++) {
      const leaves = Array.from({ length: 1 + Math.floor(random() * 60) }, (_, i) => i);
      const at = Math.floor(random() * leaves.length);
      const changed = leaves.map((v, i) => (i === at ? "x" : v));
      const r = await compareFringes<number | string>(
        randomShape<number | string>(leaves, random),
        randomShape<number | string>(changed, random),
      );
      assert.equal(r.same, false);
      assert.equal(r.compared, at);
      assert.deepEqual(r.difference, { left: at, right: "x" });
      // Lock step: neither walker went more than one leaf past the difference.
      assert.ok(r.walked[0] <= at + 2 && r.walked[1] <= at + 2, `${r.walked} at ${at}`);
    }
    await sleep(0);
    assert.deepEqual(walkers(), [], "the walkers were shut down");
  }));

Deno.test("fringes of different lengths differ where the shorter ends", () =>
  inThread(async () => {
    const r = await compareFringes([1, [2, 3]], [[1], 2]);
    assert.equal(r.same, false);
    assert.equal(r.compared, 2);
    assert.deepEqual(r.difference, { left: 3, right: undefined });
    assert.equal(await sameFringe([[]], [0]), false);
    assert.equal(
      (await compareFringes(["a", "B"], ["a", "b"], {
        equal: (x, y) => x.toLowerCase() === y.toLowerCase(),
      })).same,
      true,
    );
    await sleep(0);
    assert.deepEqual(walkers(), []);
  }));

Deno.test("deno task demo:fringe prints its verdicts", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "demo:fringe"],
    cwd: new URL("../../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const text = new TextDecoder().decode(out.stdout);
  assert.match(text, /right comb vs balanced: same fringe/);
  assert.match(text, /leaf 10 differs: differ at leaf 10 \(10 vs -1\); leaves walked: 11 and 11/);
});
