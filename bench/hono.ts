/**
 * Hono on our server against Hono on Deno.serve, and what the fetch-style path costs.
 *
 * 1. wrk (Debian's), pinned to one core, each server to the other, as bench/http.ts: a
 *    Hono "hello" (text) and a Hono JSON route, on our HttpServer through `fetchHandler`
 *    and on Deno.serve, plus the same two answers from a bare fetch-style function and
 *    from our native route API on our server. Interleaved rounds, order alternating;
 *    ratios against Deno.serve of the same round, median and range.
 * 2. Our server's own JavaScript per request, as bench/http_path.ts measures it (fake
 *    sockets, no kernel; CPU time of the process, so that other processes on a busy
 *    machine count less than in wall time), for the native API, a bare fetch-style function and Hono; and
 *    the bytes allocated per request (heap growth over a batch run inside one young
 *    generation large enough to hold it, so that no collection falls inside).
 *
 * The load generator is bench/c/http_loadgen.c by default (as bench:http: wrk -t1 is as busy
 * as the server it measures, so it measures the pair); `--loadgen=wrk` uses wrk.
 *
 * `deno task bench:hono [--quick] [--part=wrk|path|both] [--loadgen=c|wrk] [--seconds=N] [--rounds=N]`
 */
import { cpuUsage } from "node:process";
import { Hono } from "hono";
import { spawn, yieldSlice } from "../mod.ts";
import type { Socket } from "../net/socket.ts";
import { fetchHandler, HttpServer } from "../proto/http/mod.ts";
import { progress, type Row, table } from "./_report.ts";
import { cpuSeconds, httpLoadgen } from "./_loadgen.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const part = option("part", "both");
const seconds = Number(option("seconds", quick ? "2" : "5"));
const rounds = Number(option("rounds", quick ? "1" : "3"));
const connections = Number(option("connections", "100"));
const loadgen = option("loadgen", "c");
const script = new URL("./hono_server.ts", import.meta.url).pathname;
const pin = (core: number, command: string[]) =>
  navigator.hardwareConcurrency >= 2 ? ["taskset", "-c", String(core), ...command] : command;

const BODY = "Hello, World!";
const DATA = { message: "Hello, World!" };

// ---------------------------------------------------------------- 1. wrk

interface WrkResult {
  rps: number;
  /** Server CPU time per request, in microseconds. */
  cpuUs: number;
}

async function wrkRun(kind: string, path: string): Promise<WrkResult> {
  const command = pin(0, [Deno.execPath(), "run", "-A", script, kind]);
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
        path,
        serverCpu: () => cpuSeconds(server.pid),
        wrap: (command) => pin(1, command),
      });
    }
    const wrk = pin(1, [
      "wrk",
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
      `http://127.0.0.1:${port}${path}`,
    ]);
    // Warm-up runs first (see bench/http.ts: the JIT's recompilations otherwise fall in
    // the measured run).
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
    const cpu = cpuSeconds(server.pid) - cpu0;
    if (/Non-2xx|Socket errors/.test(out)) {
      console.error(`${kind} ${path}: ${out.match(/(Non-2xx.*|Socket errors.*)/)?.[0]}`);
    }
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
      cpuUs: cpu * 1e6 / requests,
    };
  } finally {
    server.kill("SIGKILL");
    await server.status;
  }
}

async function wrkPart(): Promise<void> {
  if (loadgen === "wrk") {
    try {
      await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
    } catch {
      console.error("bench:hono --loadgen=wrk needs wrk (apt-get install wrk)");
      Deno.exit(1);
    }
  }
  const kinds = ["hono-deno", "hono-shrapnel", "fetch-shrapnel", "native-shrapnel"];
  const NAMES: Record<string, string> = {
    "hono-deno": "Hono on Deno.serve",
    "hono-shrapnel": "Hono on shrapnel HttpServer (fetchHandler, FFI backend)",
    "fetch-shrapnel": "bare fetch function on shrapnel HttpServer",
    "native-shrapnel": "native route API on shrapnel HttpServer",
  };
  for (const path of ["/", "/json"]) {
    const runs = new Map<string, WrkResult[]>(kinds.map((k) => [k, []]));
    for (let r = 0; r < rounds; r++) {
      for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
        const result = await wrkRun(kind, path);
        runs.get(kind)!.push(result);
        progress(
          `${path}, round ${r + 1}/${rounds} ${kind}: ${Math.round(result.rps)} req/s, ${
            result.cpuUs.toFixed(1)
          } µs CPU/request`,
        );
      }
    }
    const base = runs.get("hono-deno")!;
    const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
    /** Median and range of `kind`'s per-round ratios to Hono on Deno.serve. */
    const ratios = (kind: string, of: (r: WrkResult) => number) => {
      const list = runs.get(kind)!.map((r, i) => of(r) / of(base[i])).sort((a, b) => a - b);
      const range = list.length > 1
        ? ` (${list[0].toFixed(2)}-${list[list.length - 1].toFixed(2)})`
        : "";
      return `${median(list).toFixed(2)}x${range}`;
    };
    const rows: Row[] = kinds.map((kind) => ({
      name: NAMES[kind],
      "req/s": Math.round(median(runs.get(kind)!.map((r) => r.rps))),
      "vs Hono on Deno.serve": ratios(kind, (r) => r.rps),
      "server CPU µs/request": median(runs.get(kind)!.map((r) => r.cpuUs)).toFixed(1),
      "requests per CPU second vs Hono on Deno.serve": ratios(kind, (r) => 1 / r.cpuUs),
    }));
    table(
      `GET ${path}: ${
        loadgen === "c" ? "http_loadgen (C)" : "wrk -t1"
      } -c${connections}, median of ${rounds} x ${seconds}s (load generator on core 1, server on core 0); ratios per round`,
      rows,
    );
  }
}

