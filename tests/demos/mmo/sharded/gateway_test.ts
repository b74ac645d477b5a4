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
  encodeSummary,
  framesExchange,
  interestExchange,
  interestKey,
  putTileHeader,
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

type Sighting = [number, number, number]; // ms, x, y

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
      if (browser === undefined) return;
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
      assert.deepEqual(view, [1536, 1536], "the view straddles the four regions' corner");
      assert.ok(seen.messages > 50, `only ${seen.messages} movers messages`);
      assert.equal(seen.duplicates, 0, "a circle twice in one message");
      const grid = shards.grid;
      const handoffs = shards.shards.reduce(
        (n, s) => n + s.statistics().sentTo.reduce((a, b) => a + b, 0),
        0,
      );
      assert.ok(handoffs > 0, "no handoff between the shards");
      const regionsSeen = new Set<number>();
      let crossings = 0;
      const maxStep = 13; // px: a wanderer's fastest step
      for (const [id, sightings] of Object.entries(seen.byId)) {
        for (let i = 0; i < sightings.length; i++) {
          const [t, x, y] = sightings[i];
          const region = grid.indexAt(x, y);
          regionsSeen.add(region);
          if (i === 0) continue;
          const [t0, x0, y0] = sightings[i - 1];
          if (t - t0 > 500) continue; // out of view meanwhile: it may come back elsewhere
          // The steps the time between the page's receipts allows, and 6 more: on a busy
          // machine an update comes late and the next one at once, the steps between their
          // frames squeezed into a short receipt gap. A teleport (a wanderer restored
          // elsewhere, or one shown at two shards' places) is hundreds of px.
          const allowed = maxStep * ((t - t0) / 1000 / stepSeconds + 6);
          const moved = Math.hypot(x - x0, y - y0);
          assert.ok(
            moved <= allowed,
            `wanderer ${id} jumped ${moved.toFixed(0)} px in ${(t - t0).toFixed(0)} ms ` +
              `(${x0},${y0}) -> (${x},${y})`,
          );
          if (grid.indexAt(x0, y0) !== region) crossings++;
        }
      }
      assert.equal(regionsSeen.size, 4, `circles from regions ${[...regionsSeen]}`);
      assert.ok(crossings > 0, "no wanderer crossed a border in view");
    } finally {
      await browser?.close();
      await gateway?.stop();
      await shards.stop();
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
