/**
 * A shard's frames to the gateways: every frame (`fps`), the movers of each tile some
 * gateway watches, one message per tile on the topic exchange `<namespace>.frames` (key
 * `t.<tx>.<ty>`; the format is in `wire.ts`); about once a second a summary of the region
 * (its counts, its part of the minimap's density grid, and the world's settings, so that
 * a gateway needs nothing but the broker's address).
 *
 * Interest decides what is published: gateways announce, per region, the tiles their
 * viewports overlap, with a lease they renew (exchange `<namespace>.interest`, key
 * `i.<c>.<r>`).
 * A tile nobody watches costs nothing past the shard's own stepping: no query, no
 * message, no broker work. A gateway that dies stops costing within its lease.
 *
 * A tile frame holds the shard's movers whose centres are in the tile: a mover is in one
 * tile, and in the frames of the one shard that holds it, except for the moment of a
 * handoff (both shards' last frames may hold it: the gateway keeps the newer).
 *
 * @module
 */

import { now } from "../../../core/clock.ts";
import { Shutdown } from "../../../core/errors.ts";
import { sleep, sleepUntil } from "../../../core/sleep.ts";
import { ThreadGroup } from "../../../core/thread_group.ts";
import type { AmqpChannel, Consumer, OutgoingMessage } from "../../../proto/amqp/client.ts";
import type { Bounded } from "../quadtree.ts";
import type { Mover } from "../world.ts";
import { DropReport } from "./_drop_report.ts";
import type { Region, RegionGrid } from "./grid.ts";
import {
  decodeInterest,
  encodeSummary,
  framesExchange,
  interestExchange,
  interestKey,
  MAX_TILES_PER_SIDE,
  putTileHeader,
  putTileMover,
  REGION_MARGIN,
  summaryKey,
  TILE_HEADER_BYTES,
  TILE_MOVER_BYTES,
  tileKey,
  wallMs,
  WireError,
} from "./wire.ts";

/** What the publisher reads of a shard's world (a `World` is one). */
export interface FrameSource {
  /** Side of the world. */
  readonly size: number;
  /** Steps taken so far by the shard's wanderers. */
  readonly steps: number;
  /** The shard's movers. */
  readonly movers: {
    readonly size: number;
    forEachIn(r: Bounded, fn: (m: Mover) => void): void;
  };
}

/** Something that opens AMQP channels (an `AmqpConnection`). */
export interface ChannelOpener {
  /** Opens a channel. */
  channel(): Promise<AmqpChannel>;
}

/** Options of {@linkcode startFramePublisher}. */
export interface FramePublisherOptions {
  /** The region grid (its settings go into the summaries). */
  grid: RegionGrid;
  /** Seed of the world's layout (gateways regenerate the boxes from it). */
  seed: number;
  /** Number of boxes. */
  boxes: number;
  /** The field's name on the broker ("mmo", as the shards'): exchanges `<namespace>.frames`... */
  namespace?: string;
  /** Frames per second (20). */
  fps?: number;
  /** Side of a tile, px (1024; at most 65535). */
  tileSize?: number;
  /** Seconds between summaries (1). */
  summarySeconds?: number;
  /** Cells per side of the minimap's density grid (64). */
  densitySide?: number;
  /** Most gateways whose interest is held at once (1024); more are refused and counted. */
  maxGateways?: number;
  /** Longest lease taken from a gateway, seconds (60). */
  maxLeaseSeconds?: number;
}

/** What {@linkcode FramePublisher.statistics} reports. */
export interface FramePublisherStatistics {
  /** Frames taken (every frame, watched or not). */
  frames: number;
  /** Tile messages published. */
  tileMessages: number;
  /** Bytes of tile messages published. */
  tileBytes: number;
  /** Summaries published. */
  summaries: number;
  /** Tiles watched now. */
  watchedTiles: number;
  /** Gateways with a live lease. */
  gateways: number;
  /** Interest messages dropped: undecodable, or past `maxGateways`. */
  badInterest: number;
}

/** A running publisher. */
export interface FramePublisher {
  /** Counts so far. */
  statistics(): FramePublisherStatistics;
  /**
   * Stops publishing and closes the channel (with it the interest consumer; a channel
   * already failed with its connection is left as it is). Interruption point.
   */
  stop(): Promise<void>;
}

interface Lease {
  expires: number;
  tiles: number[];
}

/**
 * Starts publishing `region`'s frames and summaries from `world` on a channel of its own
 * opened from `connection` (so that a shard's transactions on its other channels never
 * take frames in). Call from a thread: the publisher's threads are a group owned by the
 * caller, and an error in them (the broker gone) is raised in the caller.
 *
 * Interruption point while it sets up (declares the exchanges and its interest queue).
 *
 * @example
 * ```ts ignore
 * const amqp = await AmqpConnection.connect({ port: 5672 });
 * const grid = RegionGrid.parse("2x2", 20480);
 * const publisher = await startFramePublisher(world, amqp, grid.byId("1.0"), {
 *   grid, seed: 1, boxes: 5000,
 * });
 * // ... later
 * await publisher.stop();
 * ```
 */