// ---------------------------------------------------------------- 2. per-request JavaScript

const CONNECTIONS = 100;

/** A socket whose peer sends `count` requests, each after the server's previous reply. */
function fakeSocket(request: Uint8Array, count: number, onReply: () => void): Socket {
  let left = count, ready = false;
  const fake = {
    setOption() {},
    close() {},
    localAddress: () => ({ family: "ipv4", host: "127.0.0.1", port: 8080 }),
    tryRecvInto(buffer: Uint8Array): number {
      if (!ready) return -1;
      ready = false;
      if (left-- <= 0) return 0;
      buffer.set(request);
      return request.length;
    },
    waitForRead(): Promise<void> {
      return yieldSlice().then(() => {
        ready = true;
      });
    },
    trySend(data: Uint8Array): number {
      onReply();
      return data.length;
    },
    sendBorrowed(data: Uint8Array): Promise<number> {
      onReply();
      return Promise.resolve(data.length);
    },
  };
  return fake as unknown as Socket;
}

type Kind = "native" | "fetch" | "hono";

function server(kind: Kind): HttpServer {
  const server = new HttpServer();
  if (kind === "native") {
    server.route(
      "GET",
      "/",
      (r) => r.respond(200, BODY, { "content-type": "text/plain;charset=UTF-8" }),
    );
    server.route(
      "GET",
      "/json",
      (r) => r.respond(200, JSON.stringify(DATA), { "content-type": "application/json" }),
    );
    server.route("GET", "/async", async (r) => {
      await Promise.resolve(); // an asynchronous handler that does not block
      await r.respond(200, JSON.stringify(DATA), { "content-type": "application/json" });
    });
  } else if (kind === "fetch") {
    server.push(
      fetchHandler((request) => {
        if (request.url.endsWith("/async")) {
          return Promise.resolve().then(() => Response.json(DATA));
        }
        return request.url.endsWith("/json")
          ? Response.json(DATA)
          : new Response(BODY, { headers: { "content-type": "text/plain;charset=UTF-8" } });
      }),
    );
  } else {
    const app = new Hono();
    app.get("/", (c) => c.text(BODY));
    app.get("/json", (c) => c.json(DATA));
    app.get("/async", async (c) => {
      await Promise.resolve();
      return c.json(DATA);
    });
    server.push(fetchHandler(app.fetch));
  }
  return server;
}

/** Serves `requests` requests for `path`; returns ns per request and bytes per request. */
async function pathRound(kind: Kind, path: string, requests: number): Promise<[number, number]> {
  const request = new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n`);
  let replies = 0, finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const onReply = () => {
    if (++replies === requests) finish();
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = Deno.memoryUsage().heapUsed;
  const cpu0 = cpuUsage();
  const s = server(kind);
  await spawn(() => {
    for (let i = 0; i < CONNECTIONS; i++) {
      s.serve(fakeSocket(request, requests / CONNECTIONS, onReply), {
        family: "ipv4",
        host: "127.0.0.1",
        port: i,
      });
    }
  }).join();
  await finished;
  const cpu = cpuUsage(cpu0);
  const ns = (cpu.user + cpu.system) * 1e3 / requests;
  const bytes = (Deno.memoryUsage().heapUsed - heap0) / requests;
  await spawn(() => s.close()).join();
  return [ns, bytes];
}

async function pathPart(): Promise<void> {
  const requests = Number(option("requests", quick ? "100000" : "300000"));
  const batch = 20000; // fits a 256 MiB young generation at a few KiB a request
  const pathRounds = Number(option("path-rounds", quick ? "3" : "7"));
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const rows: Row[] = [];
  for (const path of ["/", "/json", "/async"]) {
    const ns: Record<Kind, number[]> = { native: [], fetch: [], hono: [] };
    const bytes: Record<Kind, number[]> = { native: [], fetch: [], hono: [] };
    for (let r = 0; r < pathRounds; r++) {
      for (const kind of ["native", "fetch", "hono"] as Kind[]) {
        ns[kind].push((await pathRound(kind, path, requests))[0]);
        bytes[kind].push((await pathRound(kind, path, batch))[1]);
      }
    }
    const native = median(ns.native);
    for (const kind of ["native", "fetch", "hono"] as Kind[]) {
      rows.push({
        name: `${
          kind === "native"
            ? "native route API"
            : kind === "fetch"
            ? "bare fetch function"
            : "Hono app.fetch"
        } GET ${path}`,
        "ns/request": Math.round(median(ns[kind])),
        "vs native": `${(median(ns[kind]) / native).toFixed(2)}x`,
        "bytes/request": Math.round(median(bytes[kind])),
      });
    }
  }
  if ((globalThis as { gc?: () => void }).gc === undefined) {
    console.error("bench:hono: run with --v8-flags=--expose-gc for the allocation figures");
  }
  table(
    `Our server's JavaScript per request over fake sockets (no kernel), ${
      requests.toLocaleString("en")
    } requests on ${CONNECTIONS} connections, median of ${pathRounds}; bytes allocated per request over ${batch} requests`,
    rows,
  );
}

if (part === "path" || part === "both") await pathPart();
if (part === "wrk" || part === "both") await wrkPart();
