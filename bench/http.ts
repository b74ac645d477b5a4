/**
 * HTTP "hello" benchmark, the load generator pinned to one core, each server pinned to
 * the other: our HttpServer on the FFI and Deno backends, Deno.serve, node:http. Median
 * of interleaved rounds (order alternating); ratios against Deno.serve of the same round,
 * and each server's CPU time per request.
 *
 * The load generator is bench/c/http_loadgen.c by default (epoll, keep-alive, optional
 * pipelining depth, 1 us latency histogram): wrk -t1 spends as much CPU per request as
 * the server, so with it the benchmark measures the pair. `--loadgen=wrk` runs wrk.
 *
 * "c" is bench/c/http_server.c, a C epoll server that answers without parsing: the
 * kernel's share of a request, the ceiling any server can reach on this machine (its
 * ratio to Deno.serve bounds every other server's). "uring" is its io_uring twin,
 * bench/c/http_server_uring.c (Linux): one io_uring_enter per loop turn for all the sends
 * and receives of a batch instead of a read and a write per request.
 *
 * `deno task bench:http [--quick] [--connections=100] [--seconds=N] [--rounds=N]
 *   [--depth=N] [--loadgen=c|wrk] [--servers=ffi,deno,deno-serve,node,c,uring]`
 */
import { buildNative } from "./_native.ts";
import { cpuSeconds, httpLoadgen, type LoadgenResult } from "./_loadgen.ts";
import { progress, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const seconds = Number(option("seconds", quick ? "2" : "5"));
const rounds = Number(option("rounds", quick ? "1" : "3"));
const connections = Number(option("connections", "100"));
const threads = Number(option("threads", "1"));
const kinds = option(
  "servers",
  `ffi,deno,deno-serve,node,c${Deno.build.os === "linux" ? ",uring" : ""}`,
).split(",");
const loadgen = option("loadgen", "c");
const depth = Number(option("depth", "1"));
const ceiling = kinds.includes("c") ? await buildNative("http_server") : "";
const uringCeiling = kinds.includes("uring") ? await buildNative("http_server_uring") : "";
const script = new URL("./http_server.ts", import.meta.url).pathname;
const pin = (core: number, command: string[]) =>
  navigator.hardwareConcurrency >= 2 ? ["taskset", "-c", String(core), ...command] : command;

if (loadgen === "wrk") {
  try {
    await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    console.error("bench:http --loadgen=wrk needs wrk (apt-get install wrk)");
    Deno.exit(1);
  }
}

type Result = LoadgenResult;

async function run(kind: string): Promise<Result> {
  const command = pin(
    0,
    kind === "c"
      ? [ceiling]
      : kind === "uring"
      ? [uringCeiling]
      : [Deno.execPath(), "run", "-A", script, kind],
  );
  const server = new Deno.Command(command[0], { args: command.slice(1), stdout: "piped" }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) text += (await reader.read()).value ?? "";
  const port = Number(text.trim());
  try {
    if (loadgen === "c") {
      return await httpLoadgen({
        port,
        connections,
        seconds,
        depth,
        serverCpu: () => cpuSeconds(server.pid),
        wrap: (command) => pin(1, command),
      });
    }
    const wrk = pin(1, [
      "wrk",
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      `http://127.0.0.1:${port}/`,
    ]);
    // Three short warm-up runs first, then the measured one. One is not enough for the
    // JIT: the first run's connections closing, then new ones opening, take paths the
    // first run did not, and their deoptimisation and recompilation on V8's worker thread
    // (on the server's core, which it takes from the main thread for milliseconds) would
    // fall in the measured run: p99 2-3 ms for ours, 1.3 ms once warm (Deno.serve: 1.1-1.4).
    for (let warm = 0; warm < 3; warm++) {
      await new Deno.Command(wrk[0], {
        args: wrk.slice(1).map((a) => a.startsWith("-d") ? "-d1s" : a),
        stdout: "null",
      }).output();
    }
    const cpu0 = cpuSeconds(server.pid);
    const out = new TextDecoder().decode(
      (await new Deno.Command(wrk[0], { args: wrk.slice(1), stdout: "piped" }).output()).stdout,
    );
    const cpu1 = cpuSeconds(server.pid);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
    const p99ms = p99
      ? Number(p99[1]) * (p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1)
      : NaN;
    if (/Non-2xx|Socket errors/.test(out)) {
      console.error(`${kind}: ${out.match(/(Non-2xx.*|Socket errors.*)/)?.[0]}`);
    }
    return { rps, p99ms, cpuUs: ((cpu1 - cpu0) * 1e6) / (rps * seconds) };
  } finally {
    server.kill("SIGKILL");
    await server.status;
  }
}

// Each round runs every server once, in alternate order from round to round: this
// machine's speed drifts by tens of percent within minutes, so each server is compared
// with Deno.serve of the same round, and the ratios' median is reported with their range.
const runs = new Map<string, Result[]>(kinds.map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
    const result = await run(kind);
    runs.get(kind)!.push(result);
    progress(`round ${r + 1}/${rounds} ${kind}: ${Math.round(result.rps)} req/s`);
  }
}
const median = (list: Result[]) =>
  [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)];
const serveRuns = runs.get("deno-serve");
/** `kind`'s ratios to Deno.serve, one per round: median, lowest, highest. */
function ratios(kind: string): string {
  if (serveRuns === undefined) return "-";
  const sorted = runs.get(kind)!.map((result, i) => result.rps / serveRuns[i].rps)
    .sort((a, b) => a - b);
  const range = sorted.length > 1
    ? ` (${sorted[0].toFixed(2)}-${sorted[sorted.length - 1].toFixed(2)})`
    : "";
  return `${sorted[Math.floor(sorted.length / 2)].toFixed(2)}x${range}`;
}
const NAMES: Record<string, string> = {
  ffi: "shrapnel HttpServer, FFI backend",
  deno: "shrapnel HttpServer, Deno backend",
  "deno-serve": "Deno.serve",
  node: "node:http",
  c: "C epoll, no parsing (ceiling)",
  uring: "C io_uring, no parsing (ceiling)",
};
const rows: Row[] = kinds.map((kind) => {
  const m = median(runs.get(kind)!);
  return {
    name: NAMES[kind],
    "req/s": Math.round(m.rps),
    "vs Deno.serve, same round": ratios(kind),
    "p99 ms": m.p99ms,
    "server CPU us/req": m.cpuUs.toFixed(2),
  };
});
table(
  `HTTP hello, ${
    loadgen === "c"
      ? `http_loadgen (C) -c${connections} depth ${depth}`
      : `wrk -t${threads} -c${connections}`
  }, median of ${rounds} x ${seconds}s (load generator on core 1, server on core 0)`,
  rows,
);
