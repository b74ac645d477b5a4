/**
 * Shards for the gateway's tests, in this process: a real `Shard` per region (a region
 * world, handoffs through RabbitMQ transactions) with its frame publisher, as a shard
 * process runs them, on a small world with quick steps.
 */
import { Event, spawn, type Thread } from "../../../../mod.ts";
import { AmqpConnection } from "../../../../proto/amqp/mod.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import { deleteShardQueues, Shard } from "../../../../demos/mmo/sharded/shard.ts";
import { type FramePublisher, startFramePublisher } from "../../../../demos/mmo/sharded/frames.ts";

export interface ShardsHere {
  grid: RegionGrid;
  namespace: string;
  shards: Shard[];
  publishers: FramePublisher[];
  stop(): Promise<void>;
}

export interface ShardsHereOptions {
  port: number;
  size?: number;
  boxes?: number;
  wanderers?: number;
  stepSeconds?: number;
  seed?: number;
  tileSize?: number;
}

/** Opens and runs 2x2 shards and their publishers (call from a thread). */
export async function startShardsHere(o: ShardsHereOptions): Promise<ShardsHere> {
  const size = o.size ?? 4096, boxes = o.boxes ?? 200, seed = o.seed ?? 3;
  const grid = RegionGrid.parse("2x2", size);
  const namespace = `test.${crypto.randomUUID().slice(0, 8)}`;
  const stopping = new Event();
  const shards: Shard[] = [], runners: Thread[] = [], publishers: FramePublisher[] = [];
  const stop = async () => {
    for (const p of publishers) await p.stop();
    stopping.set();
    for (const r of runners) await r.join();
    for (const s of shards) await s.close();
    const amqp = await AmqpConnection.connect({ port: o.port });
    try {
      await deleteShardQueues(await amqp.channel(), namespace, grid);
    } finally {
      await amqp.close();
    }
  };
  try {
    for (const region of grid.regions) {
      const shard = await Shard.open({
        grid,
        region: region.index,
        amqp: { port: o.port },
        namespace,
        size,
        boxes,
        seed,
        wanderers: o.wanderers ?? 600,
        stepSeconds: o.stepSeconds ?? 0.1,
        commitSeconds: 0.1,
      });
      shards.push(shard);
      runners.push(spawn({ name: `shard ${region.id}` }, () => shard.run(() => stopping.wait())));
      publishers.push(
        await startFramePublisher(shard.world, shard.connection, region, {
          grid,
          seed,
          boxes,
          namespace,
          tileSize: o.tileSize ?? 512,
        }),
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { grid, namespace, shards, publishers, stop };
}
