/**
 * HTTP/2 "hello" benchmark with h2load (Debian's nghttp2-client), cleartext by prior
 * knowledge, h2load pinned to one core and each server to the other: our HttpServer on
 * the FFI and Deno backends against Deno.serve, in interleaved rounds (order alternating);
 * ratios against Deno.serve of the same round. Two shapes: many clients with a few streams
 * each (100 x 10), and one client with many streams (1 x 100).
 *
 * `deno task bench:h2 [--quick] [--seconds=N] [--rounds=N] [--servers=ffi,deno,deno-serve]`
 */
import { progress, type Row, table } from "./_report.ts";
import { cpuSeconds } from "./_loadgen.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const seconds = Number(option("seconds", quick ? "2" : "5"));
const rounds = Number(option("rounds", quick ? "1" : "3"));
const kinds = option("servers", "ffi,deno,deno-serve").split(",");
const script = new URL("./http_server.ts", import.meta.url).pathname;
const pin = (core: number, command: string[]) =>
  navigator.hardwareConcurrency >= 2 ? ["taskset", "-c", String(core), ...command] : command;

try {
  await new Deno.Command("h2load", { args: ["--version"], stdout: "null", stderr: "null" })
    .output();
} catch {
  console.error("bench:h2 needs h2load (apt-get install nghttp2-client)");
  Deno.exit(1);
}

/** A load shape: clients and streams per client. */
interface Shape {
  clients: number;
  streams: number;
}
const SHAPES: Shape[] = [{ clients: 100, streams: 10 }, { clients: 1, streams: 100 }];

interface Result {
  rps: number;
  meanMs: number;
  failed: number;
  /** Server CPU (user + system) per request over the measured run, in microseconds. */
  cpuUs: number;
}

async function h2load(
  port: number,
  shape: Shape,
  duration: number,
): Promise<Omit<Result, "cpuUs">> {
  const command = pin(1, [
    "h2load",
    "-t1",
    `-c${shape.clients}`,
    `-m${shape.streams}`,
    `-D${duration}`,
    `http://127.0.0.1:${port}/`,
  ]);
  const out = new TextDecoder().decode(
    (await new Deno.Command(command[0], { args: command.slice(1), stdout: "piped" }).output())
      .stdout,
  );
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1]);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  const meanMs = mean
    ? Number(mean[1]) * (mean[2] === "us" ? 0.001 : mean[2] === "s" ? 1000 : 1)
    : NaN;
  const failed = Number(/requests: .* (\d+) failed/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(rps)) throw new Error(`h2load said:\n${out}`);
  return { rps, meanMs, failed };
}

async function run(kind: string, shape: Shape): Promise<Result> {
  const command = pin(0, [Deno.execPath(), "run", "-A", script, kind]);
  const server = new Deno.Command(command[0], { args: command.slice(1), stdout: "piped" }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) text += (await reader.read()).value ?? "";
  const port = Number(text.trim());
  try {
    // Warm-up runs first (the JIT), as bench:http does.
    for (let warm = 0; warm < 2; warm++) await h2load(port, shape, 1);
    const cpu0 = cpuSeconds(server.pid);
    const result = await h2load(port, shape, seconds);
    const cpu1 = cpuSeconds(server.pid);
    return { ...result, cpuUs: ((cpu1 - cpu0) * 1e6) / (result.rps * seconds) };
  } finally {
    server.kill("SIGKILL");
    await server.status;
  }
}

const NAMES: Record<string, string> = {
  ffi: "shrapnel HttpServer, FFI backend",
  deno: "shrapnel HttpServer, Deno backend",
  "deno-serve": "Deno.serve",
};
const rows: Row[] = [];
for (const shape of SHAPES) {
  const runs = new Map<string, Result[]>(kinds.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      const result = await run(kind, shape);
      runs.get(kind)!.push(result);
      progress(
        `${shape.clients} x ${shape.streams}, round ${r + 1}/${rounds} ${kind}: ` +
          `${Math.round(result.rps)} req/s`,
      );
    }
  }
  const serveRuns = runs.get("deno-serve");
  for (const kind of kinds) {
    const list = runs.get(kind)!;
    const m = [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)];
    let ratio = "-";
    if (serveRuns !== undefined) {
      const sorted = list.map((x, i) => x.rps / serveRuns[i].rps).sort((a, b) => a - b);
      const range = sorted.length > 1
        ? ` (${sorted[0].toFixed(2)}-${sorted[sorted.length - 1].toFixed(2)})`
        : "";
      ratio = `${sorted[Math.floor(sorted.length / 2)].toFixed(2)}x${range}`;
    }
    rows.push({
      name: `${NAMES[kind]}, ${shape.clients} x ${shape.streams}`,
      "req/s": Math.round(m.rps),
      "vs Deno.serve, same round": ratio,
      "mean ms": m.meanMs,
      "server CPU us/req": m.cpuUs.toFixed(2),
      failed: list.reduce((n, x) => n + x.failed, 0),
    });
  }
}
table(
  `HTTP/2 hello, h2load -t1 (clients x streams each), median of ${rounds} x ${seconds}s (h2load on core 1, server on core 0)`,
  rows,
);
