// A failed thread's error is delivered exactly once: to the joiner(s) that took it, or,
// when no joiner took it, to the thread error hook — whatever the order of the death,
// the joins, and interruptions of the joiners.
import assert from "node:assert/strict";
import {
  current,
  Interrupted,
  setThreadErrorHook,
  sleep,
  spawn,
  type Thread,
  ThreadGroup,
  TimeoutExpired,
  withTimeout,
  yieldSlice,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";

class Boom extends Error {}

/** Awaits `p` and counts a rejection with the failed thread's error as taken. */
async function take(p: Promise<unknown>, taken: { n: number }): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Boom || String(e).includes("boom")) taken.n++;
    else if (!(e instanceof Interrupted || e instanceof TimeoutExpired)) throw e;
  }
}

/** Spawns a thread that fails with Boom after `seconds` (0: at its first run). */
function failing(seconds: number, before?: () => void): Thread {
  return spawn({ name: "failing" }, async () => {
    if (seconds > 0) await sleep(seconds);
    before?.();
    throw new Boom("boom");
  });
}

interface Case {
  name: string;
  /** Runs inside a thread; returns after every joiner has finished. */
  run: (taken: { n: number }) => Promise<void>;
}

const cases: Case[] = [
  {
    name: "joined before death",
    run: async (taken) => {
      await take(failing(0.01).join(), taken);
    },
  },
  {
    name: "joined after death, same turn",
    run: async (taken) => {
      const t = failing(0);
      await yieldSlice(); // it runs and dies; its report waits for the next loop turn
      await take(t.join(), taken);
    },
  },
  {
    name: "joined from outside any thread",
    run: async (taken) => {
      const t = failing(0.01);
      await take(
        new Promise((resolve, reject) => setTimeout(() => t.join().then(resolve, reject), 0)),
        taken,
      );
    },
  },
  {
    name: "joiner interrupted while waiting, before death",
    run: async (taken) => {
      const t = failing(0.03);
      const j = spawn(() => take(t.join(), taken));
      await sleep(0.01);
      j.raise(new Interrupted("stop"));
      await j.join();
      await sleep(0.05);
    },
  },
  {
    name: "joiner interrupted by the dying thread just before it throws",
    run: async (taken) => {
      const late: { j?: Thread } = {};
      const t = failing(0.01, () => late.j!.raise(new Interrupted("stop")));
      const j = late.j = spawn(() => take(t.join(), taken));
      await j.join();
      await sleep(0.01);
    },
  },
  {
    name: "joiner interrupted after death, before it resumed",
    run: async (taken) => {
      const late: { j?: Thread } = {};
      const t = spawn(async () => {
        await sleep(0.01);
        spawn(() => late.j!.raise(new Interrupted("stop"))); // runs before the woken joiner
        throw new Boom("boom");
      });
      const j = late.j = spawn(() => take(t.join(), taken));
      await j.join();
      await sleep(0.01);
    },
  },
  {
    name: "joiner with a pending interrupt joins a dead thread",
    run: async (taken) => {
      const t = failing(0);
      await yieldSlice();
      current()!.raise(new Interrupted("mine"));
      await take(t.join(), taken);
      await sleep(0.01);
    },
  },
  {
    name: "withTimeout around join, the timeout first",
    run: async (taken) => {
      const t = failing(0.05);
      await take(withTimeout(0.01, () => t.join()), taken);
      await sleep(0.08);
    },
  },
  {
    name: "withTimeout around join, the death first",
    run: async (taken) => {
      const t = failing(0.01);
      await take(withTimeout(1, () => t.join()), taken);
    },
  },
  {
    name: "two joiners, both take",
    run: async (taken) => {
      const t = failing(0.01);
      const a = spawn(() => take(t.join(), taken));
      const b = spawn(() => take(t.join(), taken));
      await a.join();
      await b.join();
    },
  },
  {
    name: "two joiners, one interrupted before death",
    run: async (taken) => {
      const t = failing(0.03);
      const a = spawn(() => take(t.join(), taken));
      const b = spawn(() => take(t.join(), taken));
      await sleep(0.01);
      a.raise(new Interrupted("stop"));
      await a.join();
      await b.join();
    },
  },
  {
    name: "two joiners, both interrupted before death",
    run: async (taken) => {
      const t = failing(0.03);
      const a = spawn(() => take(t.join(), taken));
      const b = spawn(() => take(t.join(), taken));
      await sleep(0.01);
      a.raise(new Interrupted("stop"));
      b.raise(new Interrupted("stop"));
      await a.join();
      await b.join();
      await sleep(0.05);
    },
  },
  {
    name: "two joiners, both interrupted after death before they resumed",
    run: async (taken) => {
      const late: { a?: Thread; b?: Thread } = {};
      const t = spawn(async () => {
        await sleep(0.01);
        spawn(() => {
          late.a!.raise(new Interrupted("stop"));
          late.b!.raise(new Interrupted("stop"));
        });
        throw new Boom("boom");
      });
      const a = late.a = spawn(() => take(t.join(), taken));
      const b = late.b = spawn(() => take(t.join(), taken));
      await a.join();
      await b.join();
      await sleep(0.01);
    },
  },
  {
    name: "two joiners, one interrupted after death, the other takes",
    run: async (taken) => {
      const late: { a?: Thread } = {};
      const t = spawn(async () => {
        await sleep(0.01);
        spawn(() => late.a!.raise(new Interrupted("stop")));
        throw new Boom("boom");
      });
      const a = late.a = spawn(() => take(t.join(), taken));
      const b = spawn(() => take(t.join(), taken));
      await a.join();
      await b.join();
      await sleep(0.01);
    },
  },
  {
    name: "dead thread, two joiners with pending interrupts",
    run: async (taken) => {
      const t = failing(0);
      await yieldSlice();
      const a = spawn(() => {
        current()!.raise(new Interrupted("mine"));
        return take(t.join(), taken);
      });
      const b = spawn(() => {
        current()!.raise(new Interrupted("mine"));
        return take(t.join(), taken);
      });
      await a.join();
      await b.join();
      await sleep(0.01);
    },
  },
  {
    name: "group owner joins the group",
    run: async (taken) => {
      const g = new ThreadGroup({ name: "g" });
      g.spawn(async () => {
        await sleep(0.01);
        throw new Boom("boom");
      });
      await take(g.join(), taken);
    },
  },
  {
    name: "group owner interrupted in the group's join",
    run: async (taken) => {
      const g = new ThreadGroup({ name: "g" });
      const me = current()!;
      g.spawn(async () => {
        await sleep(0.01);
        me.raise(new Interrupted("stop")); // the owner is interrupted as the child fails
        throw new Boom("boom");
      });
      await take(g.join(), taken);
      await take(sleep(0.05), taken); // or raised in the owner at its next blocking call
    },
  },
  {
    name: "group owner raised while it is at no blocking point, then returns",
    run: async (taken) => {
      const owner = spawn(async () => {
        const g = new ThreadGroup({ name: "g" });
        g.spawn(async () => {
          await sleep(0.01);
          throw new Boom("boom");
        });
        // Awaits a promise that is no blocking point: the group's error is raised into
        // the owner meanwhile, and the owner returns without another blocking call.
        await new Promise((resolve) => setTimeout(resolve, 50));
      });
      await take(owner.join(), taken);
      await sleep(0.01);
    },
  },
  {
    name: "group owner raised at no blocking point, then raised again before it blocks",
    run: async (taken) => {
      const owner = spawn(async () => {
        const g = new ThreadGroup({ name: "g" });
        g.spawn(async () => {
          await sleep(0.01);
          throw new Boom("boom");
        });
        await new Promise((resolve) => setTimeout(resolve, 60));
        await sleep(0.01); // throws the later interruption
      });
      await sleep(0.03); // the group has failed, its error is pending in the owner
      owner.raise(new Interrupted("another")); // and replaced by this one
      await take(owner.join(), taken);
      await sleep(0.01);
    },
  },
];

for (const c of cases) {
  Deno.test(`a failed thread's error is delivered once: ${c.name}`, async () => {
    const reported: unknown[] = [];
    const old = setThreadErrorHook((_t, e) => reported.push(e));
    const taken = { n: 0 };
    try {
      await inThread(() => c.run(taken));
      await new Promise((resolve) => setTimeout(resolve, 20)); // a report's turn
    } finally {
      setThreadErrorHook(old);
    }
    const reports = reported.filter((e) => String(e).includes("boom") || e instanceof Boom);
    assert.equal(reports.length, reported.length, `other reports: ${reported}`);
    if (taken.n > 0) assert.equal(reports.length, 0, `taken by ${taken.n} joiner(s) and reported`);
    else assert.equal(reports.length, 1, "neither taken nor reported (lost)");
  });
}
