/**
 * The sharded field's gateway against a real RabbitMQ: tiles nobody watches cost the
 * broker nothing, a viewer's tiles flow and stop when it leaves, garbage on the exchanges
 * is counted and dropped; and in headless Chromium, a viewport straddling the four
 * regions of a 2x2 grid sees circles from each, and wanderers crossing the borders
 * without a jump or a duplicate.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { connectWebSocket, Event, Shutdown, sleep, spawn } from "../../../../mod.ts";
import { World } from "../../../../demos/mmo/world.ts";
import { RegionGrid } from "../../../../demos/mmo/sharded/grid.ts";
import { startFramePublisher } from "../../../../demos/mmo/sharded/frames.ts";
import { AmqpConnection } from "../../../../proto/amqp/mod.ts";
import { decodeMessage } from "../../../../demos/mmo/protocol.ts";
import {
  type Gateway,
  NoShardsError,
  startGateway,
} from "../../../../demos/mmo/sharded/gateway.ts";
import {
  decodeTileFrame,
  encodeSummary,
  framesExchange,
  interestExchange,
  interestKey,
  moverAt,
  putTileHeader,
  putTileMover,
  summaryKey,
  TILE_HEADER_BYTES,
  TILE_MOVER_BYTES,
  tileKey,
  wallMs,
} from "../../../../demos/mmo/sharded/wire.ts";
import { withServer } from "../../../_servers.ts";
import { rabbitmqAvailable, startRabbitmq } from "../../../proto/amqp/_rabbitmq.ts";
import { startShardsHere } from "./_shards_here.ts";

const servers = await withServer(
  "RabbitMQ",
  rabbitmqAvailable(),
  "apt-get install rabbitmq-server",
  startRabbitmq,
);

const CHROMIUM = "/usr/bin/chromium";
const chromiumThere = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Waits (bounded) until `check` holds. */
async function until(what: string, seconds: number, check: () => boolean): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(0.05);
  }
}

servers.test(
  "gateway: unwatched tiles cost nothing; a viewer's tiles flow and stop when it leaves; garbage is dropped",
  async (server) => {
    const shards = await startShardsHere({ port: server.port, wanderers: 400 });
    let gateway: Gateway | undefined;
    try {
      gateway = await startGateway({
        amqp: { port: server.port },
        namespace: shards.namespace,
        listen: "127.0.0.1:0",
        settingsTimeoutSeconds: 10,
        leaseSeconds: 1.5,
      });
      assert.deepEqual(gateway.settings, {
        columns: 2,
        rows: 2,
        size: 4096,
        boxes: 200,
        seed: 3,
        tileSize: 512,
        fps: 20,
      });
      await sleep(1.2); // frames go by, summaries too
      const published = () =>
        shards.publishers.reduce((n, p) => n + p.statistics().tileMessages, 0);
      assert.equal(published(), 0, "nobody watches: no tile is published");
      assert.ok(shards.publishers.every((p) => p.statistics().summaries > 0));

      // A viewer at the centre: the tiles around it flow, from the four shards.
      const ws = await connectWebSocket(`${gateway.url.replace("http", "ws")}ws`);
      let movers = 0, overview: { wanderers: number } | undefined;
      const reader = spawn(async () => {
        for (;;) {
          const m = await ws.receive();
          if (m === null) return;
          if (m.type !== "binary") continue;
          const message = decodeMessage(m.data);
          if (message.type === "movers") movers = Math.max(movers, message.movers.length);
          if (message.type === "overview") overview = message;
        }
      });
      await until("tile frames", 10, () => gateway!.statistics().tileMessages > 40);
      await until("movers and the overview", 10, () => movers > 0 && overview !== undefined);
      // All four shards' counts (each taken at its own moment, handoffs on their way
      // counted in neither or both).
      await until("all four shards' counts", 5, () => Math.abs(overview!.wanderers - 400) <= 20);
      // View [1536, 2560] with tiles of 512: tiles 2..5 each way, and nothing further.
      for (const p of shards.publishers) {
        const s = p.statistics();
        assert.ok(s.watchedTiles > 0 && s.watchedTiles <= 16, `watched ${s.watchedTiles}`);
        assert.equal(s.gateways, 1);
      }
      assert.ok(gateway.statistics().frameLatency.samples > 0);

      // Garbage on both exchanges: counted, dropped, nothing stops.
      const amqp = await AmqpConnection.connect({ port: server.port });
      const ch = await amqp.channel();
      await ch.publish(
        interestExchange(shards.namespace),
        interestKey("0.0"),
        new Uint8Array([3, 1, 2]),
      );
      await ch.publish(framesExchange(shards.namespace), "s.0.0", new Uint8Array([2, 0, 0]));
      await ch.publish(framesExchange(shards.namespace), "t.3.3", new Uint8Array([1, 9, 9, 9]));
      // A well-formed frame of a region the field does not have, for a watched tile.
      const stray = new Uint8Array(23);
      putTileHeader(new DataView(stray.buffer), 999, 3, 3, 1, 0, 0);
      await ch.publish(framesExchange(shards.namespace), "t.3.3", stray);
      await amqp.close();
      await until("garbage counted", 5, () =>
        gateway!.statistics().badMessages >= 3 &&
        shards.publishers[0].statistics().badInterest >= 1);
      const before = gateway.statistics().tileMessages;
      await until(
        "more frames after the garbage",
        5,
        () => gateway!.statistics().tileMessages > before + 20,
      );

      // The viewer leaves: its interest ends at once (not a lease later).
      reader.shutdown(); // one reader at a time: close reads the peer's close reply
      await assert.rejects(reader.join(), Shutdown);
      await ws.close();
      await until(
        "the shards to stop publishing",
        3,
        () => shards.publishers.every((p) => p.statistics().watchedTiles === 0),
      );
      const settled = published();
      await sleep(0.5);
      assert.equal(published(), settled, "no tile published once nobody watches");
    } finally {
      await gateway?.stop();
      await shards.stop();
    }
  },
);

