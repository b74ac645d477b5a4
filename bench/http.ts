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
 *   [--depth=N] [--loadgen=c|wrk] [--servers=ffi,deno,deno-serve,node,c,uring]
 *   [--syscalls]`
 *
 * `--syscalls` (Linux, perf, root): each server's system calls per request over the
 * measured window, counted by the kernel's tracepoints (bench/_syscalls.ts).
 */
import { buildNative } from "./_native.ts";
import { cpuSeconds, httpLoadgen, type LoadgenResult } from "./_loadgen.ts";
import { progress, type Row, table } from "./_report.ts";
import { countSyscalls, type SyscallCount } from "./_syscalls.ts";

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
const syscalls = Deno.args.includes("--syscalls");
if (syscalls && loadgen !== "c") {
  console.error(
    "bench:http --syscalls counts over the C load generator's window: drop --loadgen=wrk",
  );
  Deno.exit(2);
}
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

/** A server exited before printing its port (the io_uring ceiling where io_uring is off). */
class ServerDidNotStart extends Error {}

/** A run's figures; `syscalls`: calls per request by name ("total": all), with --syscalls. */
type Result = LoadgenResult & { syscalls?: Map<string, number> };
let syscallsUnavailable = false;

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
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      const status = await server.status;
      throw new ServerDidNotStart(`${kind} exited with code ${status.code} before serving`);
    }
    text += value;
  }
  const port = Number(text.trim());
  try {
    if (loadgen === "c") {
      // The load generator reads the server's CPU at the start and at the end of the
      // measured window: the system calls are counted over the same window.
      const window: {
        counting: SyscallCount | null;
        counted: Promise<Map<string, number>> | null;
      } = { counting: null, counted: null };
      const result: Result = await httpLoadgen({
        port,
        connections,
        seconds,
        depth,
        serverCpu: () => {
          if (syscalls && window.counting === null && !syscallsUnavailable) {
            window.counting = countSyscalls(server.pid);
            if (window.counting === null) {
              syscallsUnavailable = true;
              console.error("bench:http --syscalls needs perf (apt-get install linux-perf)");
            }
          } else if (window.counting !== null && window.counted === null) {
            window.counted = window.counting.stop();
          }
          return cpuSeconds(server.pid);
        },
        wrap: (command) => pin(1, command),
      });
      if (window.counted !== null) {
        const requests = result.rps * seconds * 0.95; // the window httpLoadgen measures
        const perRequest = new Map<string, number>();
        for (const [name, count] of await window.counted) perRequest.set(name, count / requests);
        if (!perRequest.has("total")) {
          console.error(
            "bench:http --syscalls: perf could not count (root, or perf_event_paranoid <= 1)",
          );
        }
        result.syscalls = perRequest;
      }
      return result;
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
  for (const kind of r % 2 === 0 ? [...kinds] : [...kinds].reverse()) {
    let result: Result;
    try {
      result = await run(kind);
    } catch (error) {
      // io_uring may be off (io_uring_disabled, a seccomp profile, a kernel before 6.0):
      // the other rows still mean something without that ceiling.
      if (!(error instanceof ServerDidNotStart) || kind !== "uring") throw error;
      console.error(
        `bench:http: the io_uring ceiling cannot run here (${error.message}; its reason is above): ` +
          "left out (--servers=... without uring to avoid this)",
      );
      kinds.splice(kinds.indexOf(kind), 1);
      runs.delete(kind);
      continue;
    }
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
/** "2.03 (sendto 1.00, recvfrom 1.00, epoll_wait 0.03)": the total, then the main calls. */
function describeSyscalls(perRequest: Map<string, number>): string {
  const total = perRequest.get("total");
  const parts = [...perRequest].filter(([name, n]) => name !== "total" && n >= 0.005)
    .sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n.toFixed(2)}`);
  return `${total === undefined ? "?" : total.toFixed(2)} (${parts.join(", ")})`;
}
const rows: Row[] = kinds.map((kind) => {
  const m = median(runs.get(kind)!);
  return {
    name: NAMES[kind],
    "req/s": Math.round(m.rps),
    "vs Deno.serve, same round": ratios(kind),
    "p99 ms": m.p99ms,
    "server CPU us/req": m.cpuUs.toFixed(2),
    ...(m.syscalls === undefined ? {} : { "syscalls/req": describeSyscalls(m.syscalls) }),
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
