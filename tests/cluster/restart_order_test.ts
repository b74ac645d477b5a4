/**
 * The order of a rolling restart (`restartOrder`), with real worker processes: workers
 * that own something exclusively (here a file per worker id, created new at start: a
 * second owner exits with code 4, as a second shard of a region fails) cannot be rolled
 * start-first, and are rolled stop-first: each old process gone before its replacement
 * starts, one worker at a time. A stop-first replacement that fails is reported as a
 * start-first one is, and then restarted as after a crash (crash loop included) or, if
 * still starting, left running.
 */
import assert from "node:assert/strict";
import {
  type BackendName,
  type ClusterEvent,
  type ClusterOptions,
  ffiUnavailableReason,
  Interrupted,
  RollingRestartError,
  sleep,
  spawn,
  Supervisor,
  withTimeout,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";
import { denoChildEnv } from "../net/_backends.ts";
import { alive, freePort, request } from "./_load.ts";

const SERVER = new URL("./_server.ts", import.meta.url).pathname;

function orderTest(
  name: string,
  fn: (backend: BackendName) => Promise<void>,
  backends: BackendName[] = ["deno"],
): void {
  for (const backend of backends) {
    const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
    const ci = Deno.env.get("CI") === "true";
    Deno.test({
      name: `${backend}: ${name}${unavailable && !ci ? " (skipped: no FFI shim)" : ""}`,
      ignore: unavailable !== null && !ci,
      sanitizeOps: false, // the supervisor's child processes
      sanitizeResources: false,
      fn: () => fn(backend),
    });
  }
}

/** Two workers of tests/cluster/_server.ts, each owning `<dir>/worker-<id>` exclusively. */
function exclusiveWorkers(
  port: number,
  backend: BackendName,
  dir: string,
  events: ClusterEvent[],
  options: ClusterOptions = {},
): Supervisor {
  return new Supervisor({
    workers: 2,
    command: ["run", "-A", "--unstable-net", SERVER, String(port)],
    env: { SHRAPNEL_BACKEND: backend, CLUSTER_TEST_EXCLUSIVE: dir, ...denoChildEnv() },
    graceSeconds: 5,
    readyTimeout: 20,
    firstBackoff: 0.05,
    onEvent: (e) => events.push(e),
    ...options,
  });
}

/** Each event as "kind id" (and "@old"/"@new" for the given pids), from `from` on. */
function sequence(events: ClusterEvent[], from: number, names: Map<number, string>): string[] {
  return events.slice(from).map((e) => `${e.kind} ${e.id}${names.get(e.pid) ?? ""}`);
}

Deno.test("restartOrder: start-first by default; anything else than the two is refused", () => {
  const command = ["run", "server.ts"];
  assert.equal(new Supervisor({ workers: 1, command }).restartOrder, "start-first");
  assert.equal(
    new Supervisor({ workers: 1, command, restartOrder: "stop-first" }).restartOrder,
    "stop-first",
  );
  assert.throws(
    () =>
      new Supervisor({
        workers: 1,
        command,
        restartOrder: "stop-last" as ClusterOptions["restartOrder"],
      }),
    RangeError,
  );
});

orderTest(
  "start-first cannot replace a worker that owns exclusive state: the restart stops",
  async (backend) => {
    const port = freePort();
    const dir = Deno.makeTempDirSync();
    const events: ClusterEvent[] = [];
    const s = exclusiveWorkers(port, backend, dir, events);
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const before = new Map(s.pids);
        await assert.rejects(s.restart(), RollingRestartError);
        const report = events.find((e) => e.kind === "ready-timeout");
        assert.ok(report, JSON.stringify(events));
        assert.equal(report.id, 1);
        assert.match(report.message, /exited \(code 4\); stopped/);
        assert.deepEqual(s.pids, before, "the owners serve on");
        assert.equal(Deno.readTextFileSync(`${dir}/worker-1`).trim(), String(before.get(1)));
      } finally {
        await s.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    });
  },
);