type Sighting = [number, number, number]; // ms (the page's receipt), x, y
/** A wanderer as a shard's tile frame showed it: the shard's clock (ms), x, y, region. */
type Published = [number, number, number, number];

/** A wanderer's fastest step, px (world.ts: 3 to 13 px a step, and a px of rounding). */
const MAX_STEP = 13;

/**
 * The most steps a wanderer takes in `ms` of its shard's clock: a Pacer's beats are at
 * least `period - catchUp` apart (catchUp: a fifth of the period), and the first one
 * after an adoption a whole period after it, so in any `ms` at most
 * `floor(ms / (0.8 period)) + 1` steps, across a handoff too (the receiver goes on from
 * the state the sender released, which does not move in between).
 */
function maxSteps(ms: number, stepSeconds: number): number {
  return Math.floor(ms / (0.8 * stepSeconds * 1000)) + 1;
}

/**
 * A queue of the test's own bound to every tile of the field: each wanderer's positions
 * as the shards published them, with the publishing shard's clock (the tile frames'
 * times; one clock here, as the shards share this process). Nothing is dropped from it.
 */
async function tapFrames(port: number, namespace: string, tileSize: number) {
  const amqp = await AmqpConnection.connect({ port });
  const ch = await amqp.channel();
  const { queue } = await ch.queueDeclare("", { exclusive: true, autoDelete: true });
  await ch.queueBind(queue, framesExchange(namespace), "t.#");
  const consumer = await ch.consume(queue, { noAck: true });
  const byId = new Map<number, Published[]>();
  /** Per region, the newest frame's time (each shard's frames come in its order). */
  const newest = new Map<number, number>();
  let twiceInAFrame = 0;
  const seenInFrame = new Map<number, { sequence: number; ids: Set<number> }>();
  const reader = spawn({ name: "frames tap" }, async () => {
    for (;;) {
      const d = await consumer.next();
      if (d === null) return;
      const f = decodeTileFrame(d.body);
      newest.set(f.region, f.time);
      let frame = seenInFrame.get(f.region);
      if (frame?.sequence !== f.sequence) {
        seenInFrame.set(f.region, frame = { sequence: f.sequence, ids: new Set() });
      }
      for (let i = 0; i < f.count; i++) {
        const m = moverAt(f, i, tileSize);
        if (frame.ids.has(m.id)) twiceInAFrame++;
        frame.ids.add(m.id);
        let list = byId.get(m.id);
        if (list === undefined) byId.set(m.id, list = []);
        list.push([f.time, m.x, m.y, f.region]);
      }
    }
  });
  return {
    byId,
    twiceInAFrame: () => twiceInAFrame,
    /** Waits (bounded) until the tap holds every frame published so far. */
    async catchUp(regions: number) {
      const published = wallMs();
      await until("the tap to catch up", 10, () => {
        for (let r = 0; r < regions; r++) if (!((newest.get(r) ?? 0) > published)) return false;
        return true;
      });
    },
    async stop() {
      reader.shutdown();
      await assert.rejects(reader.join(), Shutdown);
      await amqp.close();
    },
  };
}

