/**
 * HTTP "hello" benchmark with wrk (Debian's), pinned to one core, each server pinned to
 * the other: our HttpServer on the FFI and Deno backends, Deno.serve, node:http. Median
 * of interleaved rounds (order alternating); ratios against Deno.serve of the same round.
 *
 * `deno task bench:http [--quick] [--connections=100] [--seconds=N] [--rounds=N]`
 */
import { progress, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const seconds = Number(option("seconds", quick ? "2" : "5"));
const rounds = Number(option("rounds", quick ? "1" : "3"));
const connections = Number(option("connections", "100"));
const threads = Number(option("threads", "1"));
const kinds = option("servers", "ffi,deno,deno-serve,node").split(",");
const script = new URL("./http_server.ts", import.meta.url).pathname;
const pin = (core: number, command: string[]) =>
  navigator.hardwareConcurrency >= 2 ? ["taskset", "-c", String(core), ...command] : command;

try {
  await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" }).output();
} catch {
  console.error("bench:http needs wrk (apt-get install wrk)");
  Deno.exit(1);
}

interface Result {
  rps: number;
  p99ms: number;
}

async function run(kind: string): Promise<Result> {
  const command = pin(0, [Deno.execPath(), "run", "-A", script, kind]);
  const server = new Deno.Command(command[0], { args: command.slice(1), stdout: "piped" }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) text += (await reader.read()).value ?? "";
  const port = Number(text.trim());
  try {
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
    const out = new TextDecoder().decode(
      (await new Deno.Command(wrk[0], { args: wrk.slice(1), stdout: "piped" }).output()).stdout,
    );
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
    const p99ms = p99
      ? Number(p99[1]) * (p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1)
      : NaN;
    if (/Non-2xx|Socket errors/.test(out)) {
      console.error(`${kind}: ${out.match(/(Non-2xx.*|Socket errors.*)/)?.[0]}`);
    }
    return { rps, p99ms };
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
};
const rows: Row[] = kinds.map((kind) => {
  const m = median(runs.get(kind)!);
  return {
    name: NAMES[kind],
    "req/s": Math.round(m.rps),
    "vs Deno.serve, same round": ratios(kind),
    "p99 ms": m.p99ms,
  };
});
table(
  `HTTP hello, wrk -t${threads} -c${connections}, median of ${rounds} x ${seconds}s (wrk on core 1, server on core 0)`,
  rows,
);
