/**
 * Echo benchmark: 64-byte request/response over C = 10, 100, 1000 connections, the load
 * generator in C pinned to one core and each server pinned to the other. Servers, in one
 * run: shrapnel on the FFI backend, shrapnel on the Deno backend, plain `Deno.listen`,
 * `node:net`, and a C epoll server (the ceiling). Prints requests/s, latency percentiles
 * and ratios against plain Deno.listen and the C server.
 *
 * `deno task bench:echo [--quick] [--seconds=N] [--rounds=N] [--connections=10,100,1000]
 * [--servers=ffi,deno,plain,node,c]`
 */
import { buildNative } from "./_native.ts";
import { progress, type Row, table } from "./_report.ts";
import { cpuSeconds } from "./_loadgen.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const option = (name: string, fallback: string) =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const seconds = Number(option("seconds", quick ? "1" : "4"));
const warmup = quick ? 0.5 : 1;
const rounds = Number(option("rounds", quick ? "1" : "3"));
const connections = option("connections", "10,100,1000").split(",").map(Number);
const kinds = option("servers", "ffi,deno,plain,node,c").split(",");

const loadgen = await buildNative("loadgen");
const cServer = await buildNative("echo_server");
const serverScript = new URL("./echo_server.ts", import.meta.url).pathname;
const cores = navigator.hardwareConcurrency;
const pin = (core: number, command: string[]) =>
  cores >= 2 ? ["taskset", "-c", String(core), ...command] : command;

interface Result {
  rps: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  errors: number;
  /** Server CPU time (user + system) per request during the measured window. */
  cpu_us_per_req: number;
}

async function startServer(kind: string): Promise<[Deno.ChildProcess, number]> {
  const command = kind === "c"
    ? pin(0, [cServer])
    : pin(0, [Deno.execPath(), "run", "-A", "--unstable-net", serverScript, kind]);
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${kind} server exited before printing its port`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel();
  return [child, Number(text.trim())];
}

async function measure(kind: string, count: number): Promise<Result> {
  const [server, port] = await startServer(kind);
  try {
    const command = pin(1, [loadgen]);
    const run = new Deno.Command(command[0], {
      args: [...command.slice(1), String(port), String(count), String(seconds), String(warmup)],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // Server CPU over the measured window only (after warm-up, before the end).
    await new Promise((r) => setTimeout(r, warmup * 1000));
    const cpu0 = cpuSeconds(server.pid);
    await new Promise((r) => setTimeout(r, seconds * 1000 * 0.95));
    const cpu1 = cpuSeconds(server.pid);
    const out = await run.output();
    if (!out.success) throw new Error(`load generator failed against ${kind}`);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    result.cpu_us_per_req = ((cpu1 - cpu0) * 1e6) / (result.rps * seconds * 0.95);
    return result;
  } finally {
    server.kill("SIGKILL");
    await server.status;
  }
}

/** The run with the median throughput (its latencies and CPU go with it). */
function medianBy(list: Result[]): Result {
  const sorted = [...list].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor(sorted.length / 2)];
}

const NAMES: Record<string, string> = {
  ffi: "shrapnel, FFI backend",
  deno: "shrapnel, Deno backend",
  plain: "plain Deno.listen",
  node: "node:net",
  c: "C epoll server (ceiling)",
};

console.log(
  `echo 64 B, median of ${rounds} interleaved rounds of ${seconds}s (after ${warmup}s warm-up); ` +
    "load generator on core 1, server on core 0",
);
for (const count of connections) {
  // Rounds interleave the servers, and each figure is the median of its rounds: this
  // machine's speed drifts over minutes (shared hosts), which one pass would mistake for
  // differences between servers.
  const runs = new Map<string, Result[]>(kinds.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const kind of kinds) {
      const result = await measure(kind, count);
      runs.get(kind)!.push(result);
      progress(`C=${count} round ${round + 1}/${rounds} ${kind}: ${Math.round(result.rps)} req/s`);
    }
  }
  const results = new Map<string, Result>();
  for (const [kind, list] of runs) results.set(kind, medianBy(list));
  const plain = results.get("plain")?.rps, ceiling = results.get("c")?.rps;
  const rows: Row[] = kinds.map((kind) => {
    const r = results.get(kind)!;
    return {
      name: NAMES[kind],
      "req/s": Math.round(r.rps),
      "vs Deno.listen": plain ? `${(r.rps / plain).toFixed(2)}x` : "",
      "vs C": ceiling ? `${(r.rps / ceiling).toFixed(2)}x` : "",
      "server CPU us/req": r.cpu_us_per_req.toFixed(2),
      "p50 us": r.p50_us,
      "p99 us": r.p99_us,
      "p99.9 us": r.p999_us,
      errors: r.errors,
    };
  });
  table(`C = ${count} connections`, rows);
}
