import assert from "node:assert/strict";
import { Event, Interrupted, Latch, spawn, yieldSlice } from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("Latch: release wakes every waiter and sticks", async () => {
  const l = new Latch<number>();
  await inThread(async () => {
    const ts = [spawn(() => l.wait()), spawn(() => l.wait())];
    await yieldSlice();
    assert.equal(l.release(9), true);
    assert.equal(l.release(10), false);
    for (const t of ts) assert.equal(await t.join(), 9);
    assert.equal(await l.wait(), 9);
    assert.deepEqual(l.statistics(), { released: true, waiting: 0 });
  });
});

Deno.test("Event: set wakes waiters, clear makes later waits block", async () => {
  const e = new Event();
  await inThread(async () => {
    const t = spawn(() => e.wait());
    await yieldSlice();
    e.set();
    await t.join();
    await e.wait();
    e.clear();
    const t2 = spawn(() => e.wait());
    await yieldSlice();
    assert.equal(t2.state, "blocked");
    t2.interrupt();
    await assert.rejects(t2.join(), Interrupted);
    assert.equal(e.statistics().waiting, 0);
  });
});
