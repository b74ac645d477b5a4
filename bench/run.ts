/**
 * Runs every benchmark in turn (`deno task bench`); each prints its own tables with
 * ratios against the alternatives measured in the same run.
 * Pass --quick for smaller sizes.
 */
const benches = [
  "core.ts",
  "echo.ts",
  "idle.ts",
  "http.ts",
  "http_path.ts",
  "mmo.ts",
  "dns.ts",
  "profiler.ts",
];
const args = Deno.args;
for (const bench of benches) {
  console.log(`\n# bench/${bench}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(bench, import.meta.url).pathname,
      ...args,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}
