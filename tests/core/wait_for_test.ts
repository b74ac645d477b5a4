import assert from "node:assert/strict";
import { Interrupted, sleep, spawn, TimeoutError, waitFor, withTimeout } from "../../mod.ts";
import { inThread } from "../_helpers.ts";

Deno.test("returns the value of a foreign promise, or throws its reason", async () => {
  await inThread(async () => {
    assert.equal(await waitFor(new Promise((r) => setTimeout(() => r(5), 2))), 5);
    await assert.rejects(waitFor(Promise.reject(new RangeError("no"))), RangeError);
  });
});

Deno.test("makes a foreign promise interruptible, and its late outcome is ignored", async () => {
  await inThread(async () => {
    let settle!: (v: string) => void;
    const foreign = new Promise<string>((r) => settle = r);
    await assert.rejects(withTimeout(0.005, () => waitFor(foreign)), TimeoutError);
    const waiter = spawn(() => sleep(10)); // interrupted below: no timing to race
    settle("late"); // must not wake anything
    await sleep(0.001);
    assert.equal(waiter.state, "blocked");
    waiter.interrupt();
    await assert.rejects(waiter.join(), Interrupted);
  });
});
