/**
 * The cluster supervisor with real worker processes on loopback: statistics over the
 * control channel, kill -9 under load, a rolling restart under load with no failed
 * request, a graceful stop that cuts no request, a crash loop given up on, and the same
 * through `cluster()`'s signals (SIGHUP, SIGTERM) in a supervisor process.
 */
import assert from "node:assert/strict";
import {
  type BackendName,
  type ClusterEvent,
  connectTo,
  CrashLoopError,
  ffiUnavailableReason,
  RollingRestartError,
  sleep,
  type Socket,
  Supervisor,
  withTimeout,
} from "../../mod.ts";
import { inThread } from "../_helpers.ts";
import { denoChildEnv } from "../net/_backends.ts";
import { alive, freePort, Load, request, waitServing } from "./_load.ts";

const SERVER = new URL("./_server.ts", import.meta.url).pathname;

function supervisor(
  port: number,
  backend: BackendName,
  options: { workers?: number; env?: Record<string, string>; events?: ClusterEvent[] } = {},
): Supervisor {
  return new Supervisor({
    workers: options.workers ?? 2,
    command: ["run", "-A", "--unstable-net", SERVER, String(port)],
    env: { SHRAPNEL_BACKEND: backend, ...denoChildEnv(), ...options.env },
    graceSeconds: 5,
    readyTimeout: 20,
    firstBackoff: 0.05,
    onEvent: (e) => options.events?.push(e),
  });
}

/** Registers the test per backend of the workers (ffi skipped, and said, without a shim). */
function clusterTest(
  name: string,
  fn: (backend: BackendName) => Promise<void>,
  backends: BackendName[] = ["ffi", "deno"],
): void {
  for (const backend of backends) {
    const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
    const ci = Deno.env.get("CI") === "true";
    Deno.test({
      name: `${backend}: ${name}${unavailable && !ci ? " (skipped: no FFI shim)" : ""}`,
      ignore: unavailable !== null && !ci,
      sanitizeOps: false, // the supervisor's child processes and the load's plain sockets
      sanitizeResources: false,
      fn: () => fn(backend),
    });
  }
}

clusterTest(
  "workers report statistics and thread dumps over a 0600 control socket",
  async (backend) => {
    const port = freePort();
    const s = supervisor(port, backend);
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        assert.equal(Deno.statSync(s.controlPath).mode! & 0o777, 0o600);
        assert.equal(
          Deno.statSync(s.controlPath.slice(0, s.controlPath.lastIndexOf("/"))).mode! & 0o777,
          0o700,
        );
        for (let i = 0; i < 20; i++) assert.ok((await request(port, "/hello")).ok);
        const reports = await s.statistics();
        assert.deepEqual(reports.map((r) => r.id), [1, 2]);
        let requests = 0;
        for (const r of reports) {
          assert.equal(r.error, undefined);
          const value = r.value as { id: number; pid: number; requests: number };
          assert.equal(value.id, r.id);
          assert.equal(value.pid, r.pid);
          assert.equal(s.pids.get(r.id), r.pid);
          requests += value.requests;
        }
        assert.equal(requests, 20);
        const dumps = await s.threadDumps();
        for (const d of dumps) {
          const threads = d.value as { name: string }[];
          assert.ok(threads.some((t) => t.name === "main"), JSON.stringify(threads));
        }
        // The program's own questions: answered, a throw reported, an unknown one refused.
        for (const r of await s.ask("whoami")) assert.deepEqual(r.value, { id: r.id, pid: r.pid });
        for (const r of await s.ask("broken")) assert.match(r.error!, /cannot say/);
        for (const r of await s.ask("toString")) assert.match(r.error!, /unknown question/);
      } finally {
        await s.stop();
      }
      assert.throws(() => Deno.statSync(s.controlPath), Deno.errors.NotFound);
    });
  },
  ["ffi"],
);

