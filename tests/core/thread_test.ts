import assert from "node:assert/strict";
import {
  allThreads,
  ConditionVariable,
  current,
  DeadThreadError,
  endSlice,
  Fifo,
  Interrupted,
  joinAll,
  LockError,
  NotInThreadError,
  NotStartedError,
  setThreadErrorHook,
  Shutdown,
  SimultaneousError,
  sleep,
  spawn,
  type Thread,
  threadById,
  threadDump,
  ThreadLocal,
  yieldSlice,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";

Deno.test("spawn runs the function with its arguments and join returns its result", async () => {
  const t = spawn((a: number, b: string) => `${a}${b}`, 4, "x");
  assert.equal(await t.join(), "4x");
});

Deno.test("join rethrows what the thread threw", async () => {
  const t = spawn(() => {
    throw new RangeError("boom");
  });
  await assert.rejects(t.join(), RangeError);
});

Deno.test("a thread starts only when the spawner yields, and is started/dead accordingly", async () => {
  const log: string[] = [];
  await inThread(async () => {
    const t = spawn(() => log.push("child"));
    assert.equal(t.started, false);
    assert.equal(t.state, "new");
    log.push("parent");
    await yieldSlice();
    assert.equal(t.started, true);
    assert.equal(t.dead, true);
  });
  assert.deepEqual(log, ["parent", "child"]);
});

Deno.test("ids start at 1, are unique among live threads, and threadById finds them", async () => {
  const threads: Thread[] = [];
  for (let i = 0; i < 50; i++) threads.push(spawn(() => sleep(0.001)));
  const ids = new Set(threads.map((t) => t.id));
  assert.equal(ids.size, 50);
  for (const t of threads) {
    assert.ok(t.id >= 1);
    assert.equal(threadById(t.id), t);
    assert.ok(allThreads().includes(t));
  }
  for (const t of threads) await t.join();
  for (const t of threads) assert.equal(threadById(t.id), undefined);
});

Deno.test("names: from options, else the function's name, else thread-<id>", async () => {
  const named = spawn({ name: "worker" }, () => current()!.name);
  function fetcher() {
    return current()!.name;
  }
  const byFn = spawn(fetcher);
  const anon = spawn(() => 0);
  assert.equal(await named.join(), "worker");
  assert.equal(await byFn.join(), "fetcher");
  assert.match(anon.name, /^(thread-\d+|anon)$/);
  await anon.join();
});

Deno.test("current() is the running thread across awaits, and null outside", async () => {
  assert.equal(current(), null);
  const t = spawn(async () => {
    const before = current();
    await sleep(0.001);
    await Promise.resolve();
    return before === current() ? current() : null;
  });
  assert.equal(await t.join(), t);
});

Deno.test("blocking calls outside a thread throw NotInThreadError", async () => {
  await assert.rejects(sleep(0), NotInThreadError);
  await assert.rejects(yieldSlice(), NotInThreadError);
});

Deno.test("interrupt while sleeping: the sleep throws the error at once", async () => {
  await inThread(async () => {
    const sleeper = spawn(async () => {
      const t0 = performance.now();
      try {
        await sleep(30);
        return "slept";
      } catch (e) {
        return [(e as Error).message, performance.now() - t0];
      }
    });
    await sleep(0.01);
    assert.equal(sleeper.state, "blocked");
    assert.equal(sleeper.waitingOn, "sleep");
    sleeper.raise(new Interrupted("wake up"));
    const [message, elapsed] = await sleeper.join() as [string, number];
    assert.equal(message, "wake up");
    assert.ok(elapsed < 1000);
  });
});

Deno.test("interrupt() defaults to an Interrupted error", async () => {
  await inThread(async () => {
    const t = spawn(() => sleep(30));
    await yieldSlice();
    t.interrupt();
    await assert.rejects(t.join(), Interrupted);
  });
});

Deno.test("interrupt before start throws NotStartedError; after death DeadThreadError", async () => {
  await inThread(async () => {
    const t = spawn(() => 1);
    assert.throws(() => t.interrupt(), NotStartedError);
    await t.join();
    assert.throws(() => t.interrupt(), DeadThreadError);
  });
});

Deno.test("shutdown before start cancels the thread; join rethrows Shutdown", async () => {
  let ran = false;
  await inThread(async () => {
    const t = spawn(() => {
      ran = true;
    });
    t.shutdown();
    assert.equal(t.dead, true);
    await assert.rejects(t.join(), Shutdown);
    await yieldSlice();
  });
  assert.equal(ran, false);
});

Deno.test("shutdown raises Shutdown at the blocking point and is not reported as a crash", async () => {
  const reported: unknown[] = [];
  const old = setThreadErrorHook((_t, e) => reported.push(e));
  try {
    await inThread(async () => {
      const t = spawn(() => sleep(30));
      await yieldSlice();
      t.shutdown();
      t.shutdown(); // twice is harmless
      await sleep(0.001);
      assert.equal(t.dead, true);
      await assert.rejects(t.join(), Shutdown);
      t.shutdown(); // dead: no-op
    });
  } finally {
    setThreadErrorHook(old);
  }
  assert.deepEqual(reported, []);
});

Deno.test("a thread that dies from an error nobody joins is reported to the hook", async () => {
  const reported: [string, unknown][] = [];
  const old = setThreadErrorHook((t, e) => reported.push([t.name, e]));
  try {
    await inThread(async () => {
      spawn({ name: "doomed" }, () => {
        throw new Error("unjoined");
      });
      const joined = spawn({ name: "joined" }, () => {
        throw new Error("joined");
      });
      await assert.rejects(joined.join(), /joined/);
      await sleep(0.001);
    });
  } finally {
    setThreadErrorHook(old);
  }
  assert.equal(reported.length, 1);
  assert.equal(reported[0][0], "doomed");
});

Deno.test("a thread joined after its death: a failure joined before the next turn is not reported, a value comes back", async () => {
  const reported: unknown[] = [];
  const old = setThreadErrorHook((_t, e) => reported.push(e));
  try {
    await inThread(async () => {
      const go = new Fifo<number>();
      const failed = spawn(() => {
        throw new Error("joined late");
      });
      const returned = spawn(() => 7);
      spawn(() => go.push(1)); // runs after both, in the same drain: no turn of the loop
      await go.pop();
      assert.equal(failed.dead && returned.dead, true);
      await assert.rejects(failed.join(), /joined late/);
      assert.equal(await returned.join(), 7);
      assert.equal(await returned.join(), 7);
      await sleep(0.001); // the turn on which an unjoined failure would be reported
    });
  } finally {
    setThreadErrorHook(old);
  }
  assert.deepEqual(reported, []);
});

Deno.test("schedule-then-interrupt: a pending wake is dropped, the interrupt wins", async () => {
  await inThread(async () => {
    const cv = new ConditionVariable<string>();
    const t = spawn(() => cv.wait());
    await yieldSlice();
    assert.equal(t.state, "blocked");
    endSlice(); // wakes now wait in the ready queue for the next loop turn
    assert.equal(cv.wakeOne("woken"), true);
    assert.equal(t.state, "ready"); // woken, not yet resumed
    t.interrupt(new Interrupted("late"));
    await assert.rejects(t.join(), /late/);
  });
});

Deno.test("a wake already delivered is kept; a later interrupt lands at the next blocking point", async () => {
  await inThread(async () => {
    const cv = new ConditionVariable<string>();
    const t = spawn(async () => {
      const got = await cv.wait();
      try {
        await sleep(30);
        return [got, "slept"];
      } catch (e) {
        return [got, (e as Error).message];
      }
    });
    await yieldSlice();
    cv.wakeOne("woken"); // within the slice: delivered at once
    assert.equal(t.state, "running");
    t.interrupt(new Interrupted("late"));
    assert.deepEqual(await t.join(), ["woken", "late"]);
  });
});

Deno.test("a thread interrupting itself gets the error at its next blocking point", async () => {
  await inThread(async () => {
    const me = current()!;
    me.interrupt(new Interrupted("self"));
    let reached = false;
    try {
      reached = true; // code before the blocking point runs
      await yieldSlice();
      assert.fail("should have thrown");
    } catch (e) {
      assert.equal((e as Error).message, "self");
    }
    assert.ok(reached);
    await yieldSlice(); // the error was delivered once
  });
});

Deno.test("join is an interruption point and leaves the joined thread alone", async () => {
  await inThread(async () => {
    const slow = spawn(async () => {
      await sleep(0.02);
      return "done";
    });
    const joiner = spawn(() => slow.join());
    await yieldSlice();
    assert.equal(joiner.waitingOn, slow);
    joiner.interrupt();
    await assert.rejects(joiner.join(), Interrupted);
    assert.equal(await slow.join(), "done");
  });
});

Deno.test("starting a second blocking call before awaiting the first is a SimultaneousError", async () => {
  await inThread(async () => {
    const cv = new ConditionVariable();
    const first = cv.wait();
    await assert.rejects(sleep(0), SimultaneousError);
    cv.wakeOne("still delivered");
    assert.equal(await first, "still delivered");
  });
});

Deno.test("joinAll joins in order and rethrows the first error after joining the rest", async () => {
  const reported: unknown[] = [];
  const old = setThreadErrorHook((_t, e) => reported.push(e));
  try {
    await inThread(async () => {
      assert.deepEqual(await joinAll([spawn(() => 1), spawn(() => 2)]), [1, 2]);
      const ts = [
        spawn(() => 1),
        spawn(() => {
          throw new RangeError("first");
        }),
        spawn(() => {
          throw new TypeError("second");
        }),
      ];
      await assert.rejects(joinAll(ts), RangeError);
      await sleep(0.001);
    });
  } finally {
    setThreadErrorHook(old);
  }
  assert.deepEqual(reported, [], "joined failures are not reported");
});

Deno.test("a thread cannot join itself", async () => {
  await inThread(async () => {
    await assert.rejects(current()!.join(), LockError);
  });
});

Deno.test("many threads can join one", async () => {
  await inThread(async () => {
    const target = spawn(async () => {
      await sleep(0.005);
      return 7;
    });
    const joiners = Array.from({ length: 10 }, () => spawn(() => target.join()));
    for (const j of joiners) assert.equal(await j.join(), 7);
  });
});

Deno.test("ThreadLocal: each thread sees its own value, starting from the initial one", async () => {
  const local = new ThreadLocal("none");
  const seen = await inThread(async () => {
    const a = spawn(async () => {
      local.set("a");
      await sleep(0.002);
      return local.get();
    });
    const b = spawn(async () => {
      await sleep(0.001);
      const before = local.get();
      local.set("b");
      local.delete();
      return [before, local.get()];
    });
    return [await a.join(), await b.join(), local.get()];
  });
  assert.deepEqual(seen, ["a", ["none", "none"], "none"]);
  assert.throws(() => local.get(), NotInThreadError);
});

Deno.test("threadDump lists live threads with their state and what they wait on", async () => {
  await inThread(async () => {
    const t = spawn({ name: "napper" }, () => sleep(30));
    await yieldSlice();
    const row = threadDump().find((r) => r.id === t.id);
    assert.deepEqual(row, {
      id: t.id,
      name: "napper",
      state: "blocked",
      waitingOn: "sleep",
      group: null,
    });
    t.shutdown();
    await assert.rejects(t.join(), Shutdown);
  });
});

Deno.test("a join interrupted before the thread failed does not take its error: it is still reported", async () => {
  const reported: unknown[] = [];
  const old = setThreadErrorHook((_t, e) => reported.push(e));
  try {
    await inThread(async () => {
      const failing = spawn(async () => {
        await sleep(0.05);
        throw new Error("nobody took this");
      });
      const joiner = spawn(() => failing.join());
      await sleep(0.01);
      joiner.raise(new Interrupted("stop waiting"));
      await assert.rejects(joiner.join(), /stop waiting/);
      await sleep(0.1); // the failure, and the turn on which an unjoined one is reported
    });
  } finally {
    setThreadErrorHook(old);
  }
  assert.equal(reported.length, 1, "the failure was neither joined nor reported");
  assert.match(String(reported[0]), /nobody took this/);
});

Deno.test("a join of a dead failed thread cut by the joiner's pending interrupt does not take its error", async () => {
  const reported: unknown[] = [];
  const old = setThreadErrorHook((_t, e) => reported.push(e));
  try {
    await inThread(async () => {
      const go = new Fifo<number>();
      const failed = spawn(() => {
        throw new Error("died first");
      });
      spawn(() => go.push(1));
      await go.pop();
      assert.ok(failed.dead);
      current()!.raise(new Interrupted("the joiner's own"));
      await assert.rejects(failed.join(), /the joiner's own/); // and never asked again
      await sleep(0.01);
    });
  } finally {
    setThreadErrorHook(old);
  }
  assert.equal(reported.length, 1, "the failure was neither joined nor reported");
  assert.match(String(reported[0]), /died first/);
});
