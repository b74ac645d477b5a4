/**
 * Rolling restarts requested while one is under way (SIGHUP, deploy, SIGHUP again), with
 * real worker processes: each such request runs a restart after the one under way (the
 * requests made during one restart are coalesced into a single follow-up), so every
 * worker ends up started after the last request, and every caller's promise resolves.
 */
import assert from "node:assert/strict";
import { type ClusterEvent, Interrupted, sleep, spawn, Supervisor } from "../../mod.ts";
import { inThread } from "../_helpers.ts";
import { denoChildEnv } from "../net/_backends.ts";
import { alive, freePort } from "./_load.ts";

const SERVER = new URL("./_server.ts", import.meta.url).pathname;

/** Waits (at most 20 s) until `events` has `count` events of `kind` from `from` on. */
async function waitEvents(
  events: ClusterEvent[],
  from: number,
  kind: ClusterEvent["kind"],
  count: number,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (events.slice(from).filter((e) => e.kind === kind).length < count) {
    assert.ok(Date.now() < deadline, `no ${count} "${kind}": ${JSON.stringify(events)}`);
    await sleep(0.02);
  }
}

/** Two workers of tests/cluster/_server.ts, their events pushed on `events`. */
function twoWorkers(events: ClusterEvent[]): Supervisor {
  return new Supervisor({
    workers: 2,
    command: ["run", "-A", "--unstable-net", SERVER, String(freePort())],
    env: { SHRAPNEL_BACKEND: "deno", ...denoChildEnv() },
    graceSeconds: 5,
    readyTimeout: 20,
    onEvent: (e) => events.push(e),
  });
}

Deno.test({
  name: "restart() during a restart: runs once more after it, the requests during it coalesced",
  sanitizeOps: false, // the supervisor's child processes
  sanitizeResources: false,
  fn: async () => {
    const events: ClusterEvent[] = [];
    const s = twoWorkers(events);
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const from = events.length;
        // Each request from a thread of its own, as a SIGHUP listener makes it.
        const request = (name: string, then = () => {}) =>
          spawn({ name }, async () => {
            await s.restart();
            then();
          });
        const first = request("restart 1");
        // The second request comes after worker 1 has been replaced, before worker 2 has.
        await waitEvents(events, from, "ready", 1);
        const seenBySecond = new Map(s.pids);
        const afterSecond = new Map<number, number>();
        const second = request("restart 2", () => {
          for (const [id, pid] of s.pids) afterSecond.set(id, pid);
        });
        await first.join();
        // The second restart is under way (its first replacement started): two more requests.
        await waitEvents(events, from, "started", 3);
        const seenByLast = new Map(s.pids);
        const third = request("restart 3");
        const fourth = request("restart 4");
        for (const t of [second, third, fourth]) await t.join();
        const after = new Map(s.pids);
        assert.equal(afterSecond.size, 2);
        for (const id of [1, 2]) {
          assert.notEqual(afterSecond.get(id), seenBySecond.get(id), `worker ${id}: 2nd`);
          assert.notEqual(after.get(id), seenByLast.get(id), `worker ${id}: not replaced last`);
          assert.ok(!alive(seenByLast.get(id)!), `the old worker ${id} still runs`);
        }
        // Three passes over the two workers: the third and fourth requests made one.
        const kinds = events.slice(from).map((e) => `${e.kind} ${e.id}`);
        assert.equal(kinds.filter((k) => k.startsWith("started")).length, 6, kinds.join());
        assert.deepEqual(
          events.slice(from).filter((e) => e.kind === "ready-timeout" || e.kind === "crashed"),
          [],
        );
      } finally {
        await s.stop();
      }
    });
  },
});

Deno.test({
  name: "restart() during a restart, its caller interrupted: it stops waiting, the restart goes on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const events: ClusterEvent[] = [];
    const s = twoWorkers(events);
    await inThread(async () => {
      await s.start();
      try {
        await s.waitReady(20);
        const from = events.length;
        const first = spawn({ name: "restart 1" }, () => s.restart());
        await waitEvents(events, from, "started", 1);
        const seen = new Map(s.pids);
        const second = spawn({ name: "restart 2" }, () => s.restart());
        await sleep(0.05);
        second.interrupt();
        await assert.rejects(second.join(), Interrupted);
        await first.join();
        // The follow-up still replaces both workers.
        await waitEvents(events, from, "ready", 4);
        for (let i = 0; i < 100 && s.pids.get(2) === seen.get(2); i++) await sleep(0.02);
        for (const id of [1, 2]) assert.notEqual(s.pids.get(id), seen.get(id), `worker ${id}`);
        // A later request is served as well: one more pass.
        const third = spawn({ name: "restart 3" }, () => s.restart());
        await third.join();
        const kinds = events.slice(from).map((e) => `${e.kind} ${e.id}`);
        assert.equal(kinds.filter((k) => k.startsWith("started")).length, 6, kinds.join());
      } finally {
        await s.stop();
      }
    });
  },
});