/**
 * What the shards published, on their clock: each wanderer where its last shard left it
 * (not restored elsewhere, not rolled back by a handoff delivered again), and in one shard
 * at a time (two holding it would alternate two diverging paths). Sorts each id's places
 * in time order.
 */
function checkPublished(tap: Tap, stepSeconds: number): void {
  assert.equal(tap.twiceInAFrame(), 0, "a wanderer twice in one shard's frame");
  let handedOver = 0;
  for (const [id, published] of tap.byId) {
    published.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < published.length; i++) {
      const [t0, x0, y0, r0] = published[i - 1], [t, x, y, r] = published[i];
      // +2 px: both ends are rounded to whole px.
      const allowed = MAX_STEP * maxSteps(t - t0, stepSeconds) + 2;
      const moved = Math.hypot(x - x0, y - y0);
      assert.ok(
        moved <= allowed,
        `wanderer ${id} moved ${moved.toFixed(0)} px in ${(t - t0).toFixed(1)} ms of ` +
          `the shards' clock (${x0},${y0}) in region ${r0} -> (${x},${y}) in region ${r}`,
      );
      if (r !== r0) handedOver++;
    }
  }
  assert.ok(handedOver > 0, "no handoff in the published frames");
}

type Tap = Awaited<ReturnType<typeof tapFrames>>;

