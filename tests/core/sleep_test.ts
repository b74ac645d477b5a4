import assert from "node:assert/strict";
import {
  current,
  Interrupted,
  LockError,
  now,
  Shutdown,
  sleep,
  sleepUntil,
  spawn,
  type Thread,
  TimeoutError,
  withTimeout,
  yieldSlice,
} from "../../mod.ts";
import { scheduler, Timer } from "../../core/scheduler.ts";
import { inThread } from "../_helpers.ts";

Deno.test("sleep waits at least the given time", async () => {
  await inThread(async () => {
    const t0 = now();
    await sleep(0.02);
    assert.ok(now() - t0 >= 0.019, `slept ${now() - t0}`);
  });
});

Deno.test("sleepers wake in deadline order, ties in the order they slept", async () => {
  const order: string[] = [];
  await inThread(async () => {
    const ts = [
      spawn(async () => {
        await sleep(0.015);
        order.push("c");
      }),
      spawn(async () => {
        await sleep(0.005);
        order.push("a");
      }),
      spawn(async () => {
        await sleep(0.01);
        order.push("b1");
      }),
    ];
    const deadline = now() + 0.01;
    ts.push(spawn(async () => {
      await sleepUntil(deadline);
      order.push("b2");
    }));
    ts.push(spawn(async () => {
      await sleepUntil(deadline);
      order.push("b3");
    }));
    for (const t of ts) await t.join();
  });
  assert.equal(order[0], "a");
  assert.deepEqual(order.slice(-1), ["c"]);
  assert.deepEqual(order.filter((x) => x === "b2" || x === "b3"), ["b2", "b3"]);
});

Deno.test("sleep(0) and negative sleeps return promptly", async () => {
  await inThread(async () => {
    const t0 = now();
    await sleep(0);
    await sleep(-5);
    await sleepUntil(now() - 1);
    assert.ok(now() - t0 < 0.5);
  });
});

Deno.test("yieldSlice lets the other ready threads run first", async () => {
  const order: string[] = [];
  await inThread(async () => {
    const a = spawn(async () => {
      for (let i = 0; i < 3; i++) {
        order.push(`a${i}`);
        await yieldSlice();
      }
    });
    const b = spawn(async () => {
      for (let i = 0; i < 3; i++) {
        order.push(`b${i}`);
        await yieldSlice();
      }
    });
    await a.join();
    await b.join();
  });
  assert.deepEqual(order, ["a0", "b0", "a1", "b1", "a2", "b2"]);
});

Deno.test("a thread spinning on yieldSlice does not starve timers or host callbacks", async () => {
  await inThread(async () => {
    let spins = 0;
    let stop = false;
    const spinner = spawn(async () => {
      while (!stop) {
        spins++;
        await yieldSlice();
      }
    });
    let hostTimerFired = false;
    setTimeout(() => hostTimerFired = true, 5);
    await sleep(0.02); // must wake although the spinner never blocks for real
    stop = true;
    await spinner.join();
    assert.ok(hostTimerFired, "a host setTimeout fired meanwhile");
    assert.ok(spins > 100, `spinner ran ${spins} times`);
  });
});

Deno.test("sleeping threads hold no host timer each: 10k sleepers share one", async () => {
  await inThread(async () => {
    const t0 = now();
    const ts = Array.from({ length: 10_000 }, (_, i) => spawn(() => sleep(0.01 + (i % 10) / 1000)));
    for (const t of ts) await t.join();
    assert.ok(now() - t0 < 5);
  });
});

Deno.test("sleep after an interrupted sleep, a timeout or another wait lasts its own time", async () => {
  await inThread(async () => {
    const sleeper = spawn(async () => {
      const lengths: number[] = [];
      try {
        await sleep(60); // interrupted: its timer leaves the heap
      } catch { /* expected */ }
      for (const seconds of [0.02, 0.01]) {
        const t0 = now();
        await sleep(seconds);
        lengths.push(now() - t0);
      }
      // A timeout ends a sleep.
      await assert.rejects(withTimeout(0.01, () => sleep(60)), TimeoutError);
      const t0 = now();
      await sleep(0.015);
      lengths.push(now() - t0);
      return lengths;
    });
    await sleep(0.005);
    sleeper.interrupt();
    const [a, b, c] = await sleeper.join();
    assert.ok(a >= 0.019 && b >= 0.009 && c >= 0.014, `slept ${a}, ${b}, ${c}`);
  });
});

Deno.test("a thread's own sleep() waits at least its time, like sleep, without the lookup", async () => {
  await inThread(async () => {
    const me = current()!;
    const t0 = now();
    await me.sleep(0.02);
    const slept = now() - t0;
    assert.ok(slept >= 0.019, `slept ${slept}`);
    const t1 = now();
    await me.sleep(-1); // negative counts as 0
    assert.ok(now() - t1 < 0.5);
  });
});

Deno.test("a thread's own sleep() is an interruption point that leaves no timer behind", async () => {
  await inThread(async () => {
    const sleeper = spawn(async () => {
      const me = current()!;
      try {
        await me.sleep(60);
        return "slept";
      } catch (e) {
        return e instanceof Interrupted ? "interrupted" : `other: ${e}`;
      }
    });
    await sleep(0.005);
    const pending = scheduler.timers.size;
    sleeper.interrupt();
    assert.equal(await sleeper.join(), "interrupted");
    assert.equal(scheduler.timers.size, pending - 1, "the interrupted sleep's timer left the heap");
  });
});

Deno.test("another thread cannot make a thread sleep: LockError", async () => {
  await inThread(async () => {
    const sleeper = spawn(() => sleep(60));
    await sleep(0); // the sleeper starts and blocks
    await assert.rejects(sleeper.sleep(0.01), LockError);
    const dead = spawn(() => 1);
    await dead.join();
    await assert.rejects(dead.sleep(0.01), LockError);
    sleeper.shutdown();
    await assert.rejects(sleeper.join(), Shutdown);
  });
});

Deno.test("a due run of sleepers interrupted mid-run: the rest wake in order, the interrupted throw", async () => {
  // Ten threads sleep in one lane (one duration), a timer joins the lane behind them, ten
  // more threads sleep behind it: due together, they fire in one run, and the timer
  // interrupts two of the later sleepers from within it. Those two throw; the others wake,
  // in the order they slept; the removed timers wake nobody.
  const woke: number[] = [];
  const failed: number[] = [];
  const DURATION = 0.02;
  let fired = 0;
  await inThread(async () => {
    const threads: Thread[] = [];
    const sleeper = (i: number) =>
      spawn(async () => {
        try {
          await sleep(DURATION);
          woke.push(i);
        } catch (e) {
          assert.ok(e instanceof Interrupted);
          failed.push(i);
        }
      });
    for (let i = 0; i < 10; i++) threads.push(sleeper(i));
    await sleep(0); // the first ten asleep, in order
    scheduler.addTimer(
      new Timer(now() + DURATION, () => {
        fired++;
        threads[15].interrupt();
        threads[18].interrupt();
      }, null),
      DURATION,
    );
    for (let i = 10; i < 20; i++) threads.push(sleeper(i));
    await sleep(0); // the next ten asleep behind the timer
    assert.equal(scheduler.timers.size, 21);
    for (const t of threads) await t.join();
  });
  assert.equal(fired, 1);
  assert.deepEqual(failed, [15, 18]);
  assert.deepEqual(woke, [...Array(20).keys()].filter((i) => i !== 15 && i !== 18));
  assert.equal(scheduler.timers.size, 0);
});
