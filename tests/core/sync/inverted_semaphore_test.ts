import assert from "node:assert/strict";
import { Interrupted, InvertedSemaphore, spawn, yieldSlice } from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("blockTillZero returns at once at zero and waits otherwise", async () => {
  const s = new InvertedSemaphore();
  await inThread(async () => {
    await s.blockTillZero();
    s.acquire(3);
    const waiters = [spawn(() => s.blockTillZero()), spawn(() => s.blockTillZero())];
    await yieldSlice();
    s.release(2);
    await yieldSlice();
    assert.ok(waiters.every((w) => !w.dead));
    s.release();
    for (const w of waiters) await w.join();
    assert.equal(s.value, 0);
  });
});

Deno.test("release below zero is a RangeError; an interrupted waiter leaves", async () => {
  const s = new InvertedSemaphore(1);
  assert.throws(() => s.release(2), RangeError);
  await inThread(async () => {
    const w = spawn(() => s.blockTillZero());
    await yieldSlice();
    w.interrupt();
    await assert.rejects(w.join(), Interrupted);
    assert.equal(s.statistics().waiting, 0);
  });
});