servers.test(
  `gateway in Chromium: a view across 2x2 regions sees circles from each, borders crossed without a jump or a duplicate${
    chromiumThere ? "" : " (no chromium: checked without the browser)"
  }`,
  async (server) => {
    assert.ok(chromiumThere || Deno.env.get("CI") !== "true", `${CHROMIUM} is missing`);
    const stepSeconds = 0.05;
    const shards = await startShardsHere({
      port: server.port,
      wanderers: 600,
      stepSeconds,
    });
    let gateway: Gateway | undefined;
    let tap: Tap | undefined;
    const browser = chromiumThere
      ? await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] })
      : undefined;
    try {
      gateway = await startGateway({
        amqp: { port: server.port },
        namespace: shards.namespace,
        listen: "127.0.0.1:0",
        settingsTimeoutSeconds: 10,
      });
      // Bound before any viewer: every frame the page can be shown is in it.
      tap = await tapFrames(server.port, shards.namespace, gateway.settings.tileSize);
      if (browser === undefined) {
        // What the gateway gets for a viewer is checked all the same.
        const ws = await connectWebSocket(`${gateway.url.replace("http", "ws")}ws`);
        await sleep(6);
        await tap.catchUp(shards.grid.count);
        await ws.close();
        checkPublished(tap, stepSeconds);
        return;
      }
      const page = await browser.newPage({ viewport: { width: 900, height: 940 } });
      // Every movers message the page gets, recorded as it arrives (before the page's own
      // handler): duplicates within a message, and each id's sightings.
      await page.addInitScript(() => {
        const g = globalThis as unknown as {
          WebSocket: new (url: string) => { addEventListener(t: string, f: unknown): void };
          seen: { duplicates: number; messages: number; byId: Record<number, Sighting[]> };
        };
        g.seen = { duplicates: 0, messages: 0, byId: {} };
        const Native = g.WebSocket;
        g.WebSocket = class extends Native {
          constructor(url: string) {
            super(url);
            this.addEventListener("message", (e: { data: unknown }) => {
              if (!(e.data instanceof ArrayBuffer)) return;
              const v = new DataView(e.data);
              if (v.getUint8(0) !== 2) return;
              const n = v.getUint32(1, true), ids = new Set<number>(), t = performance.now();
              g.seen.messages++;
              for (let i = 0, p = 5; i < n; i++, p += 13) {
                const id = v.getUint32(p, true);
                if (ids.has(id)) g.seen.duplicates++;
                ids.add(id);
                (g.seen.byId[id] ??= []).push([
                  t,
                  v.getInt32(p + 4, true),
                  v.getInt32(p + 8, true),
                ]);
              }
            });
          }
        };
      });
      await page.goto(gateway.url);
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as { mmo: { frames: number; movers: unknown[] } }).mmo;
          return s.frames > 3 && s.movers.length > 0;
        },
        undefined,
        { timeout: 15_000, polling: 50 },
      );
      await sleep(6); // borders get crossed meanwhile
      const seen = await page.evaluate(() =>
        (globalThis as unknown as {
          seen: { duplicates: number; messages: number; byId: Record<number, Sighting[]> };
        }).seen
      );
      const view = await page.evaluate(() => {
        const s = (globalThis as unknown as { mmo: { viewX: number; viewY: number } }).mmo;
        return [s.viewX, s.viewY];
      });
      // Every frame the page was shown is in the tap once it has a later one of each shard.
      await tap.catchUp(shards.grid.count);
      assert.deepEqual(view, [1536, 1536], "the view straddles the four regions' corner");
      assert.ok(seen.messages > 50, `only ${seen.messages} movers messages`);
      assert.equal(seen.duplicates, 0, "a circle twice in one message");
      const grid = shards.grid;
      const handoffs = shards.shards.reduce(
        (n, s) => n + s.statistics().sentTo.reduce((a, b) => a + b, 0),
        0,
      );
      assert.ok(handoffs > 0, "no handoff between the shards");

      checkPublished(tap, stepSeconds);

      // What the page was shown: each circle at a place a shard published for it, in the
      // order of the shards' clock (never an older frame's place after a newer one: the
      // old shard's after the new shard's), and no further than that clock allows.
      // Matched on (id, x, y): a wanderer moves at least 3 px a step, so a place is one
      // step's, published by one shard in one or more frames.
      const regionsSeen = new Set<number>();
      let crossings = 0;
      for (const [key, sightings] of Object.entries(seen.byId)) {
        const id = Number(key);
        const times = new Map<string, number[]>();
        for (const [t, x, y] of tap.byId.get(id) ?? []) {
          const at = `${x},${y}`;
          let list = times.get(at);
          if (list === undefined) times.set(at, list = []);
          list.push(t); // in time order (sorted above)
        }
        let floor = -Infinity;
        for (let i = 0; i < sightings.length; i++) {
          const [t, x, y] = sightings[i];
          const candidates = times.get(`${x},${y}`);
          assert.ok(
            candidates !== undefined,
            `wanderer ${id} shown at (${x},${y}), where no shard published it`,
          );
          const shardTime = candidates.find((c) => c >= floor);
          assert.ok(
            shardTime !== undefined,
            `wanderer ${id} shown at (${x},${y}) published ${
              (floor - candidates.at(-1)!).toFixed(1)
            } ms before ` +
              "a place it was shown at already: rolled back",
          );
          const region = grid.indexAt(x, y);
          regionsSeen.add(region);
          if (i > 0) {
            const [t0, x0, y0] = sightings[i - 1];
            const moved = Math.hypot(x - x0, y - y0);
            const allowed = MAX_STEP * maxSteps(shardTime - floor, stepSeconds) + 2;
            assert.ok(
              moved <= allowed,
              `wanderer ${id} shown ${moved.toFixed(0)} px away after ${
                (shardTime - floor).toFixed(1)
              } ms of the shards' clock (${x0},${y0}) -> (${x},${y})`,
            );
            // And by the page's clock alone (its protocol has no time): the steps of the
            // time between receipts, and 2 s of steps more, which jitter cannot pass (the
            // gateway drops what waited 2 s in its queue, and a held frame 0.5 s after
            // its receipt); a wanderer restored far off or shown at another shard's
            // place would.
            const byReceipt = MAX_STEP * maxSteps(t - t0 + 2000, stepSeconds) + 2;
            assert.ok(
              moved <= byReceipt,
              `wanderer ${id} jumped ${moved.toFixed(0)} px in ${(t - t0).toFixed(0)} ms ` +
                `(${x0},${y0}) -> (${x},${y})`,
            );
            if (grid.indexAt(x0, y0) !== region) crossings++;
          }
          floor = shardTime;
        }
      }
      assert.equal(regionsSeen.size, 4, `circles from regions ${[...regionsSeen]}`);
      assert.ok(crossings > 0, "no wanderer crossed a border in view");
    } finally {
      await tap?.stop();
      await browser?.close();
      await gateway?.stop();
      await shards.stop();
    }
  },
);

