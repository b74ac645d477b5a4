/**
 * A shard with more wanderers than it can step at full rate (here 20k wanderers at a
 * step per millisecond: 20 million steps/s asked of one process): it must still finish its
 * setup, answer the supervisor, commit, and keep its broker connection, stepping its
 * wanderers slower than asked rather than losing the broker.
 */
import assert from "node:assert/strict";
import { type BackendName, ffiUnavailableReason, sleep } from "../../../../mod.ts";
import { AmqpConnection } from "../../../../proto/amqp/mod.ts";
import { deleteShardQueues } from "../../../../demos/mmo/sharded/shard.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import { withServer } from "../../../_servers.ts";
import { rabbitmqAvailable, startRabbitmq } from "../../../proto/amqp/_rabbitmq.ts";
import { startField } from "./_field.ts";

const servers = await withServer(
  "RabbitMQ",
  rabbitmqAvailable(),
  "apt-get install rabbitmq-server",
  startRabbitmq,
);

for (const backend of ["ffi", "deno"] as BackendName[]) {
  const name = "an overloaded shard still gets ready, commits and keeps its broker";
  const unavailable = backend === "ffi" ? ffiUnavailableReason() : null;
  if (unavailable !== null && Deno.env.get("CI") !== "true") {
    Deno.test({ name: `${backend}: ${name} (skipped: no FFI shim)`, ignore: true, fn() {} });
    continue;
  }
  servers.test(`${backend}: ${name}`, async (server) => {
    const wanderers = 20000;
    const field = startField(server.port, backend, {
      shards: "1x1",
      wanderers,
      stepSeconds: 0.001,
      readyTimeout: 20,
    });
    const started = performance.now();
    await field.supervisor.start();
    try {
      await field.supervisor.waitReady(20);
      const ready = (performance.now() - started) / 1000;
      assert.ok(ready < 20, `ready after ${ready} s`);
      let [s] = await field.ask("statistics");
      const pid = s.pid;
      assert.equal(s.wanderers, wanderers);
      // Its commits go on (each a broker round trip) and its connection stays, for 10 s
      // (the heartbeat is 10 s: the broker drops a client silent for 20 s).
      const commits0 = s.commits, steps0 = s.steps, t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        await sleep(2);
        [s] = await field.ask("statistics");
        assert.equal(s.pid, pid, "the shard was restarted");
      }
      const elapsed = (performance.now() - t0) / 1000;
      const commits = s.commits - commits0, steps = s.steps - steps0;
      // Commits every 0.1 s asked; overloaded (and on a loaded machine) each of the commit's
      // round trips waits behind a batch of wanderers: at least one every 2 s.
      assert.ok(commits >= elapsed / 2, `${commits} commits in ${elapsed} s`);
      assert.ok(steps > 0, "no steps");
      // It steps slower than asked, and says how much slower.
      const rate = steps / elapsed / (wanderers / 0.001);
      assert.ok(rate < 1, `stepping at ${rate} of full rate`);
      assert.ok(s.rate !== null && s.rate < 1, `rate reported: ${s.rate}`);
      assert.deepEqual(field.events.filter((e) => e.kind === "crashed"), []);
      const from = field.events.length;
      await field.supervisor.stop();
      const exits = field.events.slice(from).filter((e) => e.kind === "exited");
      assert.equal(exits.length, 1);
      assert.match(exits[0].message, /\(code 0\)/);
    } finally {
      await field.supervisor.stop();
      const amqp = await AmqpConnection.connect({ port: server.port });
      try {
        await deleteShardQueues(
          await amqp.channel(),
          field.namespace,
          RegionGrid.parse("1x1", 2000),
        );
      } finally {
        await amqp.close();
      }
    }
  });
}
servers.finish();
