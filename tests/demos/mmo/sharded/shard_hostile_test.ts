/**
 * A shard against what anyone who can publish on its broker may put in its queues: messages
 * that are not its own are reported and dropped, never adopted, never fatal, never a shard
 * that cannot start again. Shards in this process, on a real RabbitMQ.
 */
import assert from "node:assert/strict";
import { Event, sleep, spawn } from "../../../../mod.ts";
import { AmqpConnection } from "../../../../proto/amqp/mod.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import {
  deleteShardQueues,
  Shard,
  type ShardOptions,
  shardQueues,
} from "../../../../demos/mmo/sharded/shard.ts";
import { encodeHandoff, StateCodecError } from "../../../../demos/mmo/sharded/state_codec.ts";
import { startFramePublisher } from "../../../../demos/mmo/sharded/frames.ts";
import {
  encodeInterest,
  interestExchange,
  interestKey,
} from "../../../../demos/mmo/sharded/wire.ts";
import { startShardedField } from "../../../../demos/mmo/sharded/launch.ts";
import { withServer } from "../../../_servers.ts";
import { rabbitmqAvailable, startRabbitmq } from "../../../proto/amqp/_rabbitmq.ts";

const servers = await withServer(
  "RabbitMQ",
  rabbitmqAvailable(),
  "apt-get install rabbitmq-server",
  startRabbitmq,
);

const SIZE = 2000, WANDERERS = 100;

function options(port: number, namespace: string, grid: RegionGrid): ShardOptions {
  return {
    grid,
    region: 0,
    amqp: { port },
    namespace,
    size: SIZE,
    boxes: 10,
    seed: 1,
    wanderers: WANDERERS,
    stepSeconds: 0.05,
    commitSeconds: 0.1,
    ownershipWaitSeconds: 2,
  };
}

/** Waits (bounded) until `check` holds. */
async function until(what: string, seconds: number, check: () => boolean): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(0.05);
  }
}

/** Runs `body` with a connection to the broker; deletes the namespace's queues after. */
async function withBroker(
  port: number,
  grid: RegionGrid,
  body: (amqp: AmqpConnection, namespace: string) => Promise<void>,
): Promise<void> {
  const namespace = `test.${crypto.randomUUID().slice(0, 8)}`;
  const amqp = await AmqpConnection.connect({ port });
  try {
    await body(amqp, namespace);
  } finally {
    try {
      await deleteShardQueues(await amqp.channel(), namespace, grid);
    } finally {
      await amqp.close();
    }
  }
}

servers.test(
  "shard: garbage in its journal queue is reported and dropped at a restart, not a shard that cannot start",
  async (server) => {
    const grid = RegionGrid.parse("1x1", SIZE);
    await withBroker(server.port, grid, async (amqp, namespace) => {
      const ch = await amqp.channel();
      const q = shardQueues(namespace, "0.0");
      await ch.queueDeclare(q.journal);
      await ch.publish("", q.journal, "not a journal entry");
      const shard = await Shard.open(options(server.port, namespace, grid));
      try {
        const s = shard.statistics();
        assert.equal(s.wanderers, WANDERERS, "restored from the seed, the garbage aside");
        assert.equal(s.rejected, 1);
      } finally {
        await shard.close();
      }
    });
  },
);

servers.test(
  "shard: a well-formed handoff of wanderers not of this field (ids past its population, to another region) is dropped, not adopted",
  async (server) => {
    const grid = RegionGrid.parse("2x1", SIZE);
    await withBroker(server.port, grid, async (amqp, namespace) => {
      const shard = await Shard.open(options(server.port, namespace, grid));
      const stop = new Event();
      const runner = spawn(() => shard.run(() => stop.wait()));
      try {
        await until("the first commit", 5, () => shard.statistics().commits > 0);
        shard.hold(true); // nothing leaves: the count moves only by what comes in
        await until("held", 5, () => shard.statistics().held);
        const before = shard.statistics().wanderers;
        const ch = await amqp.channel();
        const alien = (id: number) => ({
          id,
          generation: 1,
          fx: 100 * 256,
          fy: 100 * 256,
          dx: 0,
          dy: 0,
          stepsLeft: 0,
          color: 1,
        });
        const handoff = shardQueues(namespace, "0.0").handoff;
        // 5000 ids the field never had (it has 1..100): a shard that adopts them holds
        // whatever anyone sends.
        const many = Array.from({ length: 5000 }, (_, i) => alien(1_000_000 + i));
        await ch.publish("", handoff, encodeHandoff({ from: 1, to: 0, wanderers: many }));
        // Addressed to another region, or from a region the grid does not have.
        await ch.publish("", handoff, encodeHandoff({ from: 0, to: 1, wanderers: [alien(5)] }));
        await ch.publish("", handoff, encodeHandoff({ from: 9, to: 0, wanderers: [alien(6)] }));
        await until("all three reported", 5, () => shard.statistics().rejected === 3);
        assert.equal(shard.statistics().wanderers, before);
      } finally {
        stop.set();
        await runner.join();
        await shard.close();
      }
    });
  },
);