servers.test(
  "gateway: a wanderer is never shown at an older frame's place once a newer frame showed it elsewhere (a lagging old shard)",
  async (server) => {
    // Frames made here, as the shards of a 2x2 field of side 4096 would publish them.
    const namespace = `lag.${crypto.randomUUID().slice(0, 8)}`, tileSize = 512;
    const settings = { columns: 2, rows: 2, size: 4096, boxes: 10, seed: 1, tileSize, fps: 20 };
    const amqp = await AmqpConnection.connect({ port: server.port });
    const ch = await amqp.channel();
    await ch.exchangeDeclare(framesExchange(namespace), "topic");
    const summaries = spawn({ name: "summaries" }, async () => {
      for (;;) {
        for (const [region, id] of [[0, "0.0"], [1, "1.0"]] as const) {
          await ch.publish(
            framesExchange(namespace),
            summaryKey(id),
            encodeSummary({
              region,
              settings,
              instance: 1,
              time: wallMs(),
              wanderers: 1,
              stepsPerSecond: 10,
              gridSide: 2,
              gx0: region,
              gy0: 0,
              gx1: region + 1,
              gy1: 1,
              counts: Uint16Array.of(0),
            }),
          );
        }
        await sleep(0.2);
      }
    });
    const tileFrame = (region: number, tx: number, ty: number, time: number, at: number[]) => {
      const out = new Uint8Array(TILE_HEADER_BYTES + (at.length / 2) * TILE_MOVER_BYTES);
      const v = new DataView(out.buffer);
      putTileHeader(v, region, tx, ty, 1, time, at.length / 2);
      for (let i = 0; i < at.length; i += 2) {
        putTileMover(
          v,
          TILE_HEADER_BYTES + (i / 2) * TILE_MOVER_BYTES,
          7,
          at[i] - tx * tileSize,
          at[i + 1] - ty * tileSize,
          1,
        );
      }
      return ch.publish(framesExchange(namespace), tileKey(tx, ty), out);
    };
    let gateway: Gateway | undefined;
    try {
      // Held frames stay fresh for the whole test, however slow the machine.
      gateway = await startGateway({
        amqp: { port: server.port },
        namespace,
        listen: "127.0.0.1:0",
        settingsTimeoutSeconds: 10,
        staleSeconds: 30,
      });
      const ws = await connectWebSocket(`${gateway.url.replace("http", "ws")}ws`);
      // Wanderer 7's place in each movers message (null: not shown).
      const shown: ([number, number] | null)[] = [];
      let messages = 0;
      const reader = spawn(async () => {
        for (;;) {
          const m = await ws.receive();
          if (m === null) return;
          if (m.type !== "binary") continue;
          messages++; // the first (the boxes) comes once the viewer's tiles are bound
          const message = decodeMessage(m.data);
          if (message.type !== "movers") continue;
          const seven = message.movers.find((mover) => mover[0] === 7);
          shown.push(seven === undefined ? null : [seven[1], seven[2]]);
        }
      });
      const at = (x: number, y: number) => () =>
        shown.length > 0 && shown.at(-1)?.[0] === x && shown.at(-1)?.[1] === y;
      await until("the viewer's tiles", 10, () => messages > 0);
      // The view is [1536, 2560] both ways. Wanderer 7 in region 0, then handed to region
      // 1 and shown there, then on out of the view (up), while region 0's shard lags: its
      // frames after the handoff (without 7) have not come yet.
      const t = wallMs();
      await tileFrame(0, 3, 3, t, [2040, 1600]);
      await until("7 in region 0", 10, at(2040, 1600));
      await tileFrame(1, 4, 3, t + 100, [2050, 1590]);
      await until("7 in region 1", 10, at(2050, 1590));
      const handedOver = shown.length;
      await tileFrame(1, 4, 2, t + 150, [2060, 1505]); // out of view (y + 25 < 1536)
      await tileFrame(1, 4, 3, t + 150, []);
      const sent = gateway.statistics().updates;
      await until("the updates after it", 10, () => gateway!.statistics().updates > sent + 1);
      await sleep(0.1); // to the reader
      assert.deepEqual(
        shown.slice(handedOver).filter((p) => p?.[0] === 2040),
        [],
        "7 shown at region 0's older place after region 1's newer one",
      );
      assert.equal(shown.at(-1), null, "7 shown while its newest place is out of view");
      reader.shutdown();
      await assert.rejects(reader.join(), Shutdown);
      await ws.close();
    } finally {
      await gateway?.stop();
      summaries.shutdown();
      await assert.rejects(summaries.join(), Shutdown);
      await amqp.close();
    }
  },
);

