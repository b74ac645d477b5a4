import assert from "node:assert/strict";
import {
  current,
  Fifo,
  Interrupted,
  NotInThreadError,
  now,
  sleep,
  spawn,
  TimeoutError,
  TimeoutExpired,
  withTimeout,
  yieldSlice,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";

Deno.test("returns fn's result when it finishes in time", async () => {
  const r = await inThread(() =>
    withTimeout(1, async (x: number) => (await sleep(0.001), x * 2), 21)
  );
  assert.equal(r, 42);
});

Deno.test("throws TimeoutError when the deadline passes at a blocking point", async () => {
  await inThread(async () => {
    const t0 = now();
    const err = await withTimeout(0.01, sleep, 10).catch((e) => e);
    assert.ok(err instanceof TimeoutError);
    assert.ok(err instanceof Interrupted);
    assert.equal(err.seconds, 0.01);
    assert.ok(now() - t0 < 1);
  });
});

Deno.test("withTimeout(0, sleep, 0) times out; negative delays count as 0", async () => {
  await inThread(async () => {
    await assert.rejects(withTimeout(0, sleep, 0), TimeoutError);
    await assert.rejects(withTimeout(-1, sleep, 0), TimeoutError);
  });
});

Deno.test("fn that never blocks runs to completion even with a zero timeout", async () => {
  const r = await inThread(() => withTimeout(0, () => "no blocking point"));
  assert.equal(r, "no blocking point");
});

Deno.test("an expiry after fn's last blocking point does not leak into later calls", async () => {
  await inThread(async () => {
    await withTimeout(0.001, () => {
      const end = now() + 0.01;
      while (now() < end) { /* busy past the deadline without blocking */ }
    });
    await sleep(0.01); // would throw if the stale expiry were still pending
    assert.equal(current()!.state, "running");
  });
});

Deno.test("nested: the inner deadline fires first and only the inner frame converts it", async () => {
  await inThread(async () => {
    const r = await withTimeout(1, async () => {
      try {
        await withTimeout(0.01, sleep, 5);
        return "no";
      } catch (e) {
        return e instanceof TimeoutError ? "inner" : "other";
      }
    });
    assert.equal(r, "inner");
  });
});

Deno.test("nested: an outer expiry passes through inner catch(TimeoutError) handlers", async () => {
  await inThread(async () => {
    const seenInside: string[] = [];
    const err = await withTimeout(0.01, async () => {
      try {
        await withTimeout(5, sleep, 5);
      } catch (e) {
        seenInside.push(e instanceof TimeoutError ? "TimeoutError" : (e as Error).name);
        throw e;
      }
    }).catch((e) => e);
    assert.ok(err instanceof TimeoutError, `outer frame converted: ${err}`);
    assert.deepEqual(seenInside, ["TimeoutExpired"]);
  });
});

Deno.test("nested frames with the same deadline: the outer frame reports its own", async () => {
  await inThread(async () => {
    const outer = await withTimeout(0.01, async () => {
      await withTimeout(0.01, () => sleep(1)).catch((e) => {
        throw e;
      });
    }).catch((e) => e);
    // Whichever timer fired, exactly one frame converted it and the result is a TimeoutError.
    assert.ok(outer instanceof TimeoutError);
  });
});

Deno.test("the expiry reaches any blocking primitive, which cleans its wait up", async () => {
  await inThread(async () => {
    const q = new Fifo<number>();
    await assert.rejects(withTimeout(0.005, () => q.pop()), TimeoutError);
    assert.equal(q.statistics().waiting, 0);
    q.push(1);
    assert.equal(q.length, 1, "the item was not handed to the timed-out popper");
  });
});

Deno.test("a withTimeout frame's expiry is not caught by another thread", async () => {
  await inThread(async () => {
    const other = spawn(() => sleep(0.05));
    await assert.rejects(withTimeout(0.005, sleep, 1), TimeoutError);
    assert.equal(other.dead, false);
    await other.join();
  });
});

Deno.test("TimeoutExpired is an Interrupted, not a TimeoutError", () => {
  assert.ok(TimeoutExpired.prototype instanceof Interrupted);
  assert.ok(!(TimeoutExpired.prototype instanceof TimeoutError));
});

Deno.test("outside a thread withTimeout rejects with NotInThreadError", async () => {
  await assert.rejects(withTimeout(1, () => 1), /must run inside a thread/);
  await assert.rejects(yieldSlice(), NotInThreadError);
});
