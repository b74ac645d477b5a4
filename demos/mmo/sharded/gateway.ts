/**
 * A gateway of the sharded field: the one-process demo's page and wire protocol
 * (`../public/`, `../protocol.ts`) for browsers, fed by the shards through RabbitMQ. It
 * needs nothing of the shards but the broker's address: the world's settings come in the
 * shards' summaries, and the boxes are regenerated here from their seed.
 *
 * Each viewer's viewport watches the tiles it overlaps (bound on the gateway's queue,
 * announced to the shards of the regions near them, with a lease renewed every third of
 * it), and follows them as the viewer pans. A tile's latest frame from each shard is kept;
 * a viewer's update is composed from them at most once a frame, each mover from the
 * newest frame received that holds it (two shards both show it for the moment of its
 * handoff; a lagging shard's older frame never shows it back where it was). The minimap's
 * density and the header's counts add up the shards' summaries.
 *
 * The broker going away does not cut the viewers: the gateway reconnects with backoff,
 * binds the watched tiles again and announces them; the viewers see the field stand still
 * meanwhile.
 *
 * Standalone: `deno run -A --unstable-net demos/mmo/sharded/gateway.ts
 * --amqp=amqp://user:password@broker:5672/ --host=0.0.0.0 --port=8080 [--namespace=mmo]`, or
 * with the URL in `$MMO_AMQP_URL` rather than `--amqp=` (a process's arguments are readable
 * by every local user; a password belongs in the environment) (the launcher,
 * `deno task demo:mmo --shards=WxH --amqp=...`, starts one with the shards).
 *
 * @module
 */

import { main } from "../../../core/main.ts";
import { now } from "../../../core/clock.ts";
import { ClosedError, ShrapnelError, Shutdown, TimeoutError } from "../../../core/errors.ts";
import { sleep, sleepUntil } from "../../../core/sleep.ts";
import { Event } from "../../../core/sync/event.ts";
import { ThreadGroup } from "../../../core/thread_group.ts";
import { withTimeout } from "../../../core/with_timeout.ts";
import { AddressInUseError, SocketError } from "../../../net/errors.ts";
import { faviconHandler, HttpServer, statusHandler } from "../../../proto/http/mod.ts";
import { staticFilesHandler } from "../../../proto/http/handlers.ts";
import { type ServerWebSocket, websocketHandler } from "../../../proto/websocket/mod.ts";
import {
  type AmqpChannel,
  AmqpConnection,
  type AmqpOptions,
  type Consumer,
  type Delivery,
} from "../../../proto/amqp/client.ts";
import { parseAmqpUrl } from "../../../proto/amqp/url.ts";
import { encodeMovers, encodeOverview, encodeView, encodeWorldBoxes } from "../protocol.ts";
import { Viewport, World } from "../world.ts";
import { DropReport } from "./_drop_report.ts";
import { GridSpecError, RegionGrid } from "./grid.ts";
import {
  decodeSummary,
  decodeTileFrame,
  encodeInterest,
  framesExchange,
  interestExchange,
  interestKey,
  MAX_TILES_PER_SIDE,
  REGION_MARGIN,
  type Summary,
  TILE_HEADER_BYTES,
  TILE_MOVER_BYTES,
  type TileFrame,
  tileKey,
  wallMs,
  WireError,
  type WorldSettings,
} from "./wire.ts";

/** Options of {@linkcode startGateway}. */
export interface GatewayOptions {
  /** The broker (host, port, user...): the only thing shared with the shards. */
  amqp?: AmqpOptions;
  /** The field's name on the broker ("mmo"), as the shards were given it. */
  namespace?: string;
  /** Listening address ("127.0.0.1:8080"). */
  listen?: string;
  /** Most updates per second to one viewer (20). */
  fps?: number;
  /** Side of a viewport (1024). */
  viewSize?: number;
  /** Seconds between overviews (1). */
  overviewSeconds?: number;
  /** Seconds an interest announcement holds (3); renewed every third of it. */
  leaseSeconds?: number;
  /** Seconds to wait for the first shard's summary (30). */
  settingsTimeoutSeconds?: number;
  /** A tile's frame older than this many seconds is no longer shown (0.5). */
  staleSeconds?: number;
  /**
   * Messages the broker holds for this gateway (20000): past it the oldest are dropped
   * (a gateway that falls behind skips frames; it never makes the broker hold more).
   */
  maxQueued?: number;
  /** Unacknowledged deliveries in flight to this gateway (1000). */
  prefetch?: number;
  /**
   * Most boxes a world's settings may name (1,000,000): the gateway regenerates them all,
   * so a summary naming more (anyone who can publish on the broker can send one) is dropped.
   */
  maxBoxes?: number;
}