clusterTest(
  "kill -9 a worker under load: only its requests in flight fail, it comes back",
  async (backend) => {
    const port = freePort();
    const events: ClusterEvent[] = [];
    const s = supervisor(port, backend, { events });
    await inThread(async () => {
      await s.start();
      let load: Load | null = null;
      try {
        await s.waitReady(20);
        load = new Load(port, "/slow?ms=100", 6);
        await sleep(0.5);
        const victim = s.pids.get(1)!;
        const killedAt = performance.now();
        Deno.kill(victim, "SIGKILL");
        // Gone when the supervisor reaps it: all its threads ended, its listener closed
        // (/proc shows the process a zombie while its other threads still exit).
        let goneAt = 0;
        await withTimeout(10, async () => {
          while (!events.some((e) => e.kind === "crashed" && e.pid === victim)) await sleep(0.005);
          goneAt = performance.now();
        });
        // It comes back, and serves.
        await withTimeout(15, async () => {
          while (!load!.outcomes.some((o) => o.ok && o.id === 1 && o.pid !== victim)) {
            await sleep(0.05);
          }
        });
        const outcomes = await load.stop();
        load = null;
        const failed = outcomes.filter((o) => !o.ok);
        // Only what the dead worker had in flight failed: requests it was serving (100 ms
        // each) and connections queued on its listener until the kernel closed it.
        for (const f of failed) {
          assert.ok(f.started <= goneAt, `a request after the death failed: ${f.error}`);
          assert.ok(
            f.started >= killedAt - 1000,
            `a request long before the kill failed: ${f.error}`,
          );
        }
        assert.ok(
          failed.length < outcomes.length / 4,
          `${failed.length} of ${outcomes.length} failed`,
        );
        assert.ok(outcomes.filter((o) => o.ok && o.started > killedAt).length > 0);
        const crash = events.find((e) => e.kind === "crashed" && e.pid === victim);
        assert.ok(crash, JSON.stringify(events));
        assert.equal(crash.restartIn, 0.05);
        assert.notEqual(s.pids.get(1), victim);
      } finally {
        await load?.stop();
        await s.stop();
      }
    });
  },
);

clusterTest("stop drains: requests in flight finish, the workers exit", async (backend) => {
  const port = freePort();
  const s = supervisor(port, backend);
  await inThread(async () => {
    await s.start();
    await s.waitReady(20);
    const pids = [...s.pids.values()];
    const inFlight = Array.from({ length: 6 }, () => request(port, "/slow?ms=800"));
    await sleep(0.3);
    const stopping = performance.now();
    await s.stop();
    const outcomes = await Promise.all(inFlight);
    for (const o of outcomes) assert.ok(o.ok, `a request was cut: ${o.error}`);
    assert.ok(performance.now() - stopping < 4000, "the drain waited past its requests");
    for (const pid of pids) assert.ok(!alive(pid));
    assert.equal((await request(port, "/hello", 2000)).ok, false);
  });
});

clusterTest("a crash loop is detected and given up on, not spun", async (backend) => {
  const port = freePort();
  const events: ClusterEvent[] = [];
  const s = new Supervisor({
    workers: 1,
    command: ["run", "-A", "--unstable-net", SERVER, String(port)],
    env: { SHRAPNEL_BACKEND: backend, CLUSTER_TEST_CRASH: "1", ...denoChildEnv() },
    firstBackoff: 0.05,
    crashLoopCrashes: 3,
    onEvent: (e) => events.push(e),
  });
  await inThread(async () => {
    await s.start();
    await assert.rejects(withTimeout(20, () => s.done()), CrashLoopError);
    assert.deepEqual(events.map((e) => e.kind), [
      "started",
      "crashed",
      "started",
      "crashed",
      "started",
      "crash-loop",
    ]);
    assert.deepEqual(events.filter((e) => e.kind === "crashed").map((e) => e.restartIn), [
      0.05,
      0.1,
    ]);
    assert.match(events.at(-1)!.message, /code 3/);
    await sleep(0.3);
    assert.equal(events.length, 6, "restarted after giving up");
  });
}, ["deno"]);

/**
 * A rolling restart is free of failed requests when the kernel migrates the connections
 * queued on a closing reuseport listener to the listeners left (net.ipv4.tcp_migrate_req,
 * Linux >= 5.14; without it a connection queued at that instant is reset: see
 * docs/cluster.md). The setting is per network namespace: these tests run the supervisor,
 * its workers and the load generator in a private one where it is on (root and unshare
 * needed: skipped, and said, without them, except under CI=true).
 */
