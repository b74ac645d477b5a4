/**
 * Spawn + join of this checkout's threads against an older commit's, side by side in one
 * run: `core/` at the old commit is taken out of git into a temporary directory, and
 * processes of the old and the new code take turns (one process per measurement, so
 * neither inherits the other's heap). Each process runs spawn+join of N threads (as
 * bench/core.ts does) best of 3 and reports wall and CPU time per thread.
 *
 * Run: deno run -A --v8-flags=--expose-gc bench/spawn_compare.ts [--ref COMMIT]... [--n N]
 * [--rounds R]. The default ref is the commit before ThreadGroup landed (74cfac6^); the
 * first ref is the one the others are compared with.
 */
import { progress, type Row, table } from "./_report.ts";

const root = new URL("../", import.meta.url);
const arg = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : fallback;
};
const REFS = Deno.args.flatMap((a, i) => a === "--ref" ? [Deno.args[i + 1]] : []);
if (REFS.length === 0) REFS.push("74cfac6^");
const N = Number(arg("--n", "1000000"));
const ROUNDS = Number(arg("--rounds", "5"));

/** The child: spawn+join of `n` threads with the core module at `coreUrl`, best of 3. */
const CHILD = `
import process from "node:process";
const { spawn } = await import(Deno.args[0]);
const n = Number(Deno.args[1]);
function noop(i) { return i; }
async function spawnJoin() {
  const threads = new Array(n);
  for (let i = 0; i < n; i++) threads[i] = spawn(noop, i);
  await spawn(async () => { for (let i = 0; i < n; i++) await threads[i].join(); }).join();
}
let wall = Infinity, cpu = Infinity;
for (let run = 0; run < 3; run++) {
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await spawnJoin();
  const t = performance.now() - t0;
  const c = process.cpuUsage(c0);
  wall = Math.min(wall, t);
  cpu = Math.min(cpu, (c.user + c.system) / 1000);
}
console.log(JSON.stringify({ wall, cpu }));
`;

async function git(...args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

async function measure(child: string, coreUrl: string): Promise<{ wall: number; cpu: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", child, coreUrl, String(N)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`child failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const dir = await Deno.makeTempDir({ prefix: "shrapnel-spawn-compare-" });
try {
  const child = `${dir}/child.mjs`;
  await Deno.writeTextFile(child, CHILD);
  const variants: [string, string][] = [];
  for (const ref of REFS) {
    const commit = new TextDecoder().decode(await git("rev-parse", "--short", ref)).trim();
    const tar = `${dir}/${commit}.tar`;
    await Deno.writeFile(tar, await git("archive", "--format=tar", commit, "core"));
    await Deno.mkdir(`${dir}/${commit}`);
    const untar = await new Deno.Command("tar", { args: ["-xf", tar, "-C", `${dir}/${commit}`] })
      .output();
    if (!untar.success) throw new Error("tar failed");
    variants.push([`${ref} (${commit})`, new URL(`file://${dir}/${commit}/core/mod.ts`).href]);
  }
  variants.push(["this checkout", new URL("core/mod.ts", root).href]);
  const results = new Map(
    variants.map(([name]) => [name, { wall: [] as number[], cpu: [] as number[] }]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate which goes first, so none always runs on the warmer machine.
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    for (const [name, url] of order) {
      const r = await measure(child, url);
      results.get(name)!.wall.push(r.wall);
      results.get(name)!.cpu.push(r.cpu);
      progress(
        `round ${round + 1}/${ROUNDS} ${name}: ${(r.wall * 1000 / N).toFixed(2)} µs/thread wall, ` +
          `${(r.cpu * 1000 / N).toFixed(2)} µs CPU`,
      );
    }
  }
  const oldName = variants[0][0];
  const rows: Row[] = [];
  for (const [name] of variants) {
    const r = results.get(name)!;
    rows.push({
      name,
      "µs/thread wall (median)": median(r.wall) * 1000 / N,
      "µs/thread wall (best)": Math.min(...r.wall) * 1000 / N,
      "µs/thread CPU (median)": median(r.cpu) * 1000 / N,
      "x first (wall median)": median(r.wall) / median(results.get(oldName)!.wall),
      "x first (CPU median)": median(r.cpu) / median(results.get(oldName)!.cpu),
    });
  }
  table(
    `spawn + join of ${
      N.toLocaleString("en-US")
    } threads, ${ROUNDS} rounds of a process per variant in ` +
      "turn (each best of 3)",
    rows,
  );
  for (const [name] of variants.slice(1)) {
    const ratio = median(results.get(name)!.cpu) / median(results.get(oldName)!.cpu);
    console.log(`${name} / ${oldName}: ${ratio.toFixed(2)}x the CPU per spawn+join`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