/** Most cells per side of the minimap's density grid a gateway takes (the shards send 64). */
const MAX_DENSITY_SIDE = 1024;

/** The shards' summaries did not come: the broker has no shards, or another vhost. */
export class NoShardsError extends ShrapnelError {}

/** Latency percentiles, ms. */
export interface Percentiles {
  /** Samples taken (of the last 8192 kept). */
  samples: number;
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
}

/** What {@linkcode Gateway.statistics} reports. */
export interface GatewayStatistics {
  /** Wanderers in the world (from the live shards' summaries). */
  wanderers: number;
  /** Steps per second of the whole world. */
  stepsPerSecond: number;
  /** Shards heard from in the last few seconds. */
  shards: number;
  /** Viewers connected. */
  viewers: number;
  /** Tiles watched now. */
  tiles: number;
  /** Tile frames received. */
  tileMessages: number;
  /** Bytes of tile frames received. */
  tileBytes: number;
  /** Summaries received. */
  summaries: number;
  /** Messages dropped: undecodable, or from a world of other settings. */
  badMessages: number;
  /** Updates sent to viewers. */
  updates: number;
  /** Times the broker connection was made again. */
  reconnects: number;
  /** Shard snapshot to arrival here, ms (same clock on one machine; NTP's across). */
  frameLatency: Percentiles;
  /** Shard snapshot to the WebSocket send of an update (its oldest non-empty tile), ms. */
  sendLatency: Percentiles;
}

/** A running gateway. */
export interface Gateway {
  /** The world's settings, from the shards. */
  settings: WorldSettings;
  /** The HTTP server. */
  server: HttpServer;
  /** The page's URL. */
  url: string;
  /** Counts and latencies so far. */
  statistics(): GatewayStatistics;
  /** Stops the server and leaves the broker. Interruption point. */
  stop(): Promise<void>;
}

const RADIUS = 25;
const publicDir = new URL("../public/", import.meta.url).pathname;

class Samples {
  readonly #values = new Float64Array(8192);
  #count = 0;
  add(v: number): void {
    this.#values[this.#count++ & 8191] = v;
  }
  percentiles(): Percentiles {
    const n = Math.min(this.#count, 8192);
    if (n === 0) return { samples: 0, p50: 0, p99: 0 };
    const sorted = this.#values.slice(0, n).sort();
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))] * 10) / 10;
    return { samples: this.#count, p50: at(0.5), p99: at(0.99) };
  }
}

interface Session {
  connection: AmqpConnection;
  channel: AmqpChannel;
  queue: string;
  consumer: Consumer;
}

interface Viewer {
  view: Viewport;
  tiles: number[];
}

interface Held {
  frame: TileFrame;
  received: number;
}

interface ShardSummary {
  summary: Summary;
  received: number;
}

