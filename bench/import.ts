/**
 * What `import "@shrapnel/shrapnel"` costs next to `import "@shrapnel/shrapnel/core"`
 * (`deno task bench:import`): the modules loaded at import (the static graph: dynamic
 * imports, which protocols use for their npm packages, are left out), their bytes, the
 * npm packages among them, and the cold start of a process that only imports the entry
 * (median of interleaved runs, warm module cache), with and without Deno's own start, and
 * the CPU time (user + system) of that process, which a loaded machine inflates less than
 * the wall time (Linux, through getrusage). Goal: the root import within 1.5x of /core.
 * Pass --runs N (default 21); --ref COMMIT adds the root and /core of that commit (taken out
 * of git into a temporary directory) to the same run, for before/after ratios. --bundled
 * adds the root bundled into one JavaScript module (`deno bundle`, npm packages left out):
 * the same code without the per-module cost of Deno's loader (reading, emit cache, linking),
 * which shows how much of the import is module count rather than code. --split adds the
 * root and /core bundled as a publish step would (`deno bundle --code-splitting`, both
 * entries at once: shared code in shared chunks, each lazily loaded module a chunk of its
 * own), and --jsr adds them as a JSR consumer imports them: the package's `deno publish
 * --dry-run` file set served by a local registry (tests/ffi/_registry.ts, `JSR_URL`), a
 * DENO_DIR of its own, a consumer directory with an empty deno.json.
 */
import { progress, type Row, table } from "./_report.ts";

const root = new URL("../", import.meta.url);
const ENTRIES: [string, string][] = [
  ["/core", "core/mod.ts"],
  ["/net", "net/mod.ts"],
  ["root (mod.ts)", "mod.ts"],
];
const refArg = Deno.args.indexOf("--ref");
const REF = refArg >= 0 ? Deno.args[refArg + 1] : null;
const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(Deno.args[runsArg + 1]) : 21;
const BUNDLED = Deno.args.includes("--bundled");
const SPLIT = Deno.args.includes("--split");
const JSR = Deno.args.includes("--jsr");

interface GraphModule {
  specifier: string;
  size?: number;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** Modules reached from `entry` through static imports: count, bytes, npm packages. */
async function staticGraph(
  entry: string,
): Promise<{ modules: number; bytes: number; npm: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, root).href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno info ${entry}: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: GraphModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [...info.roots];
  let bytes = 0, npm = 0;
  while (stack.length > 0) {
    const popped = stack.pop()!;
    const specifier = info.redirects[popped] ?? popped;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    if (specifier.startsWith("npm:")) {
      npm++;
      continue;
    }
    const module = bySpecifier.get(specifier);
    bytes += module?.size ?? 0;
    for (const dep of module?.dependencies ?? []) {
      if (!dep.isDynamic && dep.code) stack.push(dep.code.specifier);
    }
  }
  return { modules: seen.size, bytes, npm };
}

const printed = new Set<string>();
/** The JSR consumer's entry scripts by row name (their graphs are the same as the local ones). */
const JSR_SCRIPTS = new Map<string, string>();

/** getrusage(RUSAGE_CHILDREN): the CPU of the children waited for so far (Linux only). */
const rusage = Deno.build.os === "linux"
  ? Deno.dlopen("libc.so.6", { getrusage: { parameters: ["i32", "buffer"], result: "i32" } })
  : null;
const RUSAGE_CHILDREN = -1;

/** User + system CPU milliseconds of the children waited for so far, or NaN. */
function childrenCpuMs(): number {
  if (rusage === null) return NaN;
  // struct rusage starts with two struct timevals of two 64-bit fields each.
  const fields = new BigInt64Array(18);
  if (rusage.symbols.getrusage(RUSAGE_CHILDREN, fields) !== 0) return NaN;
  return Number(fields[0] + fields[2]) * 1000 + Number(fields[1] + fields[3]) / 1000;
}

/** How a script is run: our deno.json by default; a JSR consumer's config and environment. */
interface RunAs {
  config: string;
  env?: Record<string, string>;
}
const runAs = new Map<string, RunAs>();