function netnsTest(name: string, mode: "api" | "signal"): void {
  const unavailable = netnsUnavailable();
  const ci = Deno.env.get("CI") === "true";
  for (const backend of ["ffi", "deno"] as const) {
    const noShim = backend === "ffi" ? ffiUnavailableReason() : null;
    const skip = (unavailable ?? (noShim && "no FFI shim")) as string | null;
    Deno.test({
      name: `${backend}: ${name}${skip && !ci ? ` (skipped: ${skip})` : ""}`,
      ignore: skip !== null && !ci,
      fn: async () => {
        if (skip !== null) throw new Error(`under CI: ${skip}`);
        const script = "ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=1 && " +
          'exec "$0" "$@"';
        const args = ["run", "-A", "--unstable-net", DRIVER, mode, backend];
        const out = await new Deno.Command("unshare", {
          args: ["--net", "sh", "-c", script, Deno.execPath(), ...args],
          env: denoChildEnv(),
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, text);
        assert.match(text, /^rolling ok/m);
      },
    });
  }
}

function netnsUnavailable(): string | null {
  if (Deno.uid() !== 0) return "not root: a private network namespace needs it";
  try {
    const probe = new Deno.Command("unshare", { args: ["--net", "true"], stderr: "null" })
      .outputSync();
    return probe.success ? null : "unshare --net failed";
  } catch {
    return "no unshare";
  }
}

const DRIVER = new URL("./_rolling_driver.ts", import.meta.url).pathname;

netnsTest("a rolling restart under load fails no request", "api");
netnsTest(
  "cluster(): SIGHUP rolls the workers under load with no failed request, SIGTERM drains",
  "signal",
);

clusterTest(
  "the control socket turns away a connection that is not one of its workers",
  async (backend) => {
    const port = freePort();
    const s = supervisor(port, backend, { workers: 1 });
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const forgeries = [
          `{"type":"ready","id":1,"pid":1}\n`, // not a pid of ours
          `{"type":"ready","id":1,"pid":${s.pids.get(1)}}\n`, // its pid, but it has joined already
          "not json\n",
          `{"type":"reply","seq":1,"value":0}\n`, // a reply before any hello
        ];
        for (const line of forgeries) {
          const conn = await connectTo(s.controlPath);
          try {
            await conn.send(new TextEncoder().encode(line));
            const answer = await withTimeout(5, () => conn.recv(100));
            assert.equal(answer.length, 0, `not closed after ${line}`);
          } finally {
            conn.close();
          }
        }
        const [report] = await s.statistics();
        assert.equal(report.error, undefined, "the real worker lost its channel");
      } finally {
        await s.stop();
      }
    });
  },
  ["deno"],
);

clusterTest(
  "a replacement that is never ready stops the rolling restart; the old worker serves on",
  async (backend) => {
    const port = freePort();
    const flag = Deno.makeTempFileSync() + ".hang";
    const s = new Supervisor({
      workers: 2,
      command: ["run", "-A", "--unstable-net", SERVER, String(port)],
      env: { SHRAPNEL_BACKEND: backend, CLUSTER_TEST_HANG_IF: flag, ...denoChildEnv() },
      readyTimeout: 1.5,
      graceSeconds: 1,
      onEvent: () => {},
    });
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const before = [...s.pids.values()];
        Deno.writeTextFileSync(flag, "");
        await assert.rejects(s.restart(), RollingRestartError);
        assert.deepEqual([...s.pids.values()], before);
        for (const pid of before) assert.ok(alive(pid));
        const served = new Set<number>();
        for (let i = 0; i < 30; i++) {
          const o = await request(port, "/hello");
          assert.ok(o.ok, o.error);
          served.add(o.pid);
        }
        for (const pid of served) assert.ok(before.includes(pid), `served by the hung ${pid}`);
      } finally {
        Deno.removeSync(flag);
        await s.stop();
      }
    });
  },
  ["deno"],
);

