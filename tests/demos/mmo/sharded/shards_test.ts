/**
 * The sharded field's shards, as real processes under a Supervisor against a real
 * RabbitMQ: the count invariant over many crossings (each wanderer in exactly one shard,
 * the total constant), and a shard killed with SIGKILL restoring its region.
 */
import assert from "node:assert/strict";
import { type BackendName, ffiUnavailableReason, sleep, withTimeout } from "../../../../mod.ts";
import { AmqpConnection, AmqpError } from "../../../../proto/amqp/mod.ts";
import {
  deleteShardQueues,
  RegionTakenError,
  Shard,
  type ShardStatistics,
} from "../../../../demos/mmo/sharded/shard.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import { freePort, withServer } from "../../../_servers.ts";
import { denoChildEnv } from "../../../net/_backends.ts";
import { type Rabbitmq, rabbitmqAvailable, startRabbitmq } from "../../../proto/amqp/_rabbitmq.ts";
import { checkInvariant, crossings, type Field, startField } from "./_field.ts";

/** The permissions of `deno task demo:mmo` (deno.json), to catch one the launcher lacks. */
const DEMO_PERMISSIONS = (() => {
  const tasks = JSON.parse(
    Deno.readTextFileSync(new URL("../../../../deno.json", import.meta.url)),
  ).tasks;
  const command: string = tasks["demo:mmo"].command;
  return command.split(" ").filter((a) => a.startsWith("--") && a !== "--v8-flags");
})();

const servers = await withServer(
  "RabbitMQ",
  rabbitmqAvailable(),
  "apt-get install rabbitmq-server",
  startRabbitmq,
);

function fieldTest(
  name: string,
  body: (port: number, backend: BackendName, broker: Rabbitmq) => Promise<void>,
) {
  for (const backend of ["ffi", "deno"] as BackendName[]) {
    const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
    if (unavailable !== null && Deno.env.get("CI") !== "true") {
      Deno.test({ name: `${backend}: ${name} (skipped: no FFI shim)`, ignore: true, fn() {} });
      continue;
    }
    servers.test(`${backend}: ${name}`, (server) => body(server.port, backend, server));
  }
}

async function withField(
  port: number,
  backend: BackendName,
  body: (field: Field) => Promise<void>,
  options: { snapshotSeconds?: number; durable?: boolean } = {},
): Promise<void> {
  const field = startField(port, backend, options);
  await field.supervisor.start();
  try {
    await field.supervisor.waitReady(30);
    await body(field);
    const from = field.events.length;
    await field.supervisor.stop();
    // A graceful stop: every shard makes its last commit and exits 0.
    const exits = field.events.slice(from).filter((e) => e.kind === "exited");
    assert.equal(exits.length, 4);
    for (const e of exits) assert.match(e.message, /\(code 0\)/);
  } finally {
    await field.supervisor.stop();
    const amqp = await AmqpConnection.connect({ port });
    try {
      await deleteShardQueues(await amqp.channel(), field.namespace, RegionGrid.parse("2x2", 2000));
    } finally {
      await amqp.close();
    }
  }
}

fieldTest(
  "count invariant: each wanderer in exactly one shard over many crossings",
  (port, backend) =>
    withField(port, backend, async (field) => {
      let shards = await checkInvariant(field);
      for (const s of shards) assert.equal(s.restoredFrom, "seed");
      const before = crossings(shards);
      for (let round = 0; round < 3; round++) {
        await sleep(2);
        shards = await checkInvariant(field);
      }
      const crossed = crossings(shards) - before;
      // 200 wanderers at 150-650 px/s in 1000 px regions: hundreds of handoffs in 6 s.
      assert.ok(crossed >= 100, `only ${crossed} crossings`);
      for (const s of shards) {
        assert.ok(s.adoptedFrom.some((n) => n > 0), `${s.region} adopted nobody`);
        assert.equal(s.rejected, 0);
      }
      assert.deepEqual(field.events.filter((e) => e.kind === "crashed"), []);
    }),
);

fieldTest(
  "a shard killed with SIGKILL restores its region; the count stays exact",
  (port, backend) =>
    withField(port, backend, async (field) => {
      await sleep(1.5);
      for (const victim of [1, 4]) {
        const before = (await field.ask("statistics")).find((s) => s.index === victim - 1)!;
        const oldPid = field.supervisor.pids.get(victim)!;
        const killedAt = performance.now();
        Deno.kill(oldPid, "SIGKILL");
        const restored = await restartOf(field, victim, oldPid);
        const recovered = (performance.now() - killedAt) / 1000;
        assert.equal(restored.restoredFrom, "snapshot");
        // Snapshots every 5 s, killed within them: the journal after the last one replayed.
        if (victim === 1) assert.ok(restored.replayed > 0, "no journal entry replayed");
        assert.ok(restored.commits > before.commits, "its commits go on from the snapshot's");
        assert.ok(recovered < 15, `recovered in ${recovered} s`);
        // Rolled back at most to its last commit: exact again once the handoffs settle.
        const shards = await checkInvariant(field);
        assert.equal(shards.find((s) => s.index === victim - 1)!.pid, restored.pid);
        await sleep(1);
      }
      // SIGTERM: a last commit with a snapshot, so the next process replays nothing.
      const oldPid = field.supervisor.pids.get(2)!;
      Deno.kill(oldPid, "SIGTERM");
      const restored = await restartOf(field, 2, oldPid);
      assert.equal(restored.restoredFrom, "snapshot");
      assert.equal(restored.replayed, 0);
      // The supervisor did not ask for it: an unasked exit, restarted as a crash is.
      assert.equal(field.events.filter((e) => e.kind === "crashed").length, 3);
      await checkInvariant(field);
    }, { snapshotSeconds: 5 }),
);

