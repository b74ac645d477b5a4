/**
 * Profiler overhead: the same work with and without the profiler running, in one run:
 * Fifo ping-pong between two threads, and a 64-byte echo over a socket pair. Goal: <= 2x.
 *
 * `deno task bench:profiler [--quick]`
 */
import { Fifo, socketPair, spawn } from "../mod.ts";
import { Profiler } from "../core/profiler/mod.ts";
import { progressRows, type Row, table } from "./_report.ts";

const quick = Deno.args.includes("--quick");
const ROUNDS = quick ? 100_000 : 500_000;
const ECHOES = quick ? 20_000 : 100_000;

async function pingPong(): Promise<number> {
  const a = new Fifo<number>(), b = new Fifo<number>();
  const t0 = performance.now();
  const ponger = spawn(async () => {
    for (let i = 0; i < ROUNDS; i++) b.push(await a.pop());
  });
  await spawn(async () => {
    for (let i = 0; i < ROUNDS; i++) {
      a.push(i);
      await b.pop();
    }
  }).join();
  await ponger.join();
  return performance.now() - t0;
}

async function echo(): Promise<number> {
  const [x, y] = await socketPair();
  const message = new Uint8Array(64);
  const t0 = performance.now();
  const server = spawn(async () => {
    const buf = new Uint8Array(64);
    for (let i = 0; i < ECHOES; i++) {
      const n = await y.recvInto(buf);
      await y.send(buf.subarray(0, n));
    }
  });
  await spawn(async () => {
    for (let i = 0; i < ECHOES; i++) {
      await x.send(message);
      await x.recvExact(64);
    }
  }).join();
  await server.join();
  x.close();
  y.close();
  return performance.now() - t0;
}

async function measure(work: () => Promise<number>): Promise<[number, number]> {
  await work(); // warm up
  const plain = Math.min(await work(), await work());
  const profiler = new Profiler();
  await profiler.start({ callCounts: Deno.args.includes("--calls") });
  const profiled = Math.min(await work(), await work());
  const profile = await profiler.stop();
  void profile;
  return [plain, profiled];
}

const rows: Row[] = progressRows();
for (
  const [name, work] of [["Fifo ping-pong", pingPong], ["echo over a socket pair", echo]] as const
) {
  const [plain, profiled] = await measure(work);
  rows.push({
    name,
    "plain ms": Math.round(plain),
    "profiled ms": Math.round(profiled),
    "ratio": `${(profiled / plain).toFixed(2)}x`,
    goal: profiled / plain <= 2 ? "<= 2x: met" : "<= 2x: MISSED",
  });
}
table(
  `Profiler overhead (${ROUNDS.toLocaleString("en")} round trips, ${
    ECHOES.toLocaleString("en")
  } echoes)`,
  rows,
);
