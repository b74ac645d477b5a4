/** The world: wanderers move in steps and tell the viewports they cross. */
import assert from "node:assert/strict";
import { sleep, spawn, withTimeout } from "../../../mod.ts";
import { decodeMessage, encodeMovers, encodeView } from "../../../demos/mmo/protocol.ts";
import { World } from "../../../demos/mmo/world.ts";
import { prng } from "../../_helpers.ts";

Deno.test("wanderers step, stay in the world, and wake the viewports they are in", async () => {
  await spawn(async () => {
    const world = new World({ size: 2048, boxes: 50, wanderers: 40, stepSeconds: 0.01, seed: 7 });
    assert.equal(world.boxes.size, 50);
    const view = world.addViewport(0, 0, 2048); // sees everything
    view.changed.clear();
    world.start();
    try {
      await withTimeout(2, () => view.changed.wait());
      await withTimeout(2, async () => {
        while (world.steps < 400) {
          view.changed.clear();
          await view.changed.wait();
        }
      });
      for (const m of world.movers) {
        assert.ok(m.x >= 25 && m.x <= 2048 - 25 && m.y >= 25 && m.y <= 2048 - 25);
        assert.ok(Number.isInteger(m.x) && Number.isInteger(m.y), `whole pixels: ${m.x}, ${m.y}`);
        assert.deepEqual([m.x0, m.y0, m.x1, m.y1], [m.x - 25, m.y - 25, m.x + 25, m.y + 25]);
      }
      const far = world.addViewport(0, 0, 16); // a corner no wanderer's centre reaches
      world.moveViewport(far, 5000, 5000); // clamped to the world
      assert.deepEqual([far.x0, far.y0], [2048 - 16, 2048 - 16]);
    } finally {
      await world.stop();
    }
  }).join();
});

Deno.test("the wire format round-trips; cut or unknown messages are RangeErrors", () => {
  const world = new World({ size: 4096, boxes: 30, wanderers: 0 });
  const view = world.addViewport(100, 200, 1024);
  const boxes = world.boxes.query(view);
  const decoded = decodeMessage(encodeView(view, boxes));
  assert.equal(decoded.type, "view");
  if (decoded.type === "view") {
    assert.deepEqual([decoded.x, decoded.y, decoded.side], [100, 200, 1024]);
    assert.equal(decoded.boxes.length, boxes.length);
  }
  const movers = [{ id: 9, x: 10.4, y: 20.6, x0: 0, y0: 0, x1: 0, y1: 0, color: 3 }];
  assert.deepEqual(decodeMessage(encodeMovers(movers)), {
    type: "movers",
    movers: [[9, 10, 21, 3]],
  });
  const random = prng(4);
  for (let i = 0; i < 2000; i++) {
    const junk = Uint8Array.from(
      { length: Math.floor(random() * 40) + 1 },
      () => Math.floor(random() * 256),
    );
    try {
      decodeMessage(junk);
    } catch (e) {
      assert.ok(e instanceof RangeError, String(e));
    }
  }
});

Deno.test("with many viewers (the viewport tree), only the viewports a step touches learn of it", async () => {
  await spawn(async () => {
    const world = new World({ size: 2048, boxes: 10, wanderers: 20, stepSeconds: 0.005, seed: 3 });
    const all = world.addViewport(0, 0, 2048);
    // Far outside the world, where no wanderer goes: never told of a step.
    const far = Array.from(
      { length: 39 },
      (_, i) => world.addViewport(100_000 + i * 2000, 100_000, 1024),
    );
    for (const v of [all, ...far]) v.changed.clear();
    world.start();
    try {
      await withTimeout(2, () => all.changed.wait());
      await withTimeout(2, async () => {
        while (world.steps < 200) {
          all.changed.clear();
          await all.changed.wait();
        }
      });
      assert.ok(far.every((v) => !v.changed.isSet));
    } finally {
      await world.stop();
    }
  }).join();
});

Deno.test("a region world: adopted wanderers go on from their exact state, leavers are told, released ones stop", async () => {
  await spawn(async () => {
    const world = new World({ size: 2000, boxes: 5, wanderers: 50, stepSeconds: 0.01, seed: 3 });
    const initial = world.initialWanderers();
    assert.equal(initial.length, 50);
    assert.deepEqual(
      new World({ size: 2000, boxes: 5, wanderers: 50, seed: 3 }).initialWanderers(),
      initial,
    );
    const left: number[] = [];
    world.startRegion({
      bounds: { x0: 0, y0: 0, x1: 1000, y1: 2000 },
      onLeave: (w) => left.push(w.id),
      seed: 9,
    });
    try {
      // 2 px from the border, heading right at 5 px a step, 10 steps before a new heading.
      const w = world.adopt({
        id: 7,
        color: 2,
        fx: 998 * 256,
        fy: 500 * 256,
        dx: 5 * 256,
        dy: 0,
        stepsLeft: 10,
        generation: 4,
      });
      assert.throws(() => world.adopt({ ...w, id: 7 }), /here already/);
      assert.equal(world.owned.get(7), w);
      assert.deepEqual([w.x, w.y, w.generation], [998, 500, 4]);
      await withTimeout(2, async () => {
        while (left.length === 0) await sleep(0.005);
      });
      assert.deepEqual(left, [7]);
      assert.equal(w.outside, true);
      // Each step added exactly (dx, dy): no jump, whatever the step count now.
      const taken = 10 - w.stepsLeft;
      assert.ok(taken >= 1);
      assert.deepEqual([w.fx, w.fy], [998 * 256 + taken * 5 * 256, 500 * 256]);
      const steps = world.steps;
      world.release(w);
      assert.equal(world.owned.size, 0);
      assert.equal(world.movers.size, 0);
      await sleep(0.05);
      assert.equal(world.steps, steps, "a released wanderer takes no step");
    } finally {
      await world.stop();
    }
  }).join();
});