servers.test(
  "gateway: the broker restarted, it reconnects and re-subscribes; its viewer stays connected",
  async (server) => {
    const size = 2048, boxes = 20, seed = 5, namespace = "restart";
    const grid = RegionGrid.parse("1x1", size);
    const world = new World({ size, boxes, seed, wanderers: 200 });
    world.start();
    // A publisher in a thread of its own: the broker's going fails it (as it fails a shard,
    // which its supervisor restarts), and a new one starts on the new broker.
    const publishing = () =>
      spawn({ name: "publisher" }, async () => {
        const amqp = await AmqpConnection.connect({ port: server.port, heartbeat: 1 });
        try {
          await startFramePublisher(world, amqp, grid.regions[0], {
            grid,
            seed,
            boxes,
            namespace,
          });
          await new Event().wait();
        } finally {
          await amqp.close();
        }
      });
    let publisher = publishing();
    let gateway: Gateway | undefined;
    try {
      gateway = await startGateway({
        amqp: { port: server.port, heartbeat: 1 },
        namespace,
        listen: "127.0.0.1:0",
        settingsTimeoutSeconds: 10,
      });
      const ws = await connectWebSocket(`${gateway.url.replace("http", "ws")}ws`);
      let movers = 0;
      const reader = spawn(async () => {
        for (;;) {
          const m = await ws.receive();
          if (m === null) return;
          if (m.type === "binary" && m.data[0] === 2) movers++;
        }
      });
      await until("movers before the restart", 10, () => movers > 5);
      await server.restart();
      await assert.rejects(publisher.join()); // its connection went with the broker
      publisher = publishing();
      await until("the gateway's reconnection", 20, () => gateway!.statistics().reconnects >= 1);
      const before = movers;
      await until("movers after the restart, on the same WebSocket", 15, () => movers > before + 5);
      assert.equal(gateway.statistics().viewers, 1);
      reader.shutdown();
      await assert.rejects(reader.join(), Shutdown);
      await ws.close();
    } finally {
      await gateway?.stop();
      publisher.shutdown();
      await assert.rejects(publisher.join());
      await world.stop();
    }
  },
);

