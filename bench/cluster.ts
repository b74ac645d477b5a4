/**
 * HTTP "hello" through a cluster (`cluster_server.ts`): 1 and 2 worker processes sharing
 * a port with SO_REUSEPORT, loaded by bench/c/http_loadgen.c (keep-alive, one request in
 * flight per connection). Reports req/s and the workers' CPU per request (user + system
 * from /proc/<pid>/stat of each worker, over the measured window), median of rounds with
 * the worker counts interleaved.
 *
 * This machine's cores are few: with `--pin` (the default when there are 2 cores) the
 * load generator has core 1 and the whole cluster core 0, so req/s cannot grow with the
 * workers there; what the run shows is whether CPU per request grows with them (it must
 * not). `--no-pin` lets the workers float over every core, the load generator's included.
 *
 * `deno task bench:cluster [--quick] [--workers=1,2] [--connections=64] [--seconds=N]
 *   [--rounds=N] [--backend=ffi|deno] [--no-pin]`
 */
import { cpuSeconds, httpLoadgen, type LoadgenResult } from "./_loadgen.ts";
import { progress, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = Deno.args.includes("--quick");
const seconds = Number(option("seconds", quick ? "2" : "5"));
const rounds = Number(option("rounds", quick ? "1" : "3"));
const connections = Number(option("connections", "64"));
const counts = option("workers", "1,2").split(",").map(Number);
const backend = option("backend", "ffi");
const cores = navigator.hardwareConcurrency;
const pinned = !Deno.args.includes("--no-pin") && cores >= 2;
const script = new URL("./cluster_server.ts", import.meta.url).pathname;
const pin = (core: number, command: string[]) =>
  pinned ? ["taskset", "-c", String(core), ...command] : command;

type Result = LoadgenResult;

/** The supervisor's child processes (its workers). */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
    if (text !== "") out.push(...text.split(" ").map(Number));
  }
  return out;
}

async function waitServing(port: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (e) {
      if (performance.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function run(workers: number): Promise<Result> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const command = pin(0, [
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-net",
    script,
    String(port),
    String(workers),
    backend,
  ]);
  const supervisor = new Deno.Command(command[0], { args: command.slice(1) }).spawn();
  try {
    await waitServing(port);
    let pids = children(supervisor.pid);
    for (let i = 0; i < 100 && pids.length < workers; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pids = children(supervisor.pid);
    }
    await new Promise((r) => setTimeout(r, 500)); // every worker listening
    return await httpLoadgen({
      port,
      connections,
      seconds,
      serverCpu: () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      wrap: (command) => pin(1, command),
    });
  } finally {
    supervisor.kill("SIGTERM");
    await supervisor.status;
  }
}

const runs = new Map<number, Result[]>(counts.map((n) => [n, []]));
for (let r = 0; r < rounds; r++) {
  for (const n of r % 2 === 0 ? counts : [...counts].reverse()) {
    const result = await run(n);
    runs.get(n)!.push(result);
    progress(`round ${r + 1}/${rounds} ${n} worker(s): ${Math.round(result.rps)} req/s`);
  }
}
const median = (list: Result[]) =>
  [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)];
const base = median(runs.get(counts[0])!);
const rows: Row[] = counts.map((n) => {
  const m = median(runs.get(n)!);
  return {
    name: `${n} worker${n === 1 ? "" : "s"} (${backend} backend)`,
    "req/s": Math.round(m.rps),
    [`vs ${counts[0]}`]: `${(m.rps / base.rps).toFixed(2)}x`,
    "p99 ms": m.p99ms,
    "worker CPU us/req": m.cpuUs.toFixed(2),
    [`CPU/req vs ${counts[0]}`]: `${(m.cpuUs / base.cpuUs).toFixed(2)}x`,
  };
});
table(
  `HTTP hello through cluster(), http_loadgen -c${connections}, median of ${rounds} x ${seconds}s; ` +
    `${cores} cores, ${
      pinned ? "load generator on core 1, supervisor and workers on core 0" : "nothing pinned"
    }`,
  rows,
);
