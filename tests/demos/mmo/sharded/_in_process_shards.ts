/**
 * Stand-in shards for the gateway's tests: one World in this process, its movers split
 * by region (a mover is in the region of its centre, at every step), a frame publisher
 * per region on one AMQP connection. What the gateway sees on the broker is what real
 * shards send; the handoff between processes is the shard tests' subject.
 */
import { AmqpConnection } from "../../../../proto/amqp/mod.ts";
import { World } from "../../../../demos/mmo/world.ts";
import type { Mover } from "../../../../demos/mmo/world.ts";
import type { Bounded } from "../../../../demos/mmo/quadtree.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import {
  type FramePublisher,
  type FrameSource,
  startFramePublisher,
} from "../../../../demos/mmo/sharded/frames.ts";

export interface InProcessShards {
  world: World;
  grid: RegionGrid;
  publishers: FramePublisher[];
  stop(): Promise<void>;
}

export interface InProcessOptions {
  port: number;
  grid?: string;
  size?: number;
  boxes?: number;
  wanderers?: number;
  stepSeconds?: number;
  seed?: number;
  tileSize?: number;
  fps?: number;
}

/** Starts the world and the publishers (call from a thread). */
export async function startInProcessShards(o: InProcessOptions): Promise<InProcessShards> {
  const size = o.size ?? 4096, boxes = o.boxes ?? 200, seed = o.seed ?? 3;
  const grid = RegionGrid.parse(o.grid ?? "2x2", size);
  const world = new World({
    size,
    boxes,
    seed,
    wanderers: o.wanderers ?? 600,
    stepSeconds: o.stepSeconds ?? 0.1,
  });
  world.start();
  const amqp = await AmqpConnection.connect({ port: o.port });
  const publishers: FramePublisher[] = [];
  for (const region of grid.regions) {
    const source: FrameSource = {
      size,
      get steps() {
        return world.steps;
      },
      movers: {
        get size() {
          let n = 0;
          world.movers.forEachIn({ x0: 0, y0: 0, x1: size, y1: size }, (m) => {
            if (grid.indexAt(m.x, m.y) === region.index) n++;
          });
          return n;
        },
        forEachIn(r: Bounded, fn: (m: Mover) => void) {
          world.movers.forEachIn(r, (m) => {
            if (grid.indexAt(m.x, m.y) === region.index) fn(m);
          });
        },
      },
    };
    publishers.push(
      await startFramePublisher(source, amqp, region, {
        grid,
        seed,
        boxes,
        tileSize: o.tileSize ?? 512,
        fps: o.fps ?? 20,
      }),
    );
  }
  return {
    world,
    grid,
    publishers,
    async stop() {
      for (const p of publishers) await p.stop();
      await world.stop();
      await amqp.close();
    },
  };
}