servers.test(
  "gateway: a hostile first summary (grid past 64x64, a huge density grid, too many boxes) is dropped, not trusted",
  async (server) => {
    const namespace = `test.${crypto.randomUUID().slice(0, 8)}`;
    const amqp = await AmqpConnection.connect({ port: server.port });
    try {
      const ch = await amqp.channel();
      await ch.exchangeDeclare(framesExchange(namespace), "topic");
      const base = {
        region: 0,
        settings: { columns: 2, rows: 2, size: 4096, boxes: 10, seed: 1, tileSize: 512, fps: 20 },
        instance: 1,
        time: 0,
        wanderers: 0,
        stepsPerSecond: 0,
        gridSide: 64,
        gx0: 0,
        gy0: 0,
        gx1: 0,
        gy1: 0,
        counts: new Uint16Array(0),
      };
      const hostile = [
        { ...base, settings: { ...base.settings, columns: 200 } }, // no such grid
        { ...base, gridSide: 65535 }, // an 8 GB density grid
        { ...base, settings: { ...base.settings, boxes: 4_000_000_000 } }, // boxes for ever
      ].map(encodeSummary);
      const publisher = spawn(async () => {
        for (;;) {
          for (const bytes of hostile) await ch.publish(framesExchange(namespace), "s.0.0", bytes);
          await sleep(0.05);
        }
      });
      try {
        await assert.rejects(
          startGateway({
            amqp: { port: server.port },
            namespace,
            listen: "127.0.0.1:0",
            settingsTimeoutSeconds: 2,
          }),
          NoShardsError,
        );
      } finally {
        publisher.shutdown();
        await assert.rejects(publisher.join(), Shutdown);
      }
    } finally {
      await amqp.close();
    }
  },
);

servers.test(
  "gateway: tile frames naming a region the grid does not have, or a tile outside the world, are dropped, not held",
  async (server) => {
    const namespace = `test.${crypto.randomUUID().slice(0, 8)}`;
    const amqp = await AmqpConnection.connect({ port: server.port });
    let gateway: Gateway | undefined;
    try {
      const ch = await amqp.channel();
      const frames = framesExchange(namespace);
      await ch.exchangeDeclare(frames, "topic");
      const summary = encodeSummary({
        region: 0,
        settings: { columns: 1, rows: 1, size: 2048, boxes: 10, seed: 1, tileSize: 512, fps: 20 },
        instance: 1,
        time: 0,
        wanderers: 0,
        stepsPerSecond: 0,
        gridSide: 4,
        gx0: 0,
        gy0: 0,
        gx1: 4,
        gy1: 4,
        counts: new Uint16Array(16),
      });
      const summaries = spawn(async () => {
        for (;;) {
          await ch.publish(frames, "s.0.0", summary);
          await sleep(0.1);
        }
      });
      try {
        gateway = await startGateway({
          amqp: { port: server.port },
          namespace,
          listen: "127.0.0.1:0",
          settingsTimeoutSeconds: 5,
        });
        // A viewer watches the tiles around the centre: (1..2, 1..2) and their neighbours.
        const ws = await connectWebSocket(`${gateway.url.replace("http", "ws")}ws`);
        try {
          await until("the tiles watched", 5, () => gateway!.statistics().tiles > 0);
          await sleep(0.2); // the bindings made
          const frame = (region: number, tx: number, ty: number) => {
            const out = new Uint8Array(23);
            putTileHeader(new DataView(out.buffer), region, tx, ty, 1, Date.now(), 0);
            return out;
          };
          // One region in a 1x1 grid; 4 tiles a side: region 7 and tile 9 are nobody's.
          for (let region = 1; region <= 50; region++) {
            await ch.publish(frames, "t.1.1", frame(region, 1, 1));
          }
          await ch.publish(frames, "t.1.1", frame(0, 9, 1));
          await until("all 51 counted as bad", 5, () => gateway!.statistics().badMessages >= 51);
        } finally {
          await ws.close();
        }
      } finally {
        summaries.shutdown();
        await assert.rejects(summaries.join(), Shutdown);
      }
    } finally {
      await gateway?.stop();
      await amqp.close();
    }
  },
);

servers.finish();
