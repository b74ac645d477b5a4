/**
 * The sharded field under load: wanderers stepping at full rate (10 steps/s each) in 1
 * and 2 shard processes on this machine, through RabbitMQ, with a gateway process and
 * viewers (WebSocket clients here, spread over the regions). For each grid: steps/s
 * reached against the full rate, the shards' CPU per step, the broker's messages/s in and
 * out (its own counters) and CPU, the tile frames' size, and the latency from a shard's
 * frame snapshot to the gateway and to the gateway's WebSocket send (p50/p99). Then a
 * projection, from these figures, of what 10 million wanderers would need.
 *
 * `deno task bench:mmo-sharded [--quick] [--wanderers=50000,200000] [--shards=1x1,2x1]
 * [--seconds=8] [--warmup=8] [--viewers=4] [--amqp=amqp://...] [--project=10000000]
 * [--project-viewers=10000] [--project-density=200000] [--ready-timeout=90]`
 *
 * Without `--amqp` it starts a private RabbitMQ (Debian's rabbitmq-server, as the tests
 * do), whose counters and CPU it then reads.
 */
import { connectWebSocket, main, sleep, spawn, type Thread, TimeoutError } from "../mod.ts";
import { startShardedField } from "../demos/mmo/sharded/launch.ts";
import { AMQP_URL_ENV, type ShardStatistics } from "../demos/mmo/sharded/shard.ts";
import type { GatewayStatistics } from "../demos/mmo/sharded/gateway.ts";
import { WANDERER_BYTES } from "../demos/mmo/sharded/state_codec.ts";
import {
  putTileHeader,
  putTileMover,
  TILE_HEADER_BYTES,
  TILE_MOVER_BYTES,
} from "../demos/mmo/sharded/wire.ts";
import { World } from "../demos/mmo/world.ts";
import { seededRandom } from "../core/random.ts";
import { encodeFrame, encodeHeader, FrameType } from "../proto/amqp/codec.ts";
import { type Rabbitmq, rabbitmqAvailable, startRabbitmq } from "../tests/proto/amqp/_rabbitmq.ts";
import { progress, progressRows, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const counts = option("wanderers", quick ? "20000" : "50000,200000").split(",").map(Number);
const readyTimeout = Number(option("ready-timeout", "90"));
const grids = option("shards", "1x1,2x1").split(",");
const seconds = Number(option("seconds", quick ? "4" : "8"));
const warmup = Number(option("warmup", quick ? "4" : "8"));
const viewerCount = Number(option("viewers", "4"));
const projected = Number(option("project", "10000000"));
const projectedViewers = Number(option("project-viewers", "10000"));
/** The projected world's density: this many wanderers in a SIZE px square (the goal's). */
const projectedDensity = Number(option("project-density", "200000"));
const SIZE = 20480, COMMIT_SECONDS = 0.2, SNAPSHOT_SECONDS = 2, FPS = 20, VIEW = 1024, TILE = 1024;
const GATEWAY = new URL("../demos/mmo/sharded/gateway.ts", import.meta.url).pathname;

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN; // gone (a crashed shard): the row says so through NaN
  }
}

/**
 * Microseconds a shard spends on one tile frame of `movers` movers: the tile's query, its
 * encoding and its AMQP framing, as `frames.ts` does them, timed here on a world of that
 * density (the same code, without the socket write that `publishMany` shares per frame).
 */
