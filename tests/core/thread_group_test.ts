/** ThreadGroup: its specification, one behaviour per test. */
import assert from "node:assert/strict";
import {
  ClosedError,
  current,
  Event,
  inParallel,
  Interrupted,
  LockError,
  setThreadErrorHook,
  Shutdown,
  sleep,
  spawn,
  type Thread,
  threadDump,
  ThreadGroup,
  ThreadGroupError,
  ThreadGroupFullError,
  TimeoutError,
  withTimeout,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";

/** Collects what the thread error hook reports while `fn` runs (and one loop turn after). */
async function hookReports(fn: () => Promise<void>): Promise<[Thread, unknown][]> {
  const reported: [Thread, unknown][] = [];
  const old = setThreadErrorHook((t, e) => reported.push([t, e]));
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    setThreadErrorHook(old);
  }
  return reported;
}

Deno.test("scope exit waits for every child", async () => {
  const finished: string[] = [];
  await inThread(async () => {
    {
      await using group = new ThreadGroup();
      group.spawn(async () => (await sleep(0.02), finished.push("slow")));
      group.spawn(() => finished.push("quick"));
    }
    assert.deepEqual(finished, ["quick", "slow"]);
  });
});

Deno.test("the first failure shuts the siblings down and the owner gets every outcome", async () => {
  const error = await inThread(async () => {
    const group = new ThreadGroup({ name: "pair" });
    const sleeper = group.spawn({ name: "sleeper" }, () => sleep(60));
    group.spawn({ name: "breaker" }, async () => {
      await sleep(0.01);
      throw new TypeError("broken");
    });
    const e = await group.join().catch((e) => e);
    assert.ok(sleeper.dead);
    await assert.rejects(sleeper.join(), Shutdown);
    return e;
  });
  assert.ok(error instanceof ThreadGroupError);
  assert.equal(error.outcomes.length, 2);
  assert.equal(error.errors.length, 1); // AggregateError-like: the failures, not the Shutdowns
  assert.ok(error.errors[0] instanceof TypeError);
  assert.ok(error.cause instanceof TypeError);
  const byName = new Map(error.outcomes.map((o) => [o.thread.name, o]));
  const sleeperOutcome = byName.get("sleeper")!;
  assert.ok(!sleeperOutcome.ok && sleeperOutcome.error instanceof Shutdown);
  assert.match(error.message, /"pair": 1 of 2 children failed \(breaker: TypeError: broken\)/);
});

Deno.test("a failure is raised in the owner at its blocking point when it is not joining", async () => {
  await inThread(async () => {
    const group = new ThreadGroup();
    const sibling = group.spawn(() => sleep(60));
    group.spawn(() => {
      throw new RangeError("child");
    });
    await assert.rejects(sleep(60), ThreadGroupError); // the owner is interrupted here
    assert.ok(sibling.dead);
    await group.join(); // raised once: joining afterwards does not throw it again
  });
});

Deno.test("the owner interrupted while joining shuts the children down, waits, and rethrows", async () => {
  let child!: Thread;
  let cleanedUp = false;
  const owner = spawn(async () => {
    await using group = new ThreadGroup();
    child = group.spawn(async () => {
      try {
        await sleep(60);
      } finally {
        await sleep(0.01); // cleanup that blocks: the owner waits for it
        cleanedUp = true;
      }
    });
    await group.join();
  });
  await inThread(async () => {
    await sleep(0.01);
    owner.interrupt();
    await assert.rejects(owner.join(), Interrupted);
    assert.ok(child.dead && cleanedUp);
    await assert.rejects(child.join(), Shutdown);
  });
});

Deno.test("an owner shut down elsewhere than join shuts its groups down", async () => {
  let child!: Thread;
  const owner = spawn(async () => {
    await using group = new ThreadGroup();
    child = group.spawn(() => sleep(60));
    await sleep(60);
  });
  await inThread(async () => {
    await sleep(0.01);
    owner.shutdown();
    await assert.rejects(owner.join(), Shutdown);
    assert.ok(child.dead);
  });
});

