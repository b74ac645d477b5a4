import assert from "node:assert/strict";
import { endSlice, Fifo, Interrupted, spawn, yieldSlice } from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("push/pop keep order; pushFront, top and length", async () => {
  const q = new Fifo<number>();
  await inThread(async () => {
    q.push(2);
    q.push(3);
    q.pushFront(1);
    assert.equal(q.length, 3);
    assert.equal(q.top(), 1);
    assert.deepEqual([await q.pop(), await q.pop(), await q.pop()], [1, 2, 3]);
    assert.throws(() => q.top(), RangeError);
  });
});

Deno.test("pop blocks until a push, which goes straight to the first popper", async () => {
  const q = new Fifo<string>();
  await inThread(async () => {
    const a = spawn(() => q.pop());
    const b = spawn(() => q.pop());
    await yieldSlice();
    assert.equal(q.statistics().waiting, 2);
    q.push("x");
    q.push("y");
    assert.equal(q.length, 0);
    assert.equal(await a.join(), "x");
    assert.equal(await b.join(), "y");
  });
});

Deno.test("popAll returns everything, blocking until there is at least one item", async () => {
  const q = new Fifo<number>();
  await inThread(async () => {
    const t = spawn(() => q.popAll());
    await yieldSlice();
    q.push(1);
    assert.deepEqual(await t.join(), [1]);
    q.push(2);
    q.push(3);
    assert.deepEqual(await q.popAll(), [2, 3]);
    assert.equal(q.length, 0);
  });
});

Deno.test("an item handed to a popper interrupted before resuming goes back to the front", async () => {
  const q = new Fifo<string>();
  await inThread(async () => {
    const a = spawn(() => q.pop());
    await yieldSlice();
    endSlice(); // the hand-over stays pending in the ready queue
    q.push("first");
    q.push("second");
    a.interrupt();
    await assert.rejects(a.join(), Interrupted);
    assert.deepEqual(await q.popAll(), ["first", "second"]);
  });
});

Deno.test("items handed to an interrupted popAll go back in order, to the next waiter", async () => {
  const q = new Fifo<number>();
  await inThread(async () => {
    const a = spawn(() => q.popAll());
    const b = spawn(() => q.pop());
    await yieldSlice();
    endSlice();
    q.push(1);
    a.interrupt();
    await assert.rejects(a.join(), Interrupted);
    assert.equal(await b.join(), 1);
  });
});

Deno.test("async iteration pops until broken off", async () => {
  const q = new Fifo<number>();
  await inThread(async () => {
    for (let i = 0; i < 5; i++) q.push(i);
    const seen = [];
    for await (const x of q) {
      seen.push(x);
      if (x === 3) break;
    }
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.equal(q.length, 1);
  });
});