const tileCosts = new Map<number, number>();
function tileCost(movers: number): number {
  const key = Math.round(movers);
  const known = tileCosts.get(key);
  if (known !== undefined) return known;
  const world = new World({ wanderers: 0, boxes: 0 });
  const random = seededRandom(7);
  const count = Math.round(movers * (SIZE / TILE) ** 2);
  for (let id = 1; id <= count; id++) {
    const x = 25 + Math.floor(random() * (SIZE - 50)), y = 25 + Math.floor(random() * (SIZE - 50));
    world.movers.insert({ id, x, y, x0: x - 25, y0: y - 25, x1: x + 25, y1: y + 25, color: 1 });
  }
  const out = new Uint8Array(TILE_HEADER_BYTES + count * TILE_MOVER_BYTES);
  const v = new DataView(out.buffer);
  const t0 = performance.now();
  let tiles = 0;
  for (let ty = 0; ty < SIZE / TILE; ty++) {
    for (let tx = 0; tx < SIZE / TILE; tx++) {
      const x0 = tx * TILE, y0 = ty * TILE;
      let n = 0;
      world.movers.forEachIn({ x0, y0, x1: x0 + TILE, y1: y0 + TILE }, (m) => {
        if (m.x < x0 || m.x >= x0 + TILE || m.y < y0 || m.y >= y0 + TILE) return;
        putTileMover(v, TILE_HEADER_BYTES + n * TILE_MOVER_BYTES, m.id, m.x - x0, m.y - y0, 1);
        n++;
      });
      putTileHeader(v, 0, tx, ty, 1, 0, n);
      const body = out.slice(0, TILE_HEADER_BYTES + n * TILE_MOVER_BYTES);
      encodeFrame(FrameType.header, 1, encodeHeader(60, body.length, {}));
      encodeFrame(FrameType.body, 1, body);
      tiles++;
    }
  }
  const us = (performance.now() - t0) * 1000 / tiles;
  tileCosts.set(key, us);
  return us;
}

/** The broker's own counters of AMQP 0-9-1 messages (received, routed, delivered). */
async function brokerCounters(broker: Rabbitmq | null): Promise<number[] | null> {
  if (broker === null) return null;
  const out = await broker.ctl(
    "eval",
    "M = rabbit_global_counters:overview(), P = maps:get([{protocol,amqp091}], M), " +
      "D = lists:sum([maps:get(messages_delivered_total, V, 0) || {K, V} <- maps:to_list(M), " +
      "lists:member({protocol,amqp091}, K)]), " +
      "{maps:get(messages_received_total, P), maps:get(messages_routed_total, P), D}.",
  );
  // A tuple ({1,2,3}): a list of small numbers would print as a string.
  return (out.match(/\d+/g) ?? []).map(Number);
}