Deno.test("withTimeout shuts down the groups made inside it, joined or not", async () => {
  await inThread(async () => {
    const children: Thread[] = [];
    await assert.rejects(
      withTimeout(0.02, async () => {
        await using group = new ThreadGroup();
        children.push(group.spawn(() => sleep(60)));
        await group.join();
      }),
      TimeoutError,
    );
    await assert.rejects(
      withTimeout(0.02, async () => {
        await using group = new ThreadGroup();
        children.push(group.spawn(() => sleep(60)));
        await sleep(60); // the owner is elsewhere when the deadline passes
      }),
      TimeoutError,
    );
    assert.ok(children.every((t) => t.dead));
  });
});

Deno.test("withTimeout leaves alone the groups made before it", async () => {
  await inThread(async () => {
    await using group = new ThreadGroup();
    const child = group.spawn(() => sleep(0.05));
    await assert.rejects(withTimeout(0.01, sleep, 60), TimeoutError);
    assert.ok(!child.dead);
    await group.join();
  });
});

Deno.test("inParallel inside withTimeout: every call is stopped", async () => {
  await inThread(async () => {
    const ended: string[] = [];
    const call = async (name: string) => {
      try {
        await sleep(60);
      } finally {
        ended.push(name);
      }
    };
    await assert.rejects(
      withTimeout(0.02, () => inParallel([[call, ["a"]], [call, ["b"]]])),
      TimeoutError,
    );
    assert.deepEqual(ended.sort(), ["a", "b"]);
  });
});

Deno.test("a group inside an inParallel call is stopped with it", async () => {
  await inThread(async () => {
    let grandchild!: Thread;
    const owner = spawn(() =>
      inParallel([[async () => {
        await using group = new ThreadGroup();
        grandchild = group.spawn(() => sleep(60));
        await group.join();
      }]])
    );
    await sleep(0.01);
    owner.shutdown();
    await assert.rejects(owner.join(), Shutdown);
    assert.ok(grandchild.dead);
  });
});

Deno.test("maxThreads with whenFull 'wait' holds children until there is room", async () => {
  await inThread(async () => {
    let live = 0, most = 0;
    const group = new ThreadGroup({ maxThreads: 2 });
    for (let i = 0; i < 5; i++) {
      group.spawn(async () => {
        most = Math.max(most, ++live);
        await sleep(0.005);
        live--;
      });
    }
    assert.deepEqual([group.statistics().running, group.statistics().waiting], [2, 3]);
    await group.join();
    assert.equal(most, 2);
    const stats = group.statistics();
    assert.deepEqual(
      [stats.spawned, stats.finished, stats.running, stats.waiting, stats.state],
      [5, 5, 0, 0, "closed"],
    );
  });
});

Deno.test("maxThreads with whenFull 'refuse' throws ThreadGroupFullError", async () => {
  await inThread(async () => {
    await using group = new ThreadGroup({ name: "conns", maxThreads: 1, whenFull: "refuse" });
    group.spawn(() => sleep(0.01));
    assert.throws(() => group.spawn(() => 1), ThreadGroupFullError);
    assert.equal(group.statistics().refused, 1);
  });
});

Deno.test("whenRoom blocks the spawner until a child finishes", async () => {
  await inThread(async () => {
    await using group = new ThreadGroup({ maxThreads: 1 });
    const gate = new Event();
    const first = group.spawn(() => gate.wait());
    const spawner = spawn(async () => {
      await group.whenRoom();
      return first.dead;
    });
    await sleep(0.01);
    assert.equal(spawner.state, "blocked");
    gate.set();
    assert.equal(await spawner.join(), true);
  });
});

Deno.test("nothing is swallowed: an orphaned group's failure goes to the error hook", async () => {
  const reported = await hookReports(async () => {
    await inThread(async () => {
      const owner = spawn(() => {
        const group = new ThreadGroup({ name: "orphan" });
        group.spawn(async () => {
          await sleep(0.01);
          throw new Error("lost?");
        });
      });
      await owner.join(); // the owner is gone before its child fails
      await sleep(0.03);
    });
  });
  assert.equal(reported.length, 1);
  assert.ok(reported[0][1] instanceof ThreadGroupError);
});

