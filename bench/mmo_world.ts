/**
 * CPU per step of the field demo's world alone (no server, no viewers): `--wanderers`
 * threads each pacing 10 steps/s, in a child process per measurement, after a warm-up.
 * With `--ref=DIR` (another checkout of this repository) the children of this tree and
 * of DIR run in alternating rounds and the table gives each round's ratio: the host's
 * drift between neighbouring runs is far smaller than over a whole run. `--semi` and
 * `--ref-semi` set each side's `--max-semi-space-size` (MB), as the demo's launchers do.
 * The GC column is V8's own account of its time (`--trace-gc-nvp`: pauses on the main
 * thread plus its helper threads' work), per step.
 *
 * `deno run -A bench/mmo_world.ts [--wanderers=100000] [--rounds=5] [--seconds=5]
 * [--warmup=4] [--semi=256] [--ref=DIR] [--ref-semi=256]`
 */
import { progress, type Row, table } from "./_report.ts";

const option = (name: string, fallback: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

/** CPU seconds of this process (all its threads) and of its main thread. */
function cpuSeconds(mainThreadOnly: boolean): number {
  const path = mainThreadOnly ? `/proc/self/task/${Deno.pid}/stat` : "/proc/self/stat";
  const fields = Deno.readTextFileSync(path).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Sample {
  us: number;
  main: number;
  rate: number;
}

const child = option("child", "");
if (child !== "") {
  // The measured side: the world of the tree at `child`, as its own demo makes it.
  const n = Number(option("wanderers", "100000")), seconds = Number(option("seconds", "5"));
  const root = new URL(child.endsWith("/") ? child : `${child}/`, "file:///");
  const mod = await import(new URL("mod.ts", root).href) as typeof import("../mod.ts");
  const { World } = await import(
    new URL("demos/mmo/world.ts", root).href
  ) as typeof import("../demos/mmo/world.ts");
  await mod.spawn(async () => {
    const world = new World({ wanderers: n });
    world.start();
    await mod.sleep(Number(option("warmup", "4")));
    const c0 = cpuSeconds(false), m0 = cpuSeconds(true), s0 = world.steps;
    const t0 = performance.now();
    await mod.sleep(seconds);
    const c1 = cpuSeconds(false), m1 = cpuSeconds(true), s1 = world.steps;
    const wall = (performance.now() - t0) / 1000;
    const steps = s1 - s0;
    const sample: Sample = {
      us: (c1 - c0) / steps * 1e6,
      main: (m1 - m0) / steps * 1e6,
      rate: steps / wall / (n * 10),
    };
    console.log(`SAMPLE ${JSON.stringify(sample)}`);
    Deno.exit(0); // the wanderers would run on: the measurement is taken
  }).join();
}

const here = new URL("..", import.meta.url).pathname;
const ref = option("ref", "");
const rounds = Number(option("rounds", "5"));
const sides = [{ name: "this tree", root: here, semi: option("semi", "256") }];
if (ref !== "") sides.push({ name: `ref (${ref})`, root: ref, semi: option("ref-semi", "256") });

/** Runs one child; returns its sample and V8's GC milliseconds over the measured window. */
async function measure(root: string, semi: string): Promise<Sample & { gc: number }> {
  const seconds = Number(option("seconds", "5")), warmup = Number(option("warmup", "4"));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      `--v8-flags=--max-semi-space-size=${semi},--trace-gc-nvp`,
      new URL(import.meta.url).pathname,
      `--child=${root}`,
      `--wanderers=${option("wanderers", "100000")}`,
      `--seconds=${seconds}`,
      `--warmup=${warmup}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const found = /SAMPLE (\{[^}]*\})/.exec(text); // V8's lines may share its line
  if (!out.success || found === null) throw new Error(`the child in ${root} failed`);
  const sample = JSON.parse(found[1]) as Sample;
  // GC events of the measured window (the last `seconds` of the child's life); V8's lines
  // are long and may be cut by other output, so each figure is looked for on its own.
  const starts = [...text.matchAll(/(\d+) ms: GC: \{/g)];
  const figure = (chunk: string, name: string) =>
    Number(new RegExp(`"${name}":([0-9.e+-]+)`).exec(chunk)?.[1] ?? 0);
  const end = Number(starts.at(-1)?.[1] ?? 0);
  let gcMs = 0;
  starts.forEach((m, k) => {
    if (Number(m[1]) < end - seconds * 1000) return;
    const chunk = text.slice(m.index, starts[k + 1]?.index ?? text.length);
    gcMs += figure(chunk, "pause") + figure(chunk, "background\\.scavenge\\.parallel");
  });
  const steps = Number(option("wanderers", "100000")) * 10 * sample.rate * seconds;
  return { ...sample, gc: gcMs / 1000 / steps * 1e6 };
}

const samples = sides.map(() => [] as (Sample & { gc: number })[]);
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < sides.length; i++) {
    const s = await measure(sides[i].root, sides[i].semi);
    samples[i].push(s);
    progress(
      `round ${round + 1}: ${sides[i].name}, semi ${sides[i].semi}: ${s.us.toFixed(3)} us/step` +
        ` (main ${s.main.toFixed(3)}, GC ${s.gc.toFixed(3)}), ${(s.rate * 100).toFixed(0)}%`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const range = (xs: number[]) => `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
const rows: Row[] = sides.map((side, i) => {
  const us = samples[i].map((s) => s.us);
  const ratios = samples[i].map((s, k) => s.us / samples[sides.length - 1][k].us);
  return {
    name: `${side.name}, semi-space ${side.semi} MB`,
    "us CPU/step": median(us),
    range: range(us),
    "main thread": median(samples[i].map((s) => s.main)),
    "GC us/step": median(samples[i].map((s) => s.gc)),
    "of full rate": `${(median(samples[i].map((s) => s.rate)) * 100).toFixed(0)}%`,
    "ratio to last (paired median)": median(ratios),
    "ratio range": range(ratios),
  };
});
table(
  `World alone, ${Number(option("wanderers", "100000")).toLocaleString("en")} wanderers ` +
    `(median of ${rounds} alternating rounds)`,
  rows,
);
