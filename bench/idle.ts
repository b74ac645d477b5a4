/**
 * Idle connections: one server process holds N connections (default 100k, from several
 * 127.x source addresses), each waited on by a blocked reader; prints the server's
 * resident memory per connection, side by side for shrapnel (FFI and Deno backends) and
 * plain Deno.listen. N is capped by the per-process descriptor limit (ulimit -n).
 *
 * `deno task bench:idle [--connections=N]`
 */
import { buildNative } from "./_native.ts";
import { progress, type Row, table } from "./_report.ts";

const wanted = Number(
  Deno.args.find((a) => a.startsWith("--connections="))?.split("=")[1] ??
    (Deno.args.includes("--quick") ? "5000" : "100000"),
);
const limit = Number(
  new TextDecoder().decode(
    (await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"], stdout: "piped" }).output())
      .stdout,
  ).trim(),
);
const count = Math.min(wanted, Number.isFinite(limit) ? limit - 200 : wanted);
const client = await buildNative("idle_client");
const script = new URL("./idle_server.ts", import.meta.url).pathname;

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Reads a process's output line by line: `next(test)` returns the first line passing. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const queued: string[] = [];
  return async (until: (line: string) => boolean): Promise<string> => {
    for (;;) {
      while (queued.length > 0) {
        const line = queued.shift()!;
        if (until(line)) return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("process ended early");
      buffer += value;
      const all = buffer.split("\n");
      buffer = all.pop()!;
      queued.push(...all);
    }
  };
}

async function measure(kind: string): Promise<{ perConnection: number; total: number }> {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script, kind, String(count)],
    stdout: "piped",
  }).spawn();
  const clients: Deno.ChildProcess[] = [];
  try {
    const serverLines = lineReader(server.stdout);
    const port = Number((await serverLines((l) => l.startsWith("listening"))).split(" ")[1]);
    const before = rssBytes(server.pid);
    const perClient = 15000;
    for (let first = 0, k = 0; first < count; first += perClient, k++) {
      const n = Math.min(perClient, count - first);
      const c = new Deno.Command(client, {
        args: [String(port), String(n), String(k * 20)], // sources of their own
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      clients.push(c);
      await lineReader(c.stdout)((l) => l.startsWith("connected"));
    }
    await serverLines((l) => l === "ready");
    const after = rssBytes(server.pid);
    return { perConnection: (after - before) / count, total: after };
  } finally {
    for (const c of clients) {
      await c.stdin.close();
      await c.status;
    }
    server.kill("SIGKILL");
    await server.status;
  }
}

console.log(
  `${count.toLocaleString("en")} idle connections${
    count < wanted ? ` (of ${wanted.toLocaleString("en")} asked: ulimit -Hn is ${limit})` : ""
  }; server RSS growth per connection (kernel socket memory is not in RSS)`,
);
const rows: Row[] = [];
let plain = 0;
const results: [string, { perConnection: number; total: number }][] = [];
for (const kind of ["ffi", "deno", "plain"]) {
  results.push([kind, await measure(kind)]);
  const { perConnection } = results.at(-1)![1];
  progress(`${kind}: ${Math.round(perConnection)} B of RSS per connection`);
}
plain = results.find(([k]) => k === "plain")![1].perConnection;
const names: Record<string, string> = {
  ffi: "shrapnel, FFI backend (thread per connection)",
  deno: "shrapnel, Deno backend (thread per connection)",
  plain: "plain Deno.listen (pending read per connection)",
};
for (const [kind, r] of results) {
  rows.push({
    name: names[kind],
    "bytes/connection": Math.round(r.perConnection),
    "vs Deno.listen": `${(r.perConnection / plain).toFixed(2)}x`,
    "server RSS MiB": Math.round(r.total / 1048576),
  });
}
table("Idle connections", rows);