Deno.test("childErrors 'report': the group carries on and the hook gets the error", async () => {
  const reported = await hookReports(async () => {
    await inThread(async () => {
      await using group = new ThreadGroup({ childErrors: "report" });
      const survivor = group.spawn(async () => (await sleep(0.02), "ok"));
      group.spawn(() => {
        throw new Error("one connection");
      });
      assert.equal(await survivor.join(), "ok");
      assert.equal(group.statistics().failed, 1);
    });
  });
  assert.equal(reported.length, 1);
  assert.equal((reported[0][1] as Error).message, "one connection");
});

Deno.test("the interrupted owner's rethrow does not hide a child's failure: the hook has it", async () => {
  const reported = await hookReports(async () => {
    const owner = spawn(async () => {
      await using group = new ThreadGroup();
      group.spawn(async () => {
        try {
          await sleep(60);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new Error("failed while stopping");
        }
      });
      await group.join();
    });
    await inThread(async () => {
      await sleep(0.01);
      owner.interrupt();
      await assert.rejects(owner.join(), Interrupted);
    });
  });
  assert.equal(reported.length, 1);
  assert.ok(reported[0][1] instanceof ThreadGroupError);
});

Deno.test("a joined group is closed; a child cannot join its own group", async () => {
  await inThread(async () => {
    const group = new ThreadGroup();
    const child = group.spawn(() => group.join());
    await assert.rejects(group.join(), ThreadGroupError);
    await assert.rejects(child.join(), LockError);
    assert.throws(() => group.spawn(() => 1), ClosedError);
  });
});

Deno.test("shutdown() stops every child, held ones never start, and refuses new ones", async () => {
  await inThread(async () => {
    let started = 0;
    const group = new ThreadGroup({ maxThreads: 1 });
    const children = [0, 1, 2].map(() => group.spawn(async () => (started++, await sleep(60))));
    await sleep(0);
    group.shutdown();
    assert.throws(() => group.spawn(() => 1), ClosedError);
    await group.join(); // Shutdown is how children were stopped, not a failure
    assert.equal(started, 1);
    assert.ok(children.every((t) => t.dead));
  });
});

Deno.test("a child knows its group, and thread dumps name it", async () => {
  await inThread(async () => {
    await using group = new ThreadGroup({ name: "dumped" });
    const child = group.spawn(() => sleep(0.01));
    assert.equal(child.group, group);
    assert.equal(current()!.group, null);
    await sleep(0);
    const row = threadDump().find((r) => r.id === child.id)!;
    assert.equal(row.group, "dumped");
    assert.deepEqual(group.threads(), [child]);
    assert.match(String(group), /ThreadGroup "dumped" open \(running=1, waiting=0\)/);
  });
});

Deno.test("outside any thread, join() is a plain promise", async () => {
  const group = new ThreadGroup();
  const child = group.spawn(async () => (await sleep(0.01), 5));
  await group.join();
  assert.equal(await child.join(), 5);
  assert.throws(() => new ThreadGroup({ maxThreads: 0 }), RangeError);
});

Deno.test("run(): the body throwing shuts the children down, waits, and rethrows", async () => {
  await inThread(async () => {
    let child!: Thread;
    let cleanedUp = false;
    const error = await new ThreadGroup().run(async (group) => {
      child = group.spawn(async () => {
        try {
          await sleep(60);
        } finally {
          await sleep(0.005);
          cleanedUp = true;
        }
      });
      await sleep(0);
      throw new RangeError("body");
    }).catch((e) => e);
    assert.ok(error instanceof RangeError);
    assert.ok(child.dead && cleanedUp);
    const done = await new ThreadGroup().run((group) => {
      group.spawn(() => sleep(0.01));
      return "value";
    });
    assert.equal(done, "value");
  });
});

Deno.test("run(): a child's failure is the ThreadGroupError, raised in the body", async () => {
  await inThread(async () => {
    await assert.rejects(
      new ThreadGroup().run(async (group) => {
        group.spawn(() => {
          throw new Error("child");
        });
        await sleep(60); // interrupted by the group's failure
      }),
      ThreadGroupError,
    );
  });
});