clusterTest("workers of a supervisor killed with SIGKILL stop by themselves", async (backend) => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", SERVER, String(port), "2"],
    env: { SHRAPNEL_BACKEND: backend, ...denoChildEnv() },
    stdin: "null",
  }).spawn();
  try {
    await waitServing(port, 20);
    let workers: number[] = [];
    const deadline = performance.now() + 20_000;
    while (workers.length < 2 && performance.now() < deadline) {
      workers = Deno.readTextFileSync(`/proc/${child.pid}/task/${child.pid}/children`).trim()
        .split(" ").filter((p) => p !== "").map(Number);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(workers.length, 2);
    // Both joined (not still connecting, which would fail and exit otherwise): the path
    // under test is the control connection's end.
    const joined = performance.now() + 20_000;
    const answering = new Set<number>();
    while (answering.size < 2 && performance.now() < joined) {
      const o = await request(port, "/hello");
      if (o.ok) answering.add(o.pid);
    }
    await new Promise((r) => setTimeout(r, 1000));
    child.kill("SIGKILL");
    await child.status;
    const gone = performance.now() + 10_000;
    while (workers.some(alive) && performance.now() < gone) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(workers.filter(alive), [], "orphaned workers still run");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
  }
}, ["ffi"]);

clusterTest("a worker that never reports ready is reported, and left running", async (backend) => {
  const port = freePort();
  const flag = Deno.makeTempFileSync();
  const events: ClusterEvent[] = [];
  const s = new Supervisor({
    workers: 1,
    command: ["run", "-A", "--unstable-net", SERVER, String(port)],
    env: { SHRAPNEL_BACKEND: backend, CLUSTER_TEST_HANG_IF: flag, ...denoChildEnv() },
    readyTimeout: 1,
    graceSeconds: 1,
    onEvent: (e) => events.push(e),
  });
  await inThread(async () => {
    await s.start();
    try {
      await withTimeout(15, async () => {
        while (!events.some((e) => e.kind === "ready-timeout")) await sleep(0.05);
      });
      const event = events.find((e) => e.kind === "ready-timeout")!;
      assert.match(event.message, /joinCluster/);
      assert.ok(alive(event.pid));
      assert.equal(s.pids.get(1), event.pid);
    } finally {
      Deno.removeSync(flag);
      await s.stop();
    }
  });
}, ["deno"]);

/** A backdoor session's output up to its next prompt. */
async function untilPrompt(socket: Socket): Promise<string> {
  let out = "";
  return await withTimeout(10, async () => {
    while (!out.endsWith(">>> ")) {
      const piece = await socket.recv(4096);
      if (piece.length === 0) throw new Error(`backdoor closed; had: ${out}`);
      out += new TextDecoder().decode(piece);
    }
    return out.slice(0, -4);
  });
}

async function evalIn(path: string, expression: string): Promise<string> {
  const socket = await connectTo(path);
  try {
    await untilPrompt(socket);
    await socket.send(new TextEncoder().encode(`${expression}\n`));
    return (await untilPrompt(socket)).trim();
  } finally {
    socket.close();
  }
}

clusterTest("the backdoor enters a worker by id, across a rolling restart", async (backend) => {
  const port = freePort();
  const dir = Deno.makeTempDirSync();
  const s = new Supervisor({
    workers: 2,
    command: ["run", "-A", "--unstable-net", SERVER, String(port)],
    env: { SHRAPNEL_BACKEND: backend, ...denoChildEnv() },
    backdoorDir: dir,
    graceSeconds: 5,
    onEvent: () => {},
  });
  await inThread(async () => {
    await s.start();
    try {
      await s.waitReady(20);
      for (const id of [1, 2]) {
        assert.equal(await evalIn(`${dir}/worker-${id}`, "id"), String(id));
        assert.equal(await evalIn(`${dir}/worker-${id}`, "Deno.pid"), String(s.pids.get(id)));
      }
      const old = s.pids.get(2);
      await s.restart();
      assert.notEqual(s.pids.get(2), old);
      assert.equal(await evalIn(`${dir}/worker-2`, "Deno.pid"), String(s.pids.get(2)));
      Deno.kill(s.pids.get(1)!, "SIGKILL");
      const killed = s.pids.get(1)!;
      await withTimeout(15, async () => {
        while (s.pids.get(1) === killed || s.pids.get(1) === undefined) await sleep(0.05);
        await s.waitReady(15);
      });
      assert.equal(await evalIn(`${dir}/worker-1`, "Deno.pid"), String(s.pids.get(1)));
    } finally {
      await s.stop();
    }
    // What is left: the links (dangling), no socket files.
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, ["worker-1", "worker-2"]);
    Deno.removeSync(dir, { recursive: true });
  });
}, ["deno"]);
