/**
 * The field demo (`deno task demo:mmo`): a world of boxes and wanderer threads, served
 * over HTTP with a WebSocket per browser. Each browser has its own 1024x1024 viewport and
 * gets an update only when something in it changed, at most once a frame.
 *
 * Options: --port=8080 --host=127.0.0.1 --wanderers=1000 --boxes=5000 --size=20480 --fps=20
 *
 * With `--shards=WxH --amqp=amqp://user:password@host:5672/` it is the sharded field
 * instead (`sharded/launch.ts`): W*H shard processes handing wanderers off through
 * RabbitMQ, and a gateway here (see docs/mmo-sharded.md); also `--namespace=`,
 * `--commit-seconds=`, `--snapshot-seconds=`. SIGHUP restarts the shards one at a time
 * (each makes its last commit and exits, then its next process takes the region over).
 *
 * @module
 */

import { main } from "../../core/main.ts";
import { now } from "../../core/clock.ts";
import { sleep, sleepUntil } from "../../core/sleep.ts";
import { Event } from "../../core/sync/event.ts";
import { spawn } from "../../core/thread.ts";
import { ThreadGroup } from "../../core/thread_group.ts";
import { ClosedError, Shutdown } from "../../core/errors.ts";
import { SocketError } from "../../net/errors.ts";
import { faviconHandler, HttpServer, statusHandler } from "../../proto/http/mod.ts";
import { staticFilesHandler } from "../../proto/http/handlers.ts";
import { type ServerWebSocket, websocketHandler } from "../../proto/websocket/mod.ts";
import { AddressInUseError } from "../../net/errors.ts";
import { encodeMovers, encodeOverview, encodeView, encodeWorldBoxes } from "./protocol.ts";
import { type Mover, type Viewport, World, type WorldOptions } from "./world.ts";

/** Options of {@linkcode startMmo}. */
export interface MmoOptions extends WorldOptions {
  /** Listening address ("127.0.0.1:8080"). */
  listen?: string;
  /** Most updates per second to one viewer (20). */
  fps?: number;
  /** Side of a viewport (1024). */
  viewSize?: number;
  /** Seconds between overviews (the minimap's density and the header's counts) (1). */
  overviewSeconds?: number;
}

/** Cells per side of the minimap's density grid. */
const GRID = 64;

/**
 * `n` and the noun, in the plural unless `n` is 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plural } from "./server.ts";
 * assert.equal(plural(1, "wanderer"), "1 wanderer");
 * assert.equal(plural(2, "box", "boxes"), "2 boxes");
 * ```
 */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A running field demo. */
export interface Mmo {
  /** The world. */
  world: World;
  /** The HTTP server. */
  server: HttpServer;
  /** The page's URL. */
  url: string;
  /** Viewers connected now. */
  viewers(): number;
  /** Stops the wanderers and the server. */
  stop(): Promise<void>;
}

const publicDir = new URL("./public/", import.meta.url).pathname;

/**
 * Starts the world and its server (call from a thread).
 *
 * @example
 * ```ts ignore
 * const mmo = startMmo({ wanderers: 100, listen: "127.0.0.1:0" });
 * console.log(mmo.url);
 * ```
 */
