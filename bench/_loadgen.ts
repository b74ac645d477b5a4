/**
 * What the HTTP benchmarks share: a process's CPU time from /proc, and one measured run of
 * the C load generator (bench/c/http_loadgen.c) with the server's CPU over its window.
 */

import { buildNative } from "./_native.ts";

/** User + system CPU seconds of process `pid` and its threads (Linux /proc); NaN if gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
  } catch {
    return NaN;
  }
}

/** One run of the C load generator: throughput, p99 and the server's CPU per request. */
export interface LoadgenResult {
  rps: number;
  p99ms: number;
  /** Server CPU (user + system) per request over the measured window, in microseconds. */
  cpuUs: number;
}

/** What {@linkcode httpLoadgen} runs against. */
export interface LoadgenOptions {
  port: number;
  connections: number;
  seconds: number;
  /** Requests in flight per connection (1). */
  depth?: number;
  path?: string;
  /** The server's CPU seconds so far (one process, or a supervisor's workers summed). */
  serverCpu: () => number;
  /** Wraps the load generator's command line, e.g. to pin it to a core with taskset. */
  wrap?: (command: string[]) => string[];
}

/**
 * Runs the load generator (3 s of warm-up, then `seconds` measured) and reads the server's
 * CPU over the measured window only (after the warm-up, before the end).
 */
export async function httpLoadgen(options: LoadgenOptions): Promise<LoadgenResult> {
  const warmup = 3, seconds = options.seconds;
  const native = await buildNative("http_loadgen");
  const args = [
    native,
    String(options.port),
    String(options.connections),
    String(seconds),
    String(warmup),
    String(options.depth ?? 1),
    options.path ?? "/",
  ];
  const command = options.wrap?.(args) ?? args;
  const child = new Deno.Command(command[0], { args: command.slice(1), stdout: "piped" }).spawn();
  await new Promise((r) => setTimeout(r, warmup * 1000));
  const cpu0 = options.serverCpu();
  await new Promise((r) => setTimeout(r, seconds * 1000 * 0.95));
  const cpu1 = options.serverCpu();
  const out = await child.output();
  if (!out.success) throw new Error("http_loadgen failed");
  const result = JSON.parse(new TextDecoder().decode(out.stdout));
  if (result.errors > 0) console.error(`http_loadgen: ${result.errors} errors`);
  return {
    rps: result.rps,
    p99ms: result.p99_us / 1000,
    cpuUs: ((cpu1 - cpu0) * 1e6) / (result.rps * seconds * 0.95),
  };
}