fieldTest(
  "the broker killed and restarted: every shard comes back, the count is exact",
  (port, backend, broker) =>
    withField(port, backend, async (field) => {
      await sleep(1);
      const before = new Map(field.supervisor.pids);
      await broker.restart(); // SIGKILL, then the same port: non-durable queues are gone
      // Each shard lost its connection, exited, and was restarted once; the new ones waited
      // for the broker (not a crash loop) and, their queues gone, began again from the seed.
      const shards = await withTimeout(60, async () => {
        for (;;) {
          await sleep(0.1);
          const all = await field.ask("statistics").catch(() => null);
          if (
            all !== null && all.length === 4 &&
            all.every((s) => s.pid !== before.get(s.index + 1) && s.recoverySeconds !== null)
          ) return all;
        }
      });
      for (const s of shards) assert.equal(s.restoredFrom, "seed");
      assert.deepEqual(field.events.filter((e) => e.kind === "crash-loop"), []);
      await sleep(1);
      await checkInvariant(field);
    }),
);

fieldTest(
  "--durable: the broker killed and restarted, every shard restores its region from its snapshot",
  (port, backend, broker) =>
    withField(port, backend, async (field) => {
      // Snapshots every second: each shard has published some (persistent, to durable
      // queues) and committed handoffs and journal entries since.
      await sleep(2.5);
      let shards = await checkInvariant(field);
      const before = new Map(field.supervisor.pids);
      await broker.restart(); // SIGKILL, then the same port and data: durable queues stay
      shards = await withTimeout(60, async () => {
        for (;;) {
          await sleep(0.1);
          const all = await field.ask("statistics").catch(() => null);
          if (
            all !== null && all.length === 4 &&
            all.every((s) => s.pid !== before.get(s.index + 1) && s.recoverySeconds !== null)
          ) return all;
        }
      });
      // Not the seed (what the non-durable field does, test above): each region came back
      // from its snapshot and the journal after it, with most of the field's wanderers.
      for (const s of shards) assert.equal(s.restoredFrom, "snapshot", `${s.region} from the seed`);
      const held = shards.reduce((n, s) => n + s.wanderers, 0);
      assert.ok(Math.abs(held - field.wanderers) <= 4, `${held} wanderers of ${field.wanderers}`);
      assert.deepEqual(field.events.filter((e) => e.kind === "crash-loop"), []);
      // The exact count is NOT asserted across a broker crash: RabbitMQ's transactions are
      // not atomic across queues (nor within one) when the broker dies, so a commit cut by
      // the SIGKILL may keep its handoff and lose its journal entry (a wanderer in two
      // shards), or the reverse (in none). Seen here: sent/adopted counters off by one
      // between two shards after the restart (ownership exact in those runs). See
      // docs/mmo-sharded.md, "--durable".
      const crossedBefore = crossings(shards);
      await sleep(2);
      shards = await field.ask("statistics");
      assert.ok(crossings(shards) > crossedBefore, "no handoff after the restart");
    }, { durable: true }),
);

fieldTest(
  "a rolling restart (SIGHUP's, stop-first) replaces every shard in turn; the count stays exact",
  (port, backend) =>
    withField(port, backend, async (field) => {
      await sleep(1);
      const before = await checkInvariant(field);
      const pids = new Map(field.supervisor.pids);
      const from = field.events.length;
      const restarting = performance.now();
      await withTimeout(25, () => field.supervisor.restart());
      const took = (performance.now() - restarting) / 1000;
      // One shard at a time, each old process gone (its last commit made) before the next
      // takes its region: no RegionTakenError, no crash, no ready-timeout.
      assert.deepEqual(
        field.events.slice(from).map((e) =>
          `${e.kind} ${e.id}${pids.get(e.id) === e.pid ? "@old" : ""}`
        ),
        [1, 2, 3, 4].flatMap((id) => [`exited ${id}@old`, `started ${id}`, `ready ${id}`]),
      );
      for (const e of field.events.slice(from).filter((e) => e.kind === "exited")) {
        assert.match(e.message, /\(code 0\)/);
      }
      const shards = await withTimeout(15, async () => {
        for (;;) {
          const all = await field.ask("statistics");
          if (all.every((s) => s.recoverySeconds !== null)) return all;
          await sleep(0.05);
        }
      });
      for (const s of shards) {
        const old = before.find((b) => b.index === s.index)!;
        assert.notEqual(s.pid, pids.get(s.index + 1), `${s.region} was not replaced`);
        // Each old shard made a last commit with a snapshot: its successor replays nothing
        // and goes on from its commits.
        assert.equal(s.restoredFrom, "snapshot");
        assert.equal(s.replayed, 0);
        assert.ok(s.commits > old.commits, `${s.region}: commits ${s.commits} <= ${old.commits}`);
      }
      // Every wanderer in exactly one shard, the total constant; and the field moves on.
      const after = await checkInvariant(field);
      await sleep(1);
      assert.ok(crossings(await checkInvariant(field)) > crossings(after), "no crossing since");
      console.log(`rolling restart of 4 shards: ${took.toFixed(2)} s`);
    }),
);