orderTest(
  "stop-first: each old process is gone before its replacement starts, one worker at a time",
  async (backend) => {
    const port = freePort();
    const dir = Deno.makeTempDirSync();
    const events: ClusterEvent[] = [];
    const s = exclusiveWorkers(port, backend, dir, events, { restartOrder: "stop-first" });
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const before = new Map(s.pids);
        const from = events.length;
        await s.restart();
        const after = new Map(s.pids);
        const names = new Map<number, string>();
        for (const id of [1, 2]) {
          assert.notEqual(after.get(id), before.get(id), `worker ${id} was not replaced`);
          assert.ok(!alive(before.get(id)!), `the old worker ${id} still runs`);
          names.set(before.get(id)!, "@old").set(after.get(id)!, "@new");
          // The exclusive state changed hands: the new process owns it.
          assert.equal(Deno.readTextFileSync(`${dir}/worker-${id}`).trim(), String(after.get(id)));
        }
        // Worker 2 is not touched before worker 1's replacement is ready.
        assert.deepEqual(sequence(events, from, names), [
          "exited 1@old",
          "started 1@new",
          "ready 1@new",
          "exited 2@old",
          "started 2@new",
          "ready 2@new",
        ]);
        for (const e of events.slice(from).filter((e) => e.kind === "exited")) {
          assert.match(e.message, /\(code 0\)/, "the old one drained and exited by itself");
        }
        const served = new Set<number>();
        for (let i = 0; i < 20; i++) {
          const o = await request(port, "/hello");
          assert.ok(o.ok, o.error);
          served.add(o.pid);
        }
        for (const pid of served) assert.ok([...after.values()].includes(pid), `served by ${pid}`);
      } finally {
        await s.stop();
      }
      // Each owner drained at the stop and gave its state up.
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      Deno.removeSync(dir);
    });
  },
  ["ffi", "deno"],
);

orderTest(
  "stop-first: a replacement that exits is reported, restarted as after a crash, given up " +
    "in a crash loop, and tried again by the next restart",
  async (backend) => {
    const port = freePort();
    const dir = Deno.makeTempDirSync();
    const flag = `${dir}/crash`;
    const events: ClusterEvent[] = [];
    const s = exclusiveWorkers(port, backend, dir, events, {
      restartOrder: "stop-first",
      env: {
        SHRAPNEL_BACKEND: backend,
        CLUSTER_TEST_EXCLUSIVE: dir,
        CLUSTER_TEST_CRASH_IF: flag,
        ...denoChildEnv(),
      },
      crashLoopCrashes: 3,
    });
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const before = new Map(s.pids);
        const from = events.length;
        Deno.writeTextFileSync(flag, "");
        await assert.rejects(
          s.restart(),
          (e: unknown) =>
            e instanceof RollingRestartError && /worker 1.*exited \(code 3\)/.test(e.message),
        );
        await withTimeout(15, async () => {
          while (!events.some((e) => e.kind === "crash-loop")) await sleep(0.05);
        });
        await sleep(0.3); // nothing after the crash loop
        const names = new Map([[before.get(1)!, "@old"]]);
        assert.deepEqual(sequence(events, from, names), [
          "exited 1@old",
          "started 1",
          "ready-timeout 1",
          "crashed 1",
          "started 1",
          "crashed 1",
          "started 1",
          "crash-loop 1",
        ]);
        const reported = events.slice(from).find((e) => e.kind === "ready-timeout")!;
        assert.match(reported.message, /exited \(code 3\); restarted as after a crash/);
        assert.deepEqual(
          events.slice(from).filter((e) => e.kind === "crashed").map((e) => e.restartIn),
          [0.05, 0.1],
        );
        // Worker 2 was left as it was; worker 1 has no process.
        assert.deepEqual([...s.pids], [[2, before.get(2)]]);
        // The cause gone, the next rolling restart tries the given-up worker again.
        Deno.removeSync(flag);
        await s.restart();
        await s.waitReady(5);
        assert.equal(s.pids.size, 2);
        for (const [id, pid] of s.pids) assert.notEqual(pid, before.get(id));
      } finally {
        await s.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    });
  },
);

