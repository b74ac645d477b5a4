/**
 * Static checks of ffi/shim.c (`deno task check:shim`, run by `deno task ci`):
 * - compiles it with every warning that means something for it, as errors
 *   (`-Wall -Wextra -Werror -Wconversion -Wsign-conversion -Wshadow`), with the C compiler
 *   and with clang;
 * - compiles its kqueue path the same way against ffi/_kqueue_stub (a minimal kqueue
 *   header) where there is no real one (Linux), so the macOS path cannot rot unseen;
 * - runs clang's static analyzer (warnings are errors) and cppcheck on both paths.
 *
 * A missing tool is skipped with a note, except under `CI=true`, where it fails.
 *
 * @module
 */

const source = new URL("./shim.c", import.meta.url).pathname;
const stub = new URL("./_kqueue_stub", import.meta.url).pathname;
const ci = Deno.env.get("CI") === "true";
const WARNINGS = [
  "-Wall",
  "-Wextra",
  "-Werror",
  "-Wconversion",
  "-Wsign-conversion",
  "-Wshadow",
  "-Wstrict-prototypes",
];
const KQUEUE = Deno.build.os === "linux" ? ["-DSH_USE_KQUEUE", "-I", stub] : null;

let failed = 0;

async function run(label: string, command: string, args: string[]): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    if (ci) {
      console.error(`check:shim: ${label}: ${command} is not installed (needed under CI)`);
      failed++;
    } else {
      console.error(`check:shim: ${label}: skipped, ${command} is not installed`);
    }
    return;
  }
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (output.success) {
    console.error(`check:shim: ${label}: clean`);
  } else {
    console.error(`check:shim: ${label}: FAILED\n${text}`);
    failed++;
  }
}

const compiler = Deno.env.get("CC") ?? "cc";
const paths: [string, string[]][] = [["native", []]];
if (KQUEUE !== null) paths.push(["kqueue (stub header)", KQUEUE]);
for (const [path, extra] of paths) {
  await run(`${compiler} ${path}`, compiler, ["-fsyntax-only", ...WARNINGS, ...extra, source]);
  if (compiler !== "clang") {
    await run(`clang ${path}`, "clang", ["-fsyntax-only", ...WARNINGS, ...extra, source]);
  }
  await run(`clang --analyze ${path}`, "clang", [
    "--analyze",
    "-Xclang",
    "-analyzer-werror",
    ...extra,
    "-o",
    "/dev/null",
    source,
  ]);
  await run(`cppcheck ${path}`, "cppcheck", [
    "--enable=warning,portability,performance",
    "--error-exitcode=1",
    "--quiet",
    ...extra,
    source,
  ]);
}
if (failed > 0) Deno.exit(1);
