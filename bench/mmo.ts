/**
 * Field demo load: the server's CPU per second of wall time with 1000, 10k and 100k
 * wanderer threads and 10 viewers (WebSocket clients in this process, each panned to a
 * different place), and the step rate reached against the full rate (10 steps/s each).
 *
 * `deno task bench:mmo [--quick] [--wanderers=1000,10000,100000] [--seconds=N] [--warmup=N]`
 */
import { connectWebSocket, spawn, type Thread } from "../mod.ts";
import { progressRows, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const counts = option("wanderers", quick ? "1000,10000" : "1000,10000,100000").split(",").map(
  Number,
);
const seconds = Number(option("seconds", quick ? "3" : "6"));
/** Seconds before measuring: the viewers connected, the JIT done with the hot paths. */
const warmup = Number(option("warmup", quick ? "2" : "5"));
const VIEWERS = 10;
const script = new URL("../demos/mmo/server.ts", import.meta.url).pathname;

/** CPU seconds of the process, or of its main thread (where the threads run; V8's GC helpers are apart). */
function cpuSeconds(pid: number, mainThreadOnly = false): number {
  const path = mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
  const fields = Deno.readTextFileSync(path).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function stats(base: string): Promise<{ steps: number; viewers: number }> {
  return await (await fetch(`${base}stats`)).json();
}

const rows: Row[] = progressRows();
for (const wanderers of counts) {
  const server = new Deno.Command(Deno.execPath(), {
    // As `deno task demo:mmo` runs it: a young generation that holds a round of sleeps.
    args: [
      "run",
      "-A",
      "--unstable-net",
      "--v8-flags=--max-semi-space-size=256",
      script,
      "--port=0",
      `--wanderers=${wanderers}`,
    ],
    stdout: "piped",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) line += (await reader.read()).value ?? "";
  const base = /open (http:\/\/\S+)/.exec(line)![1];
  let received = 0, messages = 0;
  const viewers: Thread[] = [];
  for (let i = 0; i < VIEWERS; i++) {
    viewers.push(spawn({ name: `viewer ${i}` }, async () => {
      const ws = await connectWebSocket(`${base.replace("http", "ws")}ws`);
      await ws.sendText(JSON.stringify({ x: 1000 + i * 1800, y: 1000 + (i % 3) * 6000 }));
      for (;;) {
        const m = await ws.receive();
        if (m === null) return;
        messages++;
        received += m.type === "binary" ? m.data.length : m.data.length;
      }
    }));
  }
  await new Promise((r) => setTimeout(r, warmup * 1000)); // steady state, not start-up
  // CPU and steps are each read with their own clock: under overload /stats answers late,
  // and that delay must not count as time the CPU figure was spread over.
  const cpu0 = cpuSeconds(server.pid), main0 = cpuSeconds(server.pid, true);
  const c0 = performance.now();
  const s0 = await stats(base), t0 = performance.now();
  const m0 = messages;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu1 = cpuSeconds(server.pid), main1 = cpuSeconds(server.pid, true);
  const c1 = performance.now();
  const s1 = await stats(base), t1 = performance.now();
  const wall = (t1 - t0) / 1000;
  const stepRate = (s1.steps - s0.steps) / wall;
  rows.push({
    name: `${wanderers.toLocaleString("en")} wanderers, ${s1.viewers} viewers`,
    "server CPU": `${((cpu1 - cpu0) / ((c1 - c0) / 1000) * 100).toFixed(1)}% of a core`,
    "main thread": `${((main1 - main0) / ((c1 - c0) / 1000) * 100).toFixed(1)}%`,
    "steps/s": Math.round(stepRate),
    "of full rate": `${(stepRate / (wanderers * 10) * 100).toFixed(0)}%`,
    "updates/s to viewers": Math.round((messages - m0) / wall),
  });
  for (const v of viewers) v.shutdown();
  server.kill("SIGKILL");
  await server.status;
  void received;
}
table(`Field demo server load (${seconds}s measured after ${warmup}s)`, rows);
console.log(
  "goals: 1000 wanderers + 10 viewers under 5% of a core; 100k wanderers at full rate on one core",
);