/** The statistics of worker `victim`'s next process once it has committed (15 s at most). */
function restartOf(field: Field, victim: number, oldPid: number): Promise<ShardStatistics> {
  return withTimeout(15, async () => {
    for (;;) {
      await sleep(0.05);
      const pid = field.supervisor.pids.get(victim);
      if (pid === undefined || pid === oldPid) continue;
      const shards = await field.ask("statistics").catch(() => null);
      const s = shards?.find((s) => s.index === victim - 1);
      if (s !== undefined && s.pid === pid && s.recoverySeconds !== null) return s;
    }
  });
}

fieldTest(
  "a second shard for a live region is refused; the region stays whole",
  (port, backend) =>
    withField(port, backend, async (field) => {
      // What a rolling restart would do: another shard of region 0.0 beside its owner.
      await assert.rejects(
        Shard.open({
          grid: RegionGrid.parse("2x2", 2000),
          region: 0,
          size: 2000,
          boxes: 10,
          wanderers: field.wanderers,
          amqp: { port },
          namespace: field.namespace,
          ownershipWaitSeconds: 0.5,
        }),
        RegionTakenError,
      );
      await checkInvariant(field);
    }),
);

servers.test("demo:mmo --shards=2x1 --amqp=...: shards and a gateway; SIGHUP restarts the shards; Ctrl-C stops all, cleans up", async (server) => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...DEMO_PERMISSIONS,
      new URL("../../../../demos/mmo/server.ts", import.meta.url).pathname,
      "--shards=2x1",
      `--amqp=amqp://127.0.0.1:${server.port}`,
      `--port=${port}`,
      "--size=4000",
      "--wanderers=300",
      "--boxes=20",
    ],
    env: denoChildEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const errors: string[] = [];
  const drain = (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return;
      errors.push(value);
    }
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  try {
    await withTimeout(40, async () => {
      while (!out.includes("open http")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the demo ended: ${out}${errors.join("")}`);
        out += value;
      }
    });
    const namespace = /as (mmo\.[0-9a-f]{8}),/.exec(out)![1];
    assert.match(out, /2 shards \(2x1\)/);
    // The gateway adds up both shards' summaries: every wanderer, in two shards.
    const everyWanderer = () =>
      withTimeout(20, async () => {
        for (;;) {
          const stats = await (await fetch(`http://127.0.0.1:${port}/stats`)).json();
          if (stats.shards === 2 && stats.wanderers === 300) return;
          await sleep(0.2);
        }
      });
    await everyWanderer();
    // SIGHUP: both shards restarted in turn (stop-first), and the field whole again.
    const shardPids = () =>
      Deno.readTextFileSync(`/proc/${child.pid}/task/${child.pid}/children`).trim().split(" ")
        .filter((p) => p !== "").map(Number);
    const before = shardPids();
    assert.equal(before.length, 2);
    child.kill("SIGHUP");
    await withTimeout(30, async () => {
      while (!out.includes("rolling restart of 2 shards done")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the demo ended: ${out}${errors.join("")}`);
        out += value;
      }
    });
    const after = shardPids();
    assert.equal(after.length, 2);
    for (const pid of after) assert.ok(!before.includes(pid), "a shard was not replaced");
    assert.doesNotMatch(errors.join(""), /rolling restart failed|RegionTaken/);
    await everyWanderer();
    child.kill("SIGINT");
    const status = await withTimeout(20, () => child.status);
    assert.equal(status.code, 0, errors.join(""));
    // A fresh namespace is the launch's own: its queues are gone with it.
    const amqp = await AmqpConnection.connect({ port: server.port });
    try {
      const ch = await amqp.channel();
      await assert.rejects(
        ch.queueDeclare(`${namespace}.snapshot.0.0`, { passive: true }),
        (e: unknown) => e instanceof AmqpError && e.code === 404,
      );
    } finally {
      await amqp.close();
    }
  } finally {
    // Still running only if the test failed before its Ctrl-C.
    const ended = await Promise.race([child.status.then(() => true), sleep(0).then(() => false)]);
    if (!ended) child.kill("SIGKILL");
    await child.status;
    await lines.cancel();
    await drain;
  }
});

servers.finish();
