/**
 * The rolling-restart checks, run by cluster_test.ts in a private network namespace
 * where net.ipv4.tcp_migrate_req is 1 (see there): the supervisor, its workers and the
 * load generator all in it. Prints "rolling ok ..." and exits 0, or throws.
 *
 * Usage: _rolling_driver.ts api|signal ffi|deno
 */
import assert from "node:assert/strict";
import { type BackendName, sleep, Supervisor } from "../../mod.ts";
import { inThread } from "../_helpers.ts";
import { denoChildEnv } from "../net/_backends.ts";
import { alive, freePort, Load, request, waitServing } from "./_load.ts";

const SERVER = new URL("./_server.ts", import.meta.url).pathname;
const [mode, backend] = Deno.args as ["api" | "signal", BackendName];

/** Supervisor.restart() under a load loop: no request fails, every worker is replaced. */
async function api(): Promise<string> {
  const port = freePort();
  const s = new Supervisor({
    workers: 2,
    command: ["run", "-A", "--unstable-net", SERVER, String(port)],
    env: { SHRAPNEL_BACKEND: backend, ...denoChildEnv() },
    graceSeconds: 5,
    readyTimeout: 20,
  });
  return await inThread(async () => {
    await s.start();
    let load: Load | null = null;
    try {
      await s.waitReady(20);
      const before = new Set(s.pids.values());
      load = new Load(port, "/slow?ms=20", 4);
      await sleep(0.3);
      await s.restart();
      await sleep(0.3);
      const outcomes = await load.stop();
      load = null;
      const failed = outcomes.filter((o) => !o.ok);
      assert.equal(failed.length, 0, `${failed.length} of ${outcomes.length}: ${failed[0]?.error}`);
      const after = [...s.pids.values()];
      assert.equal(after.length, 2);
      for (const pid of after) assert.ok(!before.has(pid), "a worker was not replaced");
      for (const pid of before) assert.ok(!alive(pid), `old worker ${pid} still runs`);
      const last = outcomes.at(-1)!.started;
      const late = outcomes.filter((o) => o.started > last - 200);
      assert.ok(late.every((o) => !before.has(o.pid)), "an old worker served after the restart");
      assert.ok(outcomes.length > 20, `only ${outcomes.length} requests`);
      return `${outcomes.length} requests, 0 failed`;
    } finally {
      await load?.stop();
      await s.stop();
    }
  });
}

/** The program as its own supervisor (`cluster()`): SIGHUP under load, then SIGTERM. */
async function signal(): Promise<string> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", SERVER, String(port), "2"],
    env: { SHRAPNEL_BACKEND: backend, ...denoChildEnv() },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  let load: Load | null = null;
  try {
    await waitServing(port, 20);
    const seen = async (want: (pids: Set<number>) => boolean, seconds: number) => {
      const deadline = performance.now() + seconds * 1000;
      for (;;) {
        const recent = new Set(load!.outcomes.slice(-40).filter((o) => o.ok).map((o) => o.pid));
        if (recent.size > 0 && want(recent)) return recent;
        if (performance.now() > deadline) throw new Error(`not seen: ${[...recent]}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    load = new Load(port, "/slow?ms=10", 4);
    const before = await seen((p) => p.size === 2, 10);
    child.kill("SIGHUP");
    await seen((p) => [...p].every((pid) => !before.has(pid)) && p.size === 2, 30);
    for (const pid of before) {
      const deadline = performance.now() + 10_000;
      while (alive(pid) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(!alive(pid), `old worker ${pid} still runs`);
    }
    const outcomes = await load.stop();
    load = null;
    const failed = outcomes.filter((o) => !o.ok);
    assert.equal(failed.length, 0, `${failed.length} of ${outcomes.length}: ${failed[0]?.error}`);
    const workers = new Set(outcomes.slice(-20).map((o) => o.pid));
    const slow = Array.from({ length: 4 }, () => request(port, "/slow?ms=600"));
    await new Promise((r) => setTimeout(r, 200));
    child.kill("SIGTERM");
    for (const o of await Promise.all(slow)) assert.ok(o.ok, `cut by SIGTERM: ${o.error}`);
    const status = await child.status;
    assert.equal(status.code, 0);
    for (const pid of workers) assert.ok(!alive(pid), `worker ${pid} outlived its supervisor`);
    return `${outcomes.length} requests through SIGHUP, 0 failed; SIGTERM cut none`;
  } finally {
    await load?.stop();
    try {
      child.kill("SIGKILL");
    } catch { /* exited already */ }
    await child.status;
  }
}

assert.equal(Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_migrate_req").trim(), "1");
console.log(`rolling ok (${mode}, ${backend}): ${mode === "api" ? await api() : await signal()}`);
