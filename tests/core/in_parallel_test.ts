import assert from "node:assert/strict";
import { inParallel, InParallelError, sleep } from "../../mod.ts";
import { inThread } from "../_helpers.ts";

Deno.test("returns every result in call order, running the calls concurrently", async () => {
  const t0 = performance.now();
  const r = await inThread(() =>
    inParallel([
      [async (x: number) => (await sleep(0.02), x), [1]],
      [async (x: number) => (await sleep(0.02), x), [2]],
      [() => "sync"],
    ])
  );
  assert.deepEqual(r, [1, 2, "sync"]);
  assert.ok(performance.now() - t0 < 1000);
});

Deno.test("throws InParallelError with every outcome when any call fails", async () => {
  const err = await inThread(() =>
    inParallel([
      [() => 1],
      [() => {
        throw new TypeError("bad");
      }],
      [async () => (await sleep(0.001), 3)],
    ])
  ).catch((e) => e);
  assert.ok(err instanceof InParallelError);
  assert.equal(err.outcomes.length, 3);
  assert.deepEqual(err.outcomes[0], { ok: true, value: 1 });
  assert.equal(err.outcomes[1].ok, false);
  assert.ok(err.failures[0] instanceof TypeError);
  assert.deepEqual(err.outcomes[2], { ok: true, value: 3 });
});