/** Wall and CPU time of one process that imports `script`, in ms; notes whether it printed. */
async function coldStart(script: string): Promise<{ wall: number; cpu: number }> {
  const how = runAs.get(script) ?? { config: new URL("deno.json", root).pathname };
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--no-prompt",
      "--config",
      how.config,
      script,
    ],
    env: how.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const wall = performance.now() - t0;
  const cpu = childrenCpuMs() - cpu0;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`importing ${script} failed:\n${stderr}`);
  if (stderr !== "") printed.add(script);
  return { wall, cpu };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** The import map's npm packages, as `--external` flags for `deno bundle`. */
async function externalFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
    imports?: Record<string, string>;
  };
  return Object.keys(config.imports ?? {}).filter((k) => !k.endsWith("/"))
    .flatMap((k) => ["--external", k]);
}

/** Runs `deno bundle` with `args`, or throws with its stderr. */
async function bundle(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform=deno", "--packages=external", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno bundle: ${new TextDecoder().decode(out.stderr)}`);
}

const dir = await Deno.makeTempDir({ prefix: "shrapnel-bench-import-" });
let registry: { url: string; name: string; version: string; close(): Promise<void> } | null = null;
try {
  const scripts = new Map<string, string>();
  await Deno.writeTextFile(`${dir}/empty.ts`, "export {};\n");
  scripts.set("(empty script)", `${dir}/empty.ts`);
  if (REF !== null) {
    const archive = await new Deno.Command("git", {
      args: ["archive", "--format=tar", REF],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!archive.success) {
      throw new Error(`git archive ${REF}: ${new TextDecoder().decode(archive.stderr)}`);
    }
    await Deno.mkdir(`${dir}/ref`);
    await Deno.writeFile(`${dir}/ref.tar`, archive.stdout);
    const untar = await new Deno.Command("tar", {
      args: ["-xf", `${dir}/ref.tar`, "-C", `${dir}/ref`],
    })
      .output();
    if (!untar.success) throw new Error("tar failed");
    ENTRIES.push([`/core @${REF}`, `file://${dir}/ref/core/mod.ts`]);
    ENTRIES.push([`root @${REF}`, `file://${dir}/ref/mod.ts`]);
  }
  if (BUNDLED) {
    // The npm packages of deno.json's import map stay imports (loaded on first use anyway).
    const bundlePath = `${dir}/bundle.js`;
    await bundle([
      ...await externalFlags(),
      "--output",
      bundlePath,
      new URL("mod.ts", root).pathname,
    ]);
    ENTRIES.push(["root bundled (1 module)", `file://${bundlePath}`]);
  }
  if (SPLIT) {
    await bundle([
      ...await externalFlags(),
      "--code-splitting",
      "--outdir",
      `${dir}/split`,
      new URL("mod.ts", root).pathname,
      new URL("core/mod.ts", root).pathname,
    ]);
    ENTRIES.push(["/core split bundle", `file://${dir}/split/core/mod.js`]);
    ENTRIES.push(["root split bundle", `file://${dir}/split/mod.js`]);
  }
  if (JSR) {
    const { startRegistry } = await import("../tests/ffi/_registry.ts");
    registry = await startRegistry();
    progress(`JSR: ${registry.name}@${registry.version} served at ${registry.url}`);
    await Deno.mkdir(`${dir}/consumer`);
    await Deno.writeTextFile(`${dir}/consumer/deno.json`, "{}\n");
    const consumer: RunAs = {
      config: `${dir}/consumer/deno.json`,
      env: { DENO_DIR: `${dir}/consumer/deno_dir`, JSR_URL: registry.url, NO_COLOR: "1" },
    };
    const spec = `jsr:${registry.name}@${registry.version}`;
    for (const [name, specifier] of [["/core via JSR", `${spec}/core`], ["root via JSR", spec]]) {
      const path = `${dir}/consumer/${name.startsWith("/core") ? "core" : "root"}.ts`;
      await Deno.writeTextFile(path, `import ${JSON.stringify(specifier)};\n`);
      runAs.set(path, consumer);
      JSR_SCRIPTS.set(name, path);
    }
  }
  for (const [i, [name, entry]] of ENTRIES.entries()) {
    const path = `${dir}/entry_${i}.ts`;
    await Deno.writeTextFile(path, `import ${JSON.stringify(new URL(entry, root).href)};\n`);
    scripts.set(name, path);
  }
  for (const [name, path] of JSR_SCRIPTS) scripts.set(name, path);
  const graphs = new Map<string, { modules: number; bytes: number; npm: number }>();
  for (const [name, entry] of ENTRIES) {
    graphs.set(name, await staticGraph(entry));
    progress(`${name}: ${graphs.get(name)!.modules} modules at import`);
  }
  // Through JSR the graphs are the published files of the same entries.
  if (JSR_SCRIPTS.size > 0) {
    graphs.set("/core via JSR", graphs.get("/core")!);
    graphs.set("root via JSR", graphs.get("root (mod.ts)")!);
  }
  for (const script of scripts.values()) await coldStart(script); // compile and cache once
  // A consumer's first run downloads the package (Deno's "Download ..." lines): not the import.
  for (const path of JSR_SCRIPTS.values()) printed.delete(path);
  const times = new Map<string, number[]>([...scripts.keys()].map((k) => [k, []]));
  const cpuTimes = new Map<string, number[]>([...scripts.keys()].map((k) => [k, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, script] of scripts) {
      const { wall, cpu } = await coldStart(script);
      times.get(name)!.push(wall);
      cpuTimes.get(name)!.push(cpu);
    }
    if ((run + 1) % 5 === 0 || run + 1 === RUNS) {
      progress(
        `run ${run + 1}/${RUNS}: ` +
          [...times].map(([n, t]) => `${n} ${median(t).toFixed(1)} ms`).join(", "),
      );
    }
  }
  const empty = median(times.get("(empty script)")!);
  const core = median(times.get("/core")!);
  const coreCpu = median(cpuTimes.get("/core")!);
  const rows: Row[] = [];
  for (const name of scripts.keys()) {
    const t = median(times.get(name)!);
    const graph = graphs.get(name);
    rows.push({
      name,
      "modules": graph?.modules ?? 0,
      "KiB": graph ? graph.bytes / 1024 : 0,
      "npm pkgs": graph?.npm ?? 0,
      "start ms": t,
      "x /core": t / core,
      "import ms": t - empty,
      "import x /core": name === "(empty script)" ? "" : (t - empty) / (core - empty),
      "CPU ms": median(cpuTimes.get(name)!),
      "CPU x /core": median(cpuTimes.get(name)!) / coreCpu,
      "prints": printed.has(scripts.get(name)!) ? "yes" : "nothing",
    });
  }
  table(`Import cost (median of ${RUNS} interleaved process starts)`, rows);
  const ratio = median(times.get("root (mod.ts)")!) / core;
  const cpuRatio = median(cpuTimes.get("root (mod.ts)")!) / coreCpu;
  console.log(
    `\nroot import: ${ratio.toFixed(2)}x /core's cold start, ${cpuRatio.toFixed(2)}x its CPU ` +
      `(goal: within 1.5x): ${ratio <= 1.5 ? "met" : "NOT met"}`,
  );
  if (REF !== null) {
    const before = median(times.get(`root @${REF}`)!) / median(times.get(`/core @${REF}`)!);
    const beforeCpu = median(cpuTimes.get(`root @${REF}`)!) /
      median(cpuTimes.get(`/core @${REF}`)!);
    console.log(
      `root import at ${REF}: ${before.toFixed(2)}x its /core's cold start, ` +
        `${beforeCpu.toFixed(2)}x its CPU`,
    );
  }
  for (
    const [label, rootRow, coreRow] of [
      ["split bundles (a publish-time build)", "root split bundle", "/core split bundle"],
      ["through JSR (what a consumer meets)", "root via JSR", "/core via JSR"],
    ]
  ) {
    if (!times.has(rootRow)) continue;
    const ratio = median(times.get(rootRow)!) / median(times.get(coreRow)!);
    const cpuRatio = median(cpuTimes.get(rootRow)!) / median(cpuTimes.get(coreRow)!);
    console.log(
      `root import, ${label}: ${ratio.toFixed(2)}x /core's cold start, ` +
        `${cpuRatio.toFixed(2)}x its CPU`,
    );
  }
} finally {
  await registry?.close();
  await Deno.remove(dir, { recursive: true });
}