/**
 * Starts a gateway (call from a thread): connects to the broker, waits for the first
 * shard's summary (the world's settings), then serves the page. Its threads are a group
 * owned by the caller.
 *
 * Interruption point until it serves.
 *
 * @example
 * ```ts ignore
 * const gateway = await startGateway({ amqp: parseAmqpUrl("amqp://127.0.0.1:5672/") });
 * console.log(gateway.url);
 * ```
 * @throws {NoShardsError} if no summary of a world it can show (see `maxBoxes`) comes
 *   within `settingsTimeoutSeconds`
 */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const gatewayId = crypto.getRandomValues(new BigUint64Array(1))[0];
  const leaseSeconds = options.leaseSeconds ?? 3;
  const staleSeconds = options.staleSeconds ?? 0.5;
  const prefetch = options.prefetch ?? 1000;
  const viewSize = options.viewSize ?? 1024;
  const frame = 1 / (options.fps ?? 20);

  const framesTo = framesExchange(options.namespace ?? "mmo");
  const interestsTo = interestExchange(options.namespace ?? "mmo");

  const openSession = async (): Promise<Session> => {
    const connection = await AmqpConnection.connect(options.amqp ?? {});
    try {
      const channel = await connection.channel();
      await channel.exchangeDeclare(framesTo, "topic");
      await channel.exchangeDeclare(interestsTo, "topic");
      const { queue } = await channel.queueDeclare("", {
        exclusive: true,
        autoDelete: true,
        arguments: {
          "x-max-length": options.maxQueued ?? 20_000,
          "x-overflow": "drop-head",
          // A frame older than this is not worth drawing.
          "x-message-ttl": 2_000,
        },
      });
      await channel.queueBind(queue, framesTo, "s.*.*");
      await channel.qos(prefetch);
      const consumer = await channel.consume(queue);
      return { connection, channel, queue, consumer };
    } catch (e) {
      await connection.close();
      throw e;
    }
  };

  let session = await openSession();
  const maxBoxes = options.maxBoxes ?? 1_000_000;
  /** Why a summary's world cannot be this gateway's (null if it can). */
  const unusable = (s: Summary): string | null => {
    const w = s.settings;
    try {
      new RegionGrid(w.size, w.columns, w.rows);
    } catch (e) {
      if (!(e instanceof GridSpecError)) throw e;
      return e.message;
    }
    if (Math.ceil(w.size / w.tileSize) > MAX_TILES_PER_SIDE) return "too many tiles";
    if (w.fps === 0) return "0 frames per second";
    if (w.boxes > maxBoxes) return `${w.boxes} boxes, more than maxBoxes (${maxBoxes})`;
    if (s.gridSide === 0 || s.gridSide > MAX_DENSITY_SIDE) {
      return `a density grid of side ${s.gridSide} (1 to ${MAX_DENSITY_SIDE})`;
    }
    return null;
  };
  let unusableReported = false;
  // The world's settings: from the first summary of a world this gateway can show.
  let first: Summary;
  try {
    first = await withTimeout(options.settingsTimeoutSeconds ?? 30, async () => {
      for (;;) {
        const d = await session.consumer.next();
        if (d === null) throw new ClosedError("the broker cancelled the gateway's consumer");
        await session.channel.ack(d.deliveryTag);
        let summary: Summary;
        try {
          summary = decodeSummary(d.body);
        } catch (e) {
          if (!(e instanceof WireError)) throw e;
          continue;
        }
        const why = unusable(summary);
        if (why === null) return summary;
        if (!unusableReported) {
          unusableReported = true; // once: anyone on the broker may send these in a loop
          console.error(`gateway: dropped a summary of a world it cannot show: ${why}`);
        }
      }
    });
  } catch (e) {
    await session.connection.close();
    if (!(e instanceof TimeoutError)) throw e;
    throw new NoShardsError(
      `no shard's summary came within ${options.settingsTimeoutSeconds ?? 30} s: are the ` +
        "shards running, on this broker and vhost?",
    );
  }
  const settings = first.settings;
  const sameSettings = JSON.stringify(settings);
  const tileSize = settings.tileSize;
  const tilesPerSide = Math.ceil(settings.size / tileSize);
  const grid = new RegionGrid(settings.size, settings.columns, settings.rows);
  // The boxes, regenerated from the seed (no wanderers: they live in the shards).
  const boxesWorld = new World({
    size: settings.size,
    boxes: settings.boxes,
    seed: settings.seed,
    wanderers: 0,
  });
  const worldBoxes = encodeWorldBoxes(
    settings.size,
    boxesWorld.boxes.query({ x0: 0, y0: 0, x1: settings.size, y1: settings.size }),
  );

  const frameLatency = new Samples(), sendLatency = new Samples();
  const counts = {
    tileMessages: 0,
    tileBytes: 0,
    summaries: 0,
    badMessages: 0,
    updates: 0,
    reconnects: 0,
  };
  let settingsMismatchReported = false;
  const drops = new DropReport("gateway");
  /** Viewers watching each tile. */
  const watchers = new Map<number, Set<Viewer>>();
  /** Each tile's latest frame from each region's shard. */
  const held = new Map<number, Map<number, Held>>();
  const summaries = new Map<number, ShardSummary>();
  /**
   * Each mover's newest frame time (the shards' clocks) in the frames received: a held
   * frame older than that (its shard lags: its frames after a handoff have not come yet)
   * must not show the mover back where it was, nor where its newest place is out of view.
   * Two generations, the older forgotten every `forgetSeconds`: past that no frame of the
   * mover's old place is still coming (the broker drops what waited 2 s in the queue).
   */
  let newestTime = new Map<number, number>(), olderTime = new Map<number, number>();
  const forgetSeconds = staleSeconds + 10;
  let forgetAt = now() + forgetSeconds;
  const newestOf = (id: number) => newestTime.get(id) ?? olderTime.get(id) ?? -Infinity;
  const viewers = new Set<Viewer>();
  const interestChanged = new Event();

  const onSummary = (summary: Summary) => {
    if (
      JSON.stringify(summary.settings) !== sameSettings || summary.gridSide !== first.gridSide
    ) {
      counts.badMessages++;
      if (!settingsMismatchReported) {
        settingsMismatchReported = true;
        console.error(
          `gateway: a shard of another world (${JSON.stringify(summary.settings)}) publishes ` +
            `on this broker; this gateway shows ${sameSettings} (restart it to follow the other)`,
        );
      }
      return;
    }
    counts.summaries++;
    const before = summaries.get(summary.region);
    summaries.set(summary.region, { summary, received: now() });
    // A shard (re)started: tell it at once what is watched rather than at the next renewal.
    if (before?.summary.instance !== summary.instance) interestChanged.set();
  };
  onSummary(first);

  const onDelivery = (d: Delivery) => {
    if (d.body[0] === 2) {
      let summary;
      try {
        summary = decodeSummary(d.body);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        counts.badMessages++;
        drops.dropped("an undecodable summary", e);
        return;
      }
      onSummary(summary);
      return;
    }
    let tile: TileFrame;
    try {
      tile = decodeTileFrame(d.body);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      counts.badMessages++;
      drops.dropped("an undecodable tile frame", e);
      return;
    }
    if (tile.region >= grid.count || tile.tx >= tilesPerSide || tile.ty >= tilesPerSide) {
      // Not a shard of this world: held, it would take a place per region index (65536
      // per tile) until stale, and be walked by every viewer's update.
      counts.badMessages++;
      drops.dropped(
        "a tile frame of a region outside this world",
        `region ${tile.region}, tile ${tile.tx},${tile.ty}`,
      );
      return;
    }
    const t = now();
    frameLatency.add(wallMs() - tile.time);
    counts.tileMessages++;
    counts.tileBytes += d.body.length;
    const key = tile.ty * 65536 + tile.tx;
    const watching = watchers.get(key);
    if (watching === undefined) return; // left behind by an unbind on its way
    // Sooner past 2^20 ids (a flood of made-up ids costs at most two such maps).
    if (t >= forgetAt || newestTime.size >= 1 << 20) {
      olderTime = newestTime;
      newestTime = new Map();
      forgetAt = t + forgetSeconds;
    }
    const v = new DataView(tile.bytes.buffer, tile.bytes.byteOffset, tile.bytes.byteLength);
    for (let i = 0, p = TILE_HEADER_BYTES; i < tile.count; i++, p += TILE_MOVER_BYTES) {
      const id = v.getUint32(p, true);
      if (newestOf(id) < tile.time) newestTime.set(id, tile.time);
    }
    let byRegion = held.get(key);
    if (byRegion === undefined) held.set(key, byRegion = new Map());
    byRegion.set(tile.region, { frame: tile, received: t });
    for (const viewer of watching) viewer.view.changed.set();
  };

  /** Whether an error is the broker connection's failure (then a new session is made). */
  const lost = (s: Session, e: unknown) =>
    s.connection.failure !== null || e instanceof ClosedError;

  const bindTile = async (tile: number) => {
    const s = session;
    try {
      await s.channel.queueBind(s.queue, framesTo, tileKey(tile & 0xffff, tile >>> 16));
    } catch (e) {
      if (!lost(s, e)) throw e; // the next session binds every watched tile
    }
  };
  const unbindTile = async (tile: number) => {
    const s = session;
    try {
      await s.channel.queueUnbind(s.queue, framesTo, tileKey(tile & 0xffff, tile >>> 16));
    } catch (e) {
      if (!lost(s, e)) throw e;
    }
  };

  /** The tiles a view needs: those a circle drawn in it can be centred in. */
  const tilesOf = (view: Viewport): number[] => {
    const last = tilesPerSide - 1;
    const tx0 = Math.max(0, Math.floor((view.x0 - RADIUS) / tileSize));
    const ty0 = Math.max(0, Math.floor((view.y0 - RADIUS) / tileSize));
    const tx1 = Math.min(last, Math.floor((view.x1 + RADIUS) / tileSize));
    const ty1 = Math.min(last, Math.floor((view.y1 + RADIUS) / tileSize));
    const out: number[] = [];
    for (let ty = ty0; ty <= ty1; ty++) {
      for (let tx = tx0; tx <= tx1; tx++) out.push(ty * 65536 + tx);
    }
    return out;
  };

  /** Follows a viewer's view: watches the tiles it now overlaps, leaves the others. */
  const retile = async (viewer: Viewer, tiles: number[]) => {
    const before = viewer.tiles;
    viewer.tiles = tiles;
    const toBind: number[] = [], toUnbind: number[] = [];
    for (const tile of tiles) {
      if (before.includes(tile)) continue;
      let set = watchers.get(tile);
      if (set === undefined) {
        watchers.set(tile, set = new Set());
        toBind.push(tile);
      }
      set.add(viewer);
    }
    for (const tile of before) {
      if (tiles.includes(tile)) continue;
      const set = watchers.get(tile)!;
      set.delete(viewer);
      if (set.size === 0) {
        watchers.delete(tile);
        held.delete(tile);
        toUnbind.push(tile);
      }
    }
    for (const tile of toBind) await bindTile(tile);
    if (toBind.length > 0 || toUnbind.length > 0) interestChanged.set();
    for (const tile of toUnbind) await unbindTile(tile);
  };

  /** Announces to each region's shard the tiles it should publish, until stopped. */
  const announce = async () => {
    let announced = new Set<number>();
    const leaseMs = Math.round(leaseSeconds * 1000);
    for (;;) {
      interestChanged.clear();
      const perRegion = new Map<number, number[]>();
      for (const tile of watchers.keys()) {
        const tx = tile & 0xffff, ty = tile >>> 16;
        const near = grid.overlapping({
          x0: tx * tileSize - REGION_MARGIN,
          y0: ty * tileSize - REGION_MARGIN,
          x1: (tx + 1) * tileSize + REGION_MARGIN,
          y1: (ty + 1) * tileSize + REGION_MARGIN,
        });
        for (const region of near) {
          let list = perRegion.get(region.index);
          if (list === undefined) perRegion.set(region.index, list = []);
          list.push(tile);
        }
      }
      const s = session;
      try {
        // Regions no longer watched hear it once (an empty set ends the lease at once).
        for (const index of new Set([...announced, ...perRegion.keys()])) {
          const tiles = perRegion.get(index) ?? [];
          await s.channel.publish(
            interestsTo,
            interestKey(grid.regions[index].id),
            encodeInterest({ gateway: gatewayId, leaseMs, tiles }),
          );
        }
        announced = new Set(perRegion.keys());
      } catch (e) {
        if (!lost(s, e)) throw e; // announced again on the next session
      }
      try {
        await withTimeout(leaseSeconds / 3, () => interestChanged.wait());
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
      }
    }
  };

  /** Takes deliveries; makes the session again (with backoff) when the broker goes. */
  const receive = async () => {
    for (;;) {
      const s = session;
      try {
        let unacked = 0;
        for (;;) {
          const d = await s.consumer.next();
          if (d === null) throw new ClosedError("the broker cancelled the gateway's consumer");
          onDelivery(d);
          if (++unacked >= prefetch >> 1) {
            unacked = 0;
            await s.channel.ack(d.deliveryTag, true);
          }
        }
      } catch (e) {
        if (!lost(s, e)) throw e;
        console.error(`gateway: lost the broker (${e}); reconnecting`);
      }
      await s.connection.close();
      held.clear();
      let backoff = 0.1;
      for (;;) {
        await sleep(backoff);
        try {
          session = await openSession();
          break;
        } catch (e) {
          if (
            !(e instanceof SocketError || e instanceof TimeoutError || e instanceof ClosedError)
          ) {
            throw e;
          }
          backoff = Math.min(backoff * 2, 5);
        }
      }
      counts.reconnects++;
      for (const tile of watchers.keys()) await bindTile(tile);
      interestChanged.set();
    }
  };

  // The overview: the live shards' summaries added up.
  let overview: Uint8Array = new Uint8Array(0), overviewGeneration = 0;
  let totals = { wanderers: 0, stepsPerSecond: 0, shards: 0 };
  const summarize = () => {
    const side = first.gridSide, density = new Uint16Array(side * side);
    const t = now();
    totals = { wanderers: 0, stepsPerSecond: 0, shards: 0 };
    for (const [region, { summary: s, received }] of summaries) {
      if (t - received > 5) { // that shard is gone (or restarting): its counts with it
        summaries.delete(region);
        continue;
      }
      totals.wanderers += s.wanderers;
      totals.stepsPerSecond += s.stepsPerSecond;
      totals.shards++;
      const width = s.gx1 - s.gx0;
      for (let i = 0; i < s.counts.length; i++) {
        const cell = (s.gy0 + Math.floor(i / width)) * side + s.gx0 + (i % width);
        density[cell] = Math.min(65535, density[cell] + s.counts[i]);
      }
    }
    overview = encodeOverview(
      { wanderers: totals.wanderers, stepsPerSecond: totals.stepsPerSecond, viewers: viewers.size },
      side,
      density,
    );
    overviewGeneration++;
    for (const viewer of viewers) viewer.view.changed.set();
  };
  summarize();

  /** A viewer's circles: the movers of its tiles' fresh frames that reach into its view. */
  const compose = (view: Viewport, tiles: number[]) => {
    const out: { id: number; x: number; y: number; color: number; time: number }[] = [];
    const index = new Map<number, number>();
    const t = now();
    let oldest = Infinity;
    for (const tile of tiles) {
      const byRegion = held.get(tile);
      if (byRegion === undefined) continue;
      for (const [region, { frame: f, received }] of byRegion) {
        if (t - received > staleSeconds) {
          byRegion.delete(region); // its shard stopped sending it (gone, or moved on)
          continue;
        }
        if (f.count > 0 && f.time < oldest) oldest = f.time;
        const b = f.bytes, v = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const ox = f.tx * tileSize, oy = f.ty * tileSize;
        for (let i = 0, p = TILE_HEADER_BYTES; i < f.count; i++, p += TILE_MOVER_BYTES) {
          const id = v.getUint32(p, true);
          if (f.time < newestOf(id)) continue; // a newer frame has it (elsewhere, or not here)
          const x = ox + v.getUint16(p + 4, true), y = oy + v.getUint16(p + 6, true);
          if (x + RADIUS < view.x0 || x - RADIUS > view.x1) continue;
          if (y + RADIUS < view.y0 || y - RADIUS > view.y1) continue;
          const mover = { id, x, y, color: b[p + 8], time: f.time };
          const seen = index.get(id);
          if (seen === undefined) {
            index.set(id, out.length);
            out.push(mover);
          } else if (out[seen].time < f.time) {
            out[seen] = mover; // mid-handoff in two shards' frames: the newer is where it is
          }
        }
      }
    }
    return { movers: out, oldest };
  };

  const sendUpdates = async (ws: ServerWebSocket, viewer: Viewer) => {
    const view = viewer.view;
    try {
      await ws.sendBinary(worldBoxes);
      let sentGeneration = -1;
      for (;;) {
        await view.changed.wait();
        view.changed.clear();
        if (view.moved) {
          view.moved = false;
          await ws.sendBinary(encodeView(view, boxesWorld.boxes.query(view)));
        }
        const { movers, oldest } = compose(view, viewer.tiles);
        await ws.sendBinary(encodeMovers(movers));
        counts.updates++;
        if (oldest !== Infinity) sendLatency.add(wallMs() - oldest);
        if (sentGeneration !== overviewGeneration) {
          sentGeneration = overviewGeneration;
          await ws.sendBinary(overview);
        }
        await sleepUntil((Math.floor(now() / frame + 0.5) + 1) * frame);
      }
    } catch (e) {
      if (!(e instanceof ClosedError || e instanceof SocketError)) throw e;
    }
  };

  const threads = new ThreadGroup({ name: "gateway" });
  threads.spawn({ name: "gateway receiver" }, receive);
  threads.spawn({ name: "gateway interest" }, announce);
  threads.spawn({ name: "gateway overview" }, async () => {
    for (;;) {
      await sleep(options.overviewSeconds ?? 1);
      summarize();
    }
  });

  const server = new HttpServer();
  server.route(
    "GET",
    "/config",
    (request) =>
      request.respond(200, JSON.stringify({ size: settings.size, view: viewSize }), {
        "content-type": "application/json",
      }),
  );
  const statistics = (): GatewayStatistics => ({
    wanderers: totals.wanderers,
    stepsPerSecond: Math.round(totals.stepsPerSecond),
    shards: totals.shards,
    viewers: viewers.size,
    tiles: watchers.size,
    ...counts,
    frameLatency: frameLatency.percentiles(),
    sendLatency: sendLatency.percentiles(),
  });
  server.route(
    "GET",
    "/stats",
    (request) =>
      request.respond(200, JSON.stringify(statistics()), { "content-type": "application/json" }),
  );
  server.push(websocketHandler("/ws", async (ws: ServerWebSocket) => {
    const start = Math.floor((settings.size - viewSize) / 2);
    const viewer: Viewer = { view: new Viewport(start, start, viewSize), tiles: [] };
    viewers.add(viewer);
    summarize(); // the viewer count changed
    await new ThreadGroup({ name: "viewer" }).run(async (group) => {
      try {
        await retile(viewer, tilesOf(viewer.view));
        group.spawn({ name: "viewer sender" }, () => sendUpdates(ws, viewer));
        for await (const message of ws) {
          if (message.type !== "text") continue;
          let wanted: { x?: unknown; y?: unknown };
          try {
            wanted = JSON.parse(message.data);
          } catch {
            continue; // a page that sends nonsense is ignored, not fatal
          }
          if (typeof wanted.x !== "number" || typeof wanted.y !== "number") continue;
          const view = viewer.view;
          const x = Math.round(Math.min(Math.max(wanted.x, 0), settings.size - viewSize));
          const y = Math.round(Math.min(Math.max(wanted.y, 0), settings.size - viewSize));
          if (!(x !== view.x0 || y !== view.y0)) continue; // also NaN
          view.x0 = x;
          view.y0 = y;
          view.x1 = x + viewSize;
          view.y1 = y + viewSize;
          view.moved = true;
          view.changed.set();
          await retile(viewer, tilesOf(view));
        }
      } finally {
        group.shutdown();
        viewers.delete(viewer);
        await retile(viewer, []);
        summarize();
      }
    });
  }, { hixie76: false, deflate: true }));
  server.push(statusHandler()).push(faviconHandler()).push(staticFilesHandler(publicDir));
  server.listen(options.listen ?? "127.0.0.1:8080");

  return {
    settings,
    server,
    url: `${server.url}/`,
    statistics,
    async stop() {
      await server.close();
      threads.shutdown();
      try {
        await threads.join();
      } catch (e) {
        if (!(e instanceof Shutdown)) throw e;
      }
      await session.connection.close();
    },
  };
}

