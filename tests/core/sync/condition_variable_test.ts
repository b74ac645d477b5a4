import assert from "node:assert/strict";
import { ConditionVariable, endSlice, Interrupted, spawn, yieldSlice } from "../../../mod.ts";
import { inThread } from "../../_helpers.ts";

Deno.test("wakeOne wakes the first waiter with the value; a wake with no waiter is lost", async () => {
  const cv = new ConditionVariable<string>();
  await inThread(async () => {
    assert.equal(cv.wakeOne("lost"), false);
    const a = spawn(() => cv.wait());
    const b = spawn(() => cv.wait());
    await yieldSlice();
    assert.equal(cv.wakeOne("first"), true);
    assert.equal(await a.join(), "first");
    assert.equal(b.state, "blocked");
    cv.wakeOne("second");
    assert.equal(await b.join(), "second");
  });
});

Deno.test("wakeN and wakeAll count what they woke", async () => {
  const cv = new ConditionVariable<number>();
  await inThread(async () => {
    const ts = Array.from({ length: 5 }, () => spawn(() => cv.wait()));
    await yieldSlice();
    assert.equal(cv.wakeN(2, 1), 2);
    assert.equal(cv.wakeAll(2), 3);
    assert.equal(cv.wakeAll(3), 0);
    const got = [];
    for (const t of ts) got.push(await t.join());
    assert.deepEqual(got, [1, 1, 2, 2, 2]);
  });
});

Deno.test("raiseAll raises the error in every waiter", async () => {
  const cv = new ConditionVariable();
  await inThread(async () => {
    const ts = Array.from({ length: 3 }, () => spawn(() => cv.wait()));
    await yieldSlice();
    assert.equal(cv.raiseAll(new RangeError("all")), 3);
    for (const t of ts) await assert.rejects(t.join(), RangeError);
    assert.equal(cv.statistics().waiting, 0);
  });
});

Deno.test("a wakeOne given to a waiter interrupted before resuming passes to the next", async () => {
  const cv = new ConditionVariable<string>();
  await inThread(async () => {
    const a = spawn(() => cv.wait());
    const b = spawn(() => cv.wait());
    await yieldSlice();
    endSlice(); // the wake stays pending in the ready queue
    cv.wakeOne("token");
    a.interrupt();
    await assert.rejects(a.join(), Interrupted);
    assert.equal(await b.join(), "token");
  });
});
