/**
 * A shard against what anyone who can publish on its broker may put in its queues: messages
 * that are not its own are reported and dropped, never adopted, never fatal, never a shard
 * that cannot start again. Shards in this process, on a real RabbitMQ.
 */
import assert from "node:assert/strict";
import { sleep } from "../../../../mod.ts";
import { AmqpConnection } from "../../../../proto/amqp/mod.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import {
  deleteShardQueues,
  Shard,
  type ShardOptions,
  shardQueues,
} from "../../../../demos/mmo/sharded/shard.ts";
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

servers.finish();