await main(async () => {
  let broker: Rabbitmq | null = null;
  let url = option("amqp", "");
  if (url === "") {
    if (!rabbitmqAvailable()) {
      console.error("no rabbitmq-server: apt-get install rabbitmq-server, or pass --amqp=URL");
      Deno.exit(1);
    }
    progress("starting a private RabbitMQ");
    broker = await startRabbitmq();
    url = `amqp://127.0.0.1:${broker.port}`;
  }

  interface Measured {
    grid: string;
    shards: number;
    viewers: number;
    stepsPerSecond: number;
    shardCpu: number;
    cpuMicrosPerStep: number;
    brokerIn: number;
    brokerOut: number;
    brokerCpu: number;
    tileMessages: number;
    bytesPerTile: number;
    snapshotBytesPerSecond: number;
    gatewayCpu: number;
    updates: number;
    gateway: GatewayStatistics;
  }
  const measured: { wanderers: number; idle: Measured; watched: Measured }[] = [];
  const rows: Row[] = progressRows();

  try {
    for (const wanderers of counts) {
      for (const grid of grids) {
        progress(`${grid}: starting the shards (${wanderers.toLocaleString("en")} wanderers)`);
        const starting = spawn(() =>
          startShardedField({
            shards: grid,
            amqp: url,
            wanderers,
            size: SIZE,
            listen: null,
            commitSeconds: COMMIT_SECONDS,
            snapshotSeconds: SNAPSHOT_SECONDS,
            fps: FPS,
            readyTimeout,
            onEvent: (e) => {
              if (e.kind !== "started" && e.kind !== "ready") {
                progress(`shard ${e.id}: ${e.message}`);
              }
            },
          })
        );
        let field;
        try {
          field = await starting.join();
        } catch (e) {
          // Overloaded past starting (each shard steps its wanderers from the moment it
          // restores them, and its setup waits its turn behind them): a row that says so.
          if (!(e instanceof TimeoutError)) throw e;
          rows.push({
            name: `${wanderers.toLocaleString("en")} wanderers, ${grid}`,
            "steps/s": `shards not ready within ${readyTimeout} s`,
          });
          continue;
        }
        const gateway = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--unstable-net",
            GATEWAY,
            `--namespace=${field.namespace}`,
            "--port=0",
          ],
          // In the environment, not the arguments, as the launcher does for the shards:
          // a URL may hold the broker's password, and any local user reads arguments.
          env: { [AMQP_URL_ENV]: url },
          stdout: "piped",
        }).spawn();
        const viewers: Thread[] = [];
        try {
          const reader = gateway.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let line = "";
          while (!line.includes("\n")) line += (await reader.read()).value ?? "";
          const base = /open (http:\/\/\S+)/.exec(line)![1];
          const shardStats = async () =>
            (await field.supervisor.statistics()).map((r) => {
              if (r.error !== undefined) throw new Error(`shard ${r.id}: ${r.error}`);
              return r.value as ShardStatistics;
            });
          const gatewayStats = async () =>
            await (await fetch(`${base}stats`)).json() as GatewayStatistics;
          const measure = async (watched: number): Promise<Measured> => {
            const b0 = await brokerCounters(broker);
            const s0 = await shardStats(), g0 = await gatewayStats();
            const cpu0 = s0.map((s) => cpuSeconds(s.pid)), gcpu0 = cpuSeconds(gateway.pid);
            const bcpu0 = broker ? cpuSeconds(broker.brokerPid()) : NaN;
            const t0 = performance.now();
            await sleep(seconds);
            const s1 = await shardStats(), g1 = await gatewayStats();
            const cpu1 = s1.map((s) => cpuSeconds(s.pid)), gcpu1 = cpuSeconds(gateway.pid);
            const bcpu1 = broker ? cpuSeconds(broker.brokerPid()) : NaN;
            const wall = (performance.now() - t0) / 1000;
            const b1 = await brokerCounters(broker);
            const steps = s1.reduce((n, s, i) => n + s.steps - s0[i].steps, 0);
            const shardCpu = cpu1.reduce((n, c, i) => n + c - cpu0[i], 0);
            const tiles = g1.tileMessages - g0.tileMessages;
            const m: Measured = {
              grid,
              shards: s1.length,
              viewers: watched,
              stepsPerSecond: steps / wall,
              shardCpu: shardCpu / wall,
              cpuMicrosPerStep: shardCpu / steps * 1e6,
              brokerIn: b0 && b1 ? (b1[0] - b0[0]) / wall : NaN,
              brokerOut: b0 && b1 ? (b1[2] - b0[2]) / wall : NaN,
              brokerCpu: (bcpu1 - bcpu0) / wall,
              tileMessages: tiles / wall,
              bytesPerTile: tiles > 0 ? (g1.tileBytes - g0.tileBytes) / tiles : 0,
              snapshotBytesPerSecond: s1.reduce((n, s) => n + s.snapshotBytes, 0) /
                SNAPSHOT_SECONDS,
              gatewayCpu: (gcpu1 - gcpu0) / wall,
              updates: (g1.updates - g0.updates) / wall,
              gateway: g1,
            };
            const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
            const latency = (p: { samples: number; p50: number; p99: number }) =>
              watched === 0 ? "-" : `${p.p50}/${p.p99}`;
            rows.push({
              name: `${wanderers.toLocaleString("en")} wanderers, ${grid}, ${watched} viewers`,
              "steps/s": Math.round(m.stepsPerSecond),
              "of full rate": pct(m.stepsPerSecond / (wanderers * 10)),
              "shards' CPU": `${pct(m.shardCpu)} of a core`,
              "us CPU/step": Math.round(m.cpuMicrosPerStep * 100) / 100,
              "broker msgs/s in": Math.round(m.brokerIn),
              "out": Math.round(m.brokerOut),
              "broker CPU": pct(m.brokerCpu),
              "tile msgs/s": Math.round(m.tileMessages),
              "B/tile msg": Math.round(m.bytesPerTile),
              "snapshots MB/s": Math.round(m.snapshotBytesPerSecond / 1e5) / 10,
              "step->gateway ms p50/p99": latency(g1.frameLatency),
              "step->WebSocket ms p50/p99": latency(g1.sendLatency),
              "gateway CPU": pct(m.gatewayCpu),
              "updates/s": Math.round(m.updates),
            });
            return m;
          };
          progress(`${grid}: nobody watching, warming up ${warmup}s`);
          await sleep(warmup);
          const idle = await measure(0);
          // Viewers spread over the world: some on region borders, some inside regions.
          for (let i = 0; i < viewerCount; i++) {
            viewers.push(spawn({ name: `viewer ${i}` }, async () => {
              const ws = await connectWebSocket(`${base.replace("http", "ws")}ws`);
              const x = Math.round((i + 0.5) * SIZE / viewerCount - VIEW / 2);
              const y = Math.round(SIZE / 2 - VIEW / 2 + (i % 2) * 3000);
              await ws.sendText(JSON.stringify({ x, y }));
              for (;;) {
                if (await ws.receive() === null) return;
              }
            }));
          }
          progress(`${grid}: ${viewerCount} viewers, warming up 3s`);
          await sleep(3);
          measured.push({ wanderers, idle, watched: await measure(viewerCount) });
        } finally {
          for (const v of viewers) v.shutdown();
          gateway.kill("SIGTERM");
          await gateway.status;
          await spawn(() => field.stop()).join();
        }
      }
    }
  } finally {
    await broker?.stop();
  }

  table(
    `Sharded field (${seconds}s measured after ${warmup}s; ${viewerCount} viewers; ` +
      `${navigator.hardwareConcurrency} cores for shards, broker, gateway and this process)`,
    rows,
  );
  console.log(
    "step->gateway: a shard's frame snapshot (its steps happened within the frame before, " +
      `${1000 / FPS} ms) to the gateway's receipt; step->WebSocket: to the send of an update.`,
  );

  // The projection: what `projected` wanderers would need, from the busiest run's figures.
  // The basis: the biggest run that kept up (90% of the full rate with viewers), or else
  // the one that came closest: an overloaded run's frames and latencies say how overload
  // looks, not what a frame costs.
  const rate = (m: { wanderers: number; watched: Measured }) =>
    m.watched.stepsPerSecond / (m.wanderers * 10);
  const kept = measured.filter((m) => rate(m) >= 0.9);
  const basis = kept.length > 0
    ? kept.reduce((a, b) => b.wanderers >= a.wanderers ? b : a)
    : measured.reduce<typeof measured[number] | undefined>(
      (a, b) => a === undefined || rate(b) > rate(a) ? b : a,
      undefined,
    );
  if (basis !== undefined) {
    const { wanderers, idle, watched } = basis;
    console.log(
      `\nProjection basis: ${wanderers.toLocaleString("en")} wanderers, ${idle.grid} ` +
        `(${(rate(basis) * 100).toFixed(0)}% of the full rate with viewers), at the density ` +
        `of ${projectedDensity.toLocaleString("en")} wanderers in ${SIZE} px square`,
    );
    const headroom = 0.7; // a core run at 70%: room for bursts, GC, a neighbour's handoffs
    const fmt = (n: number) => Math.round(n).toLocaleString("en");
    // Shards: stepping (and committing) as measured with nobody watching.
    const perCore = 1e6 / idle.cpuMicrosPerStep / 10 * headroom; // wanderers at full rate
    const stepShards = projected / perCore;
    // The world grows at the projected density; tiles of 1024 px; a view needs the tiles
    // the runs' viewers needed (tile messages a second per viewer / fps).
    const worldSide = SIZE * Math.sqrt(projected / projectedDensity);
    const totalTiles = (worldSide / TILE) ** 2;
    const tilesPerView = watched.tileMessages / viewerCount / FPS;
    const moversPerTile = projectedDensity / (SIZE / TILE) ** 2;
    const bytesPerTile = 23 + 9 * moversPerTile;
    // Gateways: a core each at 70%, by the runs' CPU per viewer.
    const gatewayCpuPerViewer = watched.gatewayCpu / viewerCount;
    const gateways = Math.max(1, Math.ceil(projectedViewers * gatewayCpuPerViewer / headroom));
    // Distinct tiles watched by `views` random views: a shard publishes each once a frame
    // whoever watches it; the broker copies it to each gateway watching it.
    const watchedTiles = (views: number) =>
      totalTiles * (1 - Math.exp(-views * tilesPerView / totalTiles));
    const published = watchedTiles(projectedViewers) * FPS;
    const delivered = gateways * watchedTiles(projectedViewers / gateways) * FPS;
    const frameShards = published * tileCost(moversPerTile) / 1e6 / headroom;
    const shards = Math.ceil(stepShards + frameShards);
    const regionSide = worldSide / Math.sqrt(shards);
    // Crossing rate of a square region: 8 v / (pi L) of its wanderers per second, v the
    // mean speed (8 px a step, 10 steps/s).
    const handoffWanderers = projected * 8 * 80 / (Math.PI * regionSide);
    const handoffMessages = shards / COMMIT_SECONDS * 8; // at most one per neighbour and commit
    const snapshotBytes = projected * WANDERER_BYTES / SNAPSHOT_SECONDS;
    // The broker: the shards' own traffic per wanderer as with nobody watching; frames per
    // message in or out as the viewers added.
    const brokerCpuPerWanderer = idle.brokerCpu / wanderers;
    const frameMessages = watched.brokerIn + watched.brokerOut - idle.brokerIn - idle.brokerOut;
    const brokerCpuPerFrame = Math.max(0, watched.brokerCpu - idle.brokerCpu) / frameMessages;
    const brokerCores = (projected * brokerCpuPerWanderer +
      (published + delivered) * brokerCpuPerFrame) / headroom;
    table(`Projection for ${fmt(projected)} wanderers, ${fmt(projectedViewers)} viewers`, [
      {
        name: "shards (a core each)",
        value: `${fmt(shards)} (${fmt(stepShards)} stepping, ${fmt(frameShards)} frames)`,
        from: `${idle.cpuMicrosPerStep.toFixed(2)} us CPU/step (${
          fmt(perCore)
        } wanderers/core at 70%); ${tileCost(moversPerTile).toFixed(0)} us per tile frame`,
      },
      {
        name: "world, tiles, regions",
        value: `${fmt(worldSide)} px, ${fmt(totalTiles)} tiles, regions of ${fmt(regionSide)} px`,
        from: `${fmt(moversPerTile)} wanderers a tile`,
      },
      {
        name: "gateways (a core each)",
        value: fmt(gateways),
        from: `${(gatewayCpuPerViewer * 100).toFixed(2)}% of a core per viewer`,
      },
      {
        name: "tile frames",
        value: `${fmt(published)} msgs/s in, ${fmt(delivered)} out, ${
          (delivered * bytesPerTile / 1e9).toFixed(2)
        } GB/s out`,
        from: `${tilesPerView.toFixed(1)} tiles a view, ${fmt(bytesPerTile)} B a frame, ${FPS} fps`,
      },
      {
        name: "shards' own traffic",
        value: `${fmt(handoffWanderers)} handoffs/s in <= ${fmt(handoffMessages)} msgs/s; ${
          (snapshotBytes / 1e6).toFixed(0)
        } MB/s of snapshots`,
        from:
          `8v/(pi L) of a region a second; ${WANDERER_BYTES} B a wanderer every ${SNAPSHOT_SECONDS} s`,
      },
      {
        name: "broker cores",
        value: brokerCores.toFixed(1),
        from: `${(brokerCpuPerWanderer * 1e6).toFixed(2)} us CPU/s per wanderer, ${
          (brokerCpuPerFrame * 1e6).toFixed(1)
        } us per frame message in or out`,
      },
    ]);
  }
});