function option(name: string, fallback: string): string {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
}

if (import.meta.main) {
  const code = await main(async () => {
    const host = option("host", "127.0.0.1"), port = option("port", "8080");
    let gateway: Gateway;
    try {
      gateway = await startGateway({
        // $MMO_AMQP_URL keeps a password off the command line (which any local user reads).
        amqp: parseAmqpUrl(
          option("amqp", Deno.env.get("MMO_AMQP_URL") ?? "amqp://127.0.0.1:5672/"),
        ),
        listen: `${host.includes(":") ? `[${host}]` : host}:${port}`,
        fps: Number(option("fps", "20")),
        namespace: option("namespace", "mmo"),
      });
    } catch (e) {
      if (e instanceof AddressInUseError) {
        console.error(`gateway: ${host} port ${port} is in use; pick another with --port=`);
        return 1;
      }
      if (e instanceof NoShardsError) {
        console.error(`gateway: ${e.message}`);
        return 1;
      }
      throw e;
    }
    const s = gateway.settings;
    console.log(
      `gateway: a ${s.columns}x${s.rows} sharded field of side ${s.size}, open ${gateway.url}`,
    );
    await new Event().wait(); // until SIGINT/SIGTERM: main shuts the threads down
    return 0;
  });
  Deno.exitCode = code ?? 0;
}