servers.test(
  "frames: interest listing one tile 65535 times from many gateways costs a tile each, not 65535 (no stalled shard)",
  async (server) => {
    const grid = RegionGrid.parse("1x1", 4096);
    await withBroker(server.port, grid, async (amqp, namespace) => {
      const world = { size: 4096, steps: 0, movers: { size: 0, forEachIn() {} } };
      const publisher = await startFramePublisher(world, amqp, grid.regions[0], {
        grid,
        seed: 1,
        boxes: 10,
        namespace,
        tileSize: 512,
      });
      try {
        const ch = await amqp.channel();
        const tiles = new Array(65535).fill(65536 + 1); // tile (1, 1), over and over
        const gateways = 150;
        for (let g = 1; g <= gateways; g++) {
          await ch.publish(
            interestExchange(namespace),
            interestKey("0.0"),
            encodeInterest({ gateway: BigInt(g), leaseMs: 30_000, tiles }),
          );
        }
        // Each message held 65535 tiles per gateway and walked them all for every gateway:
        // 150 messages, ~740 million steps, the shard's thread stalled for many seconds.
        await until(
          "every gateway's interest",
          8,
          () => publisher.statistics().gateways === gateways,
        );
        assert.equal(publisher.statistics().watchedTiles, 1);
      } finally {
        await publisher.stop();
      }
    });
  },
);

servers.test(
  "shard: state of a grid of another shape with as many regions (2x2, then 4x1) is refused, not restored into another region",
  async (server) => {
    const square = RegionGrid.parse("2x2", SIZE), row = RegionGrid.parse("4x1", SIZE);
    await withBroker(server.port, square, async (amqp, namespace) => {
      // Region "1.0" is index 1 of 4 in both grids, but not the same square of the world.
      const first = await Shard.open({ ...options(server.port, namespace, square), region: 1 });
      const stop = new Event();
      const runner = spawn(() => first.run(() => stop.wait()));
      try {
        await until("a snapshot", 5, () => first.statistics().snapshotCommit > 0);
      } finally {
        stop.set();
        await runner.join();
        await first.close();
      }
      try {
        await assert.rejects(
          Shard.open({ ...options(server.port, namespace, row), region: 1 }),
          StateCodecError,
        );
      } finally {
        await deleteShardQueues(await amqp.channel(), namespace, row);
      }
    });
  },
);

for (const backend of ["ffi", "deno"]) {
  servers.test(
    `launch (shards on the ${backend} backend): they join the cluster; the broker's password is not on their command lines (any local user reads those)`,
    async (server) => {
      // SHRAPNEL_BACKEND in the shards' own environment picks theirs (deno is also what a
      // machine without the FFI shim gets); not set in this process, whose other tests'
      // children would inherit it meanwhile.
      const field = await startShardedField({
        shards: "1x1",
        amqp: `amqp://guest:guest@127.0.0.1:${server.port}`,
        listen: null,
        size: SIZE,
        wanderers: 10,
        boxes: 10,
        readyTimeout: 15,
        env: { SHRAPNEL_BACKEND: backend },
      });
      try {
        const reports = await field.supervisor.statistics();
        assert.equal(reports.length, 1);
        const cmdline = await Deno.readTextFile(`/proc/${reports[0].pid}/cmdline`);
        assert.ok(cmdline.includes("shard.ts"), cmdline);
        assert.ok(!cmdline.includes("guest:guest"), cmdline.replaceAll("\0", " "));
        assert.equal((reports[0].value as { commits: number }).commits >= 0, true);
      } finally {
        await field.stop();
      }
    },
  );
}

servers.finish();
