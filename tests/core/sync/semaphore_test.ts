import assert from "node:assert/strict";
import { endSlice, Interrupted, Semaphore, spawn, yieldSlice } from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("acquire and release count units", async () => {
  const s = new Semaphore(3);
  await inThread(async () => {
    await s.acquire(2);
    assert.equal(s.avail, 1);
    assert.equal(s.tryAcquire(2), false);
    assert.equal(s.tryAcquire(1), true);
    s.release(3);
    assert.equal(s.avail, 3);
  });
});

Deno.test("bad counts are RangeErrors", () => {
  assert.throws(() => new Semaphore(-1), RangeError);
  const s = new Semaphore(1);
  assert.throws(() => s.release(0), RangeError);
  assert.throws(() => s.tryAcquire(1.5), RangeError);
});

Deno.test("a big request at the head blocks smaller ones behind it", async () => {
  const s = new Semaphore(0);
  const order: string[] = [];
  await inThread(async () => {
    const big = spawn(async () => {
      await s.acquire(3);
      order.push("big");
    });
    const small = spawn(async () => {
      await s.acquire(1);
      order.push("small");
    });
    await yieldSlice();
    s.release(2); // not enough for big; small must not jump the line
    await yieldSlice();
    assert.deepEqual(order, []);
    s.release(2);
    await big.join();
    await small.join();
    assert.equal(s.avail, 0);
  });
  assert.deepEqual(order, ["big", "small"]);
});

Deno.test("an interrupted head waiter lets the ones behind it through", async () => {
  const s = new Semaphore(1);
  await inThread(async () => {
    const big = spawn(() => s.acquire(5));
    const small = spawn(() => s.acquire(1));
    await yieldSlice();
    assert.equal(small.state, "blocked");
    big.interrupt();
    await assert.rejects(big.join(), Interrupted);
    await small.join();
    assert.equal(s.avail, 0);
  });
});

Deno.test("units granted to a waiter interrupted before resuming are released again", async () => {
  const s = new Semaphore(0);
  await inThread(async () => {
    const a = spawn(() => s.acquire(2));
    const b = spawn(() => s.acquire(2));
    await yieldSlice();
    endSlice();
    s.release(2); // granted to a
    a.interrupt();
    await assert.rejects(a.join(), Interrupted);
    await b.join(); // b got a's units
    assert.equal(s.avail, 0);
    assert.equal(s.statistics().waiting, 0);
  });
});