orderTest(
  "stop-first: a replacement never ready is reported and left running; the restart stops there",
  async (backend) => {
    const port = freePort();
    const dir = Deno.makeTempDirSync();
    const flag = `${dir}/hang`;
    const events: ClusterEvent[] = [];
    const s = exclusiveWorkers(port, backend, dir, events, {
      restartOrder: "stop-first",
      // Not exclusive: a hung worker SIGTERMed does not drain, and leaves its file.
      env: { SHRAPNEL_BACKEND: backend, CLUSTER_TEST_HANG_IF: flag, ...denoChildEnv() },
      readyTimeout: 1.5,
      graceSeconds: 1,
    });
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const before = new Map(s.pids);
        Deno.writeTextFileSync(flag, "");
        await assert.rejects(
          s.restart(),
          (e: unknown) =>
            e instanceof RollingRestartError && /not ready within 1.5 s/.test(e.message),
        );
        const reported = events.find((e) => e.kind === "ready-timeout");
        assert.ok(reported, JSON.stringify(events));
        assert.match(reported.message, /left running/);
        assert.ok(!alive(before.get(1)!), "the old worker 1 still runs");
        assert.equal(s.pids.get(1), reported.pid, "the new one is worker 1's");
        assert.ok(alive(reported.pid));
        assert.equal(s.pids.get(2), before.get(2), "worker 2 was left as it was");
        await sleep(0.5);
        assert.equal(events.filter((e) => e.kind === "ready-timeout").length, 1, "said twice");
        assert.deepEqual(events.filter((e) => e.kind === "crashed"), []);
        // The next restart stops the starting one as any old process, and goes through.
        Deno.removeSync(flag);
        await s.restart();
        assert.ok(!alive(reported.pid));
        await s.waitReady(5);
        for (const [id, pid] of s.pids) assert.notEqual(pid, before.get(id));
      } finally {
        await s.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    });
  },
);

orderTest(
  "stop-first, interrupted while the old process drains: its replacement still comes, after it",
  async (backend) => {
    const port = freePort();
    const dir = Deno.makeTempDirSync();
    const events: ClusterEvent[] = [];
    const s = exclusiveWorkers(port, backend, dir, events, { restartOrder: "stop-first" });
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const before = new Map(s.pids);
        // Worker 1 drains requests of 1.5 s (some of 12 are its): the restart is interrupted then.
        const slow = Array.from({ length: 12 }, () => request(port, "/slow?ms=1500"));
        await sleep(0.3);
        const from = events.length;
        const rolling = spawn({ name: "restart" }, () => s.restart());
        await sleep(0.3);
        assert.ok(alive(before.get(1)!), "worker 1 did not drain");
        rolling.interrupt();
        await assert.rejects(rolling.join(), Interrupted);
        for (const o of await Promise.all(slow)) assert.ok(o.ok, `cut: ${o.error}`);
        await withTimeout(15, async () => {
          while (s.pids.get(1) === undefined || s.pids.get(1) === before.get(1)) await sleep(0.05);
          await s.waitReady(15);
        });
        const names = new Map([[before.get(1)!, "@old"], [s.pids.get(1)!, "@new"]]);
        // Never beside it (an owner of exclusive state would have exited with code 4), and
        // worker 2 left as it was.
        assert.deepEqual(sequence(events, from, names), [
          "exited 1@old",
          "started 1@new",
          "ready 1@new",
        ]);
        assert.equal(s.pids.get(2), before.get(2));
      } finally {
        await s.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    });
  },
);
