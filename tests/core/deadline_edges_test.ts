/**
 * Issue 12, items 6 and 14: deadlines of any length arm the host timer silently; NaN is
 * refused; a forgotten `await` never becomes an unhandled rejection.
 */
import assert from "node:assert/strict";
import {
  Fifo,
  Interrupted,
  now,
  SimultaneousError,
  sleep,
  sleepUntil,
  spawn,
  TimeoutError,
  traceBlockingCalls,
  withTimeout,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";

const MAX_HOST_DELAY_MS = 2 ** 31 - 1;

/** Records the delays given to the host's setTimeout while `fn` runs. */
async function hostDelays(fn: () => Promise<void>): Promise<number[]> {
  const delays: number[] = [];
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((cb: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return original(cb, ms);
  }) as typeof setTimeout;
  try {
    await fn();
  } finally {
    globalThis.setTimeout = original;
  }
  return delays;
}

Deno.test("a 30-day sleep and a 1e9 s timeout arm the host timer within its range", async () => {
  const delays = await hostDelays(() =>
    inThread(async () => {
      const sleeper = spawn(() => sleep(30 * 86400));
      const timed = spawn(() => withTimeout(1e9, sleep, Infinity));
      await sleep(0.02);
      assert.equal(sleeper.state, "blocked"); // not woken early by an overflowed timer
      assert.equal(timed.state, "blocked");
      sleeper.interrupt();
      timed.interrupt();
      await assert.rejects(sleeper.join(), Interrupted);
      await assert.rejects(timed.join(), Interrupted);
    })
  );
  assert.ok(delays.includes(MAX_HOST_DELAY_MS), `delays: ${delays}`);
  assert.ok(delays.every((ms) => ms <= MAX_HOST_DELAY_MS), `delays: ${delays}`);
});

Deno.test("NaN is a RangeError; negative times count as 0", async () => {
  await inThread(async () => {
    await assert.rejects(sleep(NaN), RangeError);
    await assert.rejects(sleepUntil(NaN), RangeError);
    await assert.rejects(withTimeout(NaN, sleep, 0), RangeError);
    const t0 = now();
    await sleep(-1);
    await sleepUntil(-1);
    assert.ok(now() - t0 < 1);
    await assert.rejects(withTimeout(-1, sleep, 1), TimeoutError);
  });
});

Deno.test("an un-awaited blocking call under withTimeout: no unhandled rejection", async () => {
  const old = traceBlockingCalls(false);
  try {
    await inThread(async () => {
      await assert.rejects(
        withTimeout(0.02, async () => {
          // The classic mistake (the lint plugin flags it): the sleep is never awaited.
          // deno-lint-ignore shrapnel/no-unawaited-blocking
          sleep(10);
          await assert.rejects(new Fifo().pop(), SimultaneousError);
          await new Promise((resolve) => setTimeout(resolve, 60)); // the deadline passes here
          await sleep(0); // the expiry, kept pending, is thrown at the next blocking call
        }),
        TimeoutError,
      );
    });
  } finally {
    traceBlockingCalls(old);
  }
});

Deno.test("SimultaneousError names the abandoned call's line once calls are traced", async () => {
  const old = traceBlockingCalls(true);
  try {
    await inThread(async () => {
      const fifo = new Fifo<number>();
      const abandoned = fifo.pop(); // <- the line the error names
      const error = await sleep(0).catch((e) => e);
      assert.ok(error instanceof SimultaneousError);
      assert.match(error.message, /already waiting on Fifo.*not awaited/);
      assert.match(error.message, /made at .*deadline_edges_test\.ts:\d+/);
      assert.ok(error.cause instanceof Error);
      fifo.push(1);
      assert.equal(await abandoned, 1); // a wake still reaches the first call
    });
  } finally {
    traceBlockingCalls(old);
  }
});

Deno.test("the first SimultaneousError of a process turns tracing on and says so", async () => {
  const old = traceBlockingCalls(false);
  try {
    await inThread(async () => {
      const fifo = new Fifo<number>();
      const abandoned = fifo.pop();
      const error = await sleep(0).catch((e) => e);
      assert.match(error.message, /from now on blocking calls are traced/);
      assert.equal(traceBlockingCalls(false), true);
      fifo.push(1);
      await abandoned;
    });
  } finally {
    traceBlockingCalls(old);
  }
});