export async function startFramePublisher(
  world: FrameSource,
  connection: ChannelOpener,
  region: Region,
  options: FramePublisherOptions,
): Promise<FramePublisher> {
  const fps = options.fps ?? 20, frame = 1 / fps;
  const tileSize = options.tileSize ?? 1024;
  if (!(Number.isInteger(tileSize) && tileSize > 0 && tileSize <= 65535)) {
    throw new RangeError(`tileSize must be a whole number from 1 to 65535: ${tileSize}`);
  }
  const tilesPerSide = Math.ceil(world.size / tileSize);
  if (tilesPerSide > MAX_TILES_PER_SIDE) throw new RangeError("too many tiles per side");
  const maxGateways = options.maxGateways ?? 1024;
  const maxLeaseSeconds = options.maxLeaseSeconds ?? 60;
  const densitySide = options.densitySide ?? 64;
  const grid = options.grid;
  // Tiles this shard may hold movers in: its region and a margin (movers being handed off).
  const tx0 = Math.max(0, Math.floor((region.x0 - REGION_MARGIN) / tileSize));
  const ty0 = Math.max(0, Math.floor((region.y0 - REGION_MARGIN) / tileSize));
  const tx1 = Math.min(tilesPerSide - 1, Math.floor((region.x1 + REGION_MARGIN) / tileSize));
  const ty1 = Math.min(tilesPerSide - 1, Math.floor((region.y1 + REGION_MARGIN) / tileSize));

  const framesTo = framesExchange(options.namespace ?? "mmo");
  const interestsTo = interestExchange(options.namespace ?? "mmo");
  const channel = await connection.channel();
  await channel.exchangeDeclare(framesTo, "topic");
  await channel.exchangeDeclare(interestsTo, "topic");
  const { queue } = await channel.queueDeclare("", {
    exclusive: true,
    autoDelete: true,
    // Interest is soft state, renewed every lease: a backlog of it is worth nothing.
    arguments: { "x-max-length": 10_000, "x-message-ttl": 10_000 },
  });
  await channel.queueBind(queue, interestsTo, interestKey(region.id));
  const interestConsumer: Consumer = await channel.consume(queue, { noAck: true });

  const stats: FramePublisherStatistics = {
    frames: 0,
    tileMessages: 0,
    tileBytes: 0,
    summaries: 0,
    watchedTiles: 0,
    gateways: 0,
    badInterest: 0,
  };
  const leases = new Map<bigint, Lease>();
  let watched: number[] = [];
  /** Tiles to send even if empty and unchanged (a gateway just announced them). */
  const fresh = new Set<number>();
  /** Movers per tile in the last frame sent (an empty tile is sent once, then skipped). */
  const lastCount = new Map<number, number>();
  let nextExpiry = Infinity;
  let refusedReported = false;
  const drops = new DropReport(`shard ${region.id}`);

  const recompute = () => {
    const t = now();
    const all = new Set<number>();
    nextExpiry = Infinity;
    for (const [gateway, lease] of leases) {
      if (lease.expires <= t) {
        leases.delete(gateway);
        continue;
      }
      nextExpiry = Math.min(nextExpiry, lease.expires);
      for (const tile of lease.tiles) all.add(tile);
    }
    watched = [...all];
    for (const tile of lastCount.keys()) if (!all.has(tile)) lastCount.delete(tile);
    for (const tile of fresh) if (!all.has(tile)) fresh.delete(tile);
    stats.watchedTiles = watched.length;
    stats.gateways = leases.size;
  };

  const readInterest = async () => {
    for (;;) {
      const d = await interestConsumer.next();
      if (d === null) return;
      let interest;
      try {
        interest = decodeInterest(d.body);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        stats.badInterest++; // a stray or hostile message costs nothing more
        drops.dropped("an undecodable interest message", e);
        continue;
      }
      if (!leases.has(interest.gateway) && leases.size >= maxGateways) {
        stats.badInterest++;
        if (!refusedReported) {
          refusedReported = true;
          console.error(
            `shard ${region.id}: more than ${maxGateways} gateways watch this region; ` +
              "the others are refused (raise maxGateways)",
          );
        }
        continue;
      }
      // Each tile once: a lease holds at most the shard's own tiles, whatever the message
      // repeats (65535 copies of one tile from each of maxGateways gateways would otherwise
      // be held, and walked by every recompute).
      const ours = new Set<number>();
      for (const tile of interest.tiles) {
        const tx = tile & 0xffff, ty = tile >>> 16;
        if (tx < tx0 || tx > tx1 || ty < ty0 || ty > ty1) continue; // none of ours
        ours.add(tile);
        fresh.add(tile);
      }
      const tiles = [...ours];
      const seconds = Math.min(interest.leaseMs / 1000, maxLeaseSeconds);
      if (tiles.length === 0 || seconds <= 0) leases.delete(interest.gateway);
      else leases.set(interest.gateway, { expires: now() + seconds, tiles });
      recompute();
    }
  };

  let out = new Uint8Array(TILE_HEADER_BYTES + 256 * TILE_MOVER_BYTES);
  let view = new DataView(out.buffer);
  let count = 0, tileX0 = 0, tileY0 = 0, tileX1 = 0, tileY1 = 0;
  const tileRect: Bounded = { x0: 0, y0: 0, x1: 0, y1: 0 };
  const collect = (m: Mover) => {
    if (m.x < tileX0 || m.x >= tileX1 || m.y < tileY0 || m.y >= tileY1) return;
    const p = TILE_HEADER_BYTES + count * TILE_MOVER_BYTES;
    if (p + TILE_MOVER_BYTES > out.length) {
      const bigger = new Uint8Array(out.length * 2);
      bigger.set(out);
      out = bigger;
      view = new DataView(out.buffer);
    }
    putTileMover(view, p, m.id, m.x - tileX0, m.y - tileY0, m.color);
    count++;
  };

  const publishFrames = async () => {
    let sequence = 0;
    for (;;) {
      // On a clock shared by every shard: frames of neighbours leave together.
      await sleepUntil((Math.floor(now() / frame) + 1) * frame);
      stats.frames++;
      if (now() >= nextExpiry) recompute();
      if (watched.length === 0) continue;
      sequence++;
      const time = wallMs();
      const batch: OutgoingMessage[] = [];
      for (const tile of watched) {
        const tx = tile & 0xffff, ty = tile >>> 16;
        tileX0 = tx * tileSize;
        tileY0 = ty * tileSize;
        tileX1 = tileX0 + tileSize;
        tileY1 = tileY0 + tileSize;
        tileRect.x0 = tileX0;
        tileRect.y0 = tileY0;
        tileRect.x1 = tileX1;
        tileRect.y1 = tileY1;
        count = 0;
        world.movers.forEachIn(tileRect, collect);
        if (count === 0 && lastCount.get(tile) === 0 && !fresh.has(tile)) continue;
        fresh.delete(tile);
        lastCount.set(tile, count);
        putTileHeader(view, region.index, tx, ty, sequence, time, count);
        const length = TILE_HEADER_BYTES + count * TILE_MOVER_BYTES;
        batch.push({ exchange: framesTo, routingKey: tileKey(tx, ty), body: out.slice(0, length) });
        stats.tileBytes += length;
      }
      // The frame's tiles in one write: one wait for the socket, whatever their number
      // (a wait per tile would queue behind every wanderer due, once per tile).
      await channel.publishMany(batch);
      stats.tileMessages += batch.length;
    }
  };

  const instance = crypto.getRandomValues(new Uint32Array(1))[0];
  const cell = grid.size / densitySide;
  const gx0 = Math.floor(region.x0 / cell), gy0 = Math.floor(region.y0 / cell);
  const gx1 = Math.min(densitySide, Math.ceil(region.x1 / cell));
  const gy1 = Math.min(densitySide, Math.ceil(region.y1 / cell));
  const counts = new Uint16Array((gx1 - gx0) * (gy1 - gy0));
  const everywhere: Bounded = { x0: 0, y0: 0, x1: world.size, y1: world.size };
  const countCell = (m: Mover) => {
    const gx = Math.floor(m.x / cell), gy = Math.floor(m.y / cell);
    if (gx < gx0 || gx >= gx1 || gy < gy0 || gy >= gy1) return; // being handed off
    const i = (gy - gy0) * (gx1 - gx0) + (gx - gx0);
    if (counts[i] < 65535) counts[i]++;
  };
  const summarize = async () => {
    let lastSteps = world.steps, lastTime = now();
    for (;;) {
      counts.fill(0);
      world.movers.forEachIn(everywhere, countCell);
      const t = now();
      const stepsPerSecond = t > lastTime ? (world.steps - lastSteps) / (t - lastTime) : 0;
      lastSteps = world.steps;
      lastTime = t;
      await channel.publish(
        framesTo,
        summaryKey(region.id),
        encodeSummary({
          region: region.index,
          settings: {
            columns: grid.columns,
            rows: grid.rows,
            size: grid.size,
            boxes: options.boxes,
            seed: options.seed,
            tileSize,
            fps,
          },
          instance,
          time: wallMs(),
          wanderers: world.movers.size,
          stepsPerSecond,
          gridSide: densitySide,
          gx0,
          gy0,
          gx1,
          gy1,
          counts,
        }),
      );
      stats.summaries++;
      await sleep(options.summarySeconds ?? 1);
    }
  };

  const threads = new ThreadGroup({ name: `frames ${region.id}` });
  threads.spawn({ name: `frames ${region.id} interest` }, readInterest);
  threads.spawn({ name: `frames ${region.id} publisher` }, publishFrames);
  threads.spawn({ name: `frames ${region.id} summaries` }, summarize);
  return {
    statistics: () => ({ ...stats }),
    async stop() {
      threads.shutdown();
      try {
        await threads.join();
      } catch (e) {
        // Stopping is what was asked: the threads' Shutdown is not news; a failure is.
        if (!(e instanceof Shutdown)) throw e;
      }
      // Closing the channel ends its consumer too; a channel that failed with its connection
      // is closed already (close returns at once).
      await channel.close();
    },
  };
}