export function startMmo(options: MmoOptions = {}): Mmo {
  const world = new World(options);
  const frame = 1 / (options.fps ?? 20);
  const viewSize = options.viewSize ?? 1024;
  let viewers = 0;
  const views = new Set<Viewport>();
  // The minimap's data: every box once per viewer, and an overview every second.
  const worldBoxes = encodeWorldBoxes(
    world.size,
    world.boxes.query({ x0: 0, y0: 0, x1: world.size, y1: world.size }),
  );
  let overview: Uint8Array = new Uint8Array(0), overviewGeneration = 0;
  const grid = new Uint16Array(GRID * GRID);
  const cell = world.size / GRID;
  const count = (m: Mover) => {
    const gx = Math.min(GRID - 1, Math.max(0, Math.floor(m.x / cell)));
    const gy = Math.min(GRID - 1, Math.max(0, Math.floor(m.y / cell)));
    const i = gy * GRID + gx;
    if (grid[i] < 65535) grid[i]++;
  };
  const everywhere = { x0: 0, y0: 0, x1: world.size, y1: world.size };
  let lastSteps = world.steps, lastTime = now();
  const summarize = () => {
    grid.fill(0);
    world.movers.forEachIn(everywhere, count);
    const t = now();
    const stepsPerSecond = t > lastTime ? (world.steps - lastSteps) / (t - lastTime) : 0;
    lastSteps = world.steps;
    lastTime = t;
    overview = encodeOverview(
      { wanderers: world.movers.size, stepsPerSecond, viewers },
      GRID,
      grid,
    );
    overviewGeneration++;
    for (const view of views) view.changed.set();
  };
  summarize();
  const overviewer = spawn({ name: "mmo overview" }, async () => {
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
      request.respond(200, JSON.stringify({ size: world.size, view: viewSize }), {
        "content-type": "application/json",
      }),
  );
  server.route("GET", "/stats", (request) =>
    request.respond(
      200,
      JSON.stringify({ wanderers: world.movers.size, steps: world.steps, viewers }),
      { "content-type": "application/json" },
    ));
  server.push(websocketHandler("/ws", async (ws: ServerWebSocket) => {
    viewers++;
    const start = Math.floor((world.size - viewSize) / 2);
    const view = world.addViewport(start, start, viewSize);
    views.add(view);
    summarize(); // the viewer count changed
    // The sender is the reader's child: a bug in it fails the group, which raises it in
    // the reader (and so in the server's onError); the reader ending stops the sender.
    await new ThreadGroup({ name: "viewer" }).run(async (viewer) => {
      viewer.spawn({ name: "viewer sender" }, () => sendUpdates(ws, view));
      try {
        for await (const message of ws) {
          if (message.type !== "text") continue;
          let wanted: { x?: unknown; y?: unknown };
          try {
            wanted = JSON.parse(message.data);
          } catch {
            continue; // a page that sends nonsense is ignored, not fatal
          }
          if (typeof wanted.x === "number" && typeof wanted.y === "number") {
            world.moveViewport(view, wanted.x, wanted.y);
          }
        }
      } finally {
        viewer.shutdown();
        world.removeViewport(view);
        views.delete(view);
        viewers--;
        summarize();
      }
    });
  }, { hixie76: false, deflate: true }));
  /** Sends a viewer its updates until it leaves (a send to a closed peer ends it). */
  const sendUpdates = async (ws: ServerWebSocket, view: Viewport) => {
    try {
      await ws.sendBinary(worldBoxes);
      let sentGeneration = -1;
      for (;;) {
        await view.changed.wait();
        view.changed.clear();
        if (view.moved) {
          view.moved = false;
          await ws.sendBinary(encodeView(view, world.boxes.query(view)));
        }
        await ws.sendBinary(encodeMovers(world.movers.query(view)));
        if (sentGeneration !== overviewGeneration) {
          sentGeneration = overviewGeneration;
          await ws.sendBinary(overview);
        }
        // Changes meanwhile go out together in the next update, on a frame clock shared
        // by every viewer: one wake per frame for all of them rather than one each (a
        // wake of the event loop costs ~100 us of CPU here, more than the update).
        await sleepUntil((Math.floor(now() / frame + 0.5) + 1) * frame);
      }
    } catch (e) {
      // The viewer left (or stopped reading past sendTimeout): the reader sees it too.
      if (!(e instanceof ClosedError || e instanceof SocketError)) throw e;
    }
  };
  server.push(statusHandler()).push(faviconHandler()).push(staticFilesHandler(publicDir));
  server.listen(options.listen ?? "127.0.0.1:8080");
  world.start();
  return {
    world,
    server,
    url: `${server.url}/`,
    viewers: () => viewers,
    async stop() {
      overviewer.shutdown();
      try {
        await overviewer.join();
      } catch (e) {
        if (!(e instanceof Shutdown)) throw e;
      }
      await world.stop();
      await server.close();
    },
  };
}

function option(name: string, fallback: string): string {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
}

/** `--shards=WxH`: the sharded field (shard processes, RabbitMQ, a gateway) instead. */
async function runSharded(shards: string): Promise<number> {
  // Loaded only when asked for: the one-process demo loads nothing of it.
  const { startShardedField } = await import("./sharded/launch.ts");
  const given = (name: string) =>
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const exitCode = await main(async () => {
    const host = option("host", "127.0.0.1"), port = option("port", "8080");
    const namespace = given("namespace");
    const commitSeconds = given("commit-seconds");
    const snapshotSeconds = given("snapshot-seconds");
    // $MMO_AMQP_URL keeps a password off the command line (which any local user reads).
    const amqp = option("amqp", Deno.env.get("MMO_AMQP_URL") ?? "amqp://127.0.0.1:5672");
    let field;
    try {
      field = await startShardedField({
        shards,
        amqp,
        ...(namespace === undefined ? {} : { namespace }),
        listen: `${host.includes(":") ? `[${host}]` : host}:${port}`,
        wanderers: Number(option("wanderers", "1000")),
        boxes: Number(option("boxes", "5000")),
        size: Number(option("size", "20480")),
        fps: Number(option("fps", "20")),
        ...(commitSeconds === undefined ? {} : { commitSeconds: Number(commitSeconds) }),
        ...(snapshotSeconds === undefined ? {} : { snapshotSeconds: Number(snapshotSeconds) }),
      });
    } catch (e) {
      if (!(e instanceof AddressInUseError)) throw e;
      console.error(`field demo: ${host} port ${port} is in use; pick another with --port=`);
      return 1;
    }
    console.log(
      `field demo: ${plural(field.grid.count, "shard")} (${field.grid}) on ` +
        `${amqp.replace(/^(\w+:\/\/[^:@/]*):[^@/]*@/, "$1:***@")} as ${field.namespace}, open ${
          field.gateway!.server.url
        }/`,
    );
    const stop = new Event();
    const onSignal = () => stop.set();
    // SIGHUP: every shard restarted in turn (stop-first: each makes its last commit and
    // exits before its next process takes the region), e.g. after updating shard.ts. A
    // SIGHUP during a restart is not lost: restart() runs once more after the one under way.
    const onHangup = () => {
      spawn({ name: "field demo SIGHUP" }, async () => {
        try {
          await field.supervisor.restart();
          console.log(`field demo: rolling restart of ${plural(field.grid.count, "shard")} done`);
        } catch (e) {
          console.error("field demo: rolling restart failed:", e);
        }
      });
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGHUP", onHangup);
    try {
      await stop.wait();
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
      Deno.removeSignalListener("SIGHUP", onHangup);
      await field.stop(); // each shard makes a last commit
    }
    return 0;
  }, { signals: [] });
  return exitCode ?? 1;
}

const shardsFlag = Deno.args.find((a) => a.startsWith("--shards="))?.slice(9);
if (import.meta.main && shardsFlag !== undefined) {
  Deno.exitCode = await runSharded(shardsFlag);
} else if (import.meta.main) {
  const portTaken = await main(async () => {
    const host = option("host", "127.0.0.1"), port = option("port", "8080");
    let mmo: Mmo;
    try {
      mmo = startMmo({
        listen: `${host.includes(":") ? `[${host}]` : host}:${port}`,
        wanderers: Number(option("wanderers", "1000")),
        boxes: Number(option("boxes", "5000")),
        size: Number(option("size", "20480")),
        fps: Number(option("fps", "20")),
      });
    } catch (e) {
      if (!(e instanceof AddressInUseError)) throw e;
      console.error(
        `field demo: ${host} port ${port} is in use; pick another with --port=${Number(port) + 1}`,
      );
      return true;
    }
    console.log(`field demo: ${plural(mmo.world.movers.size, "wanderer")}, open ${mmo.url}`);
    await new Event().wait(); // until SIGINT/SIGTERM: main shuts the threads down
    return false;
  });
  if (portTaken) Deno.exitCode = 1;
}
