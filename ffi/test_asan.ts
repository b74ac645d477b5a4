/**
 * `deno task test:asan`: the socket tests against the shim built with AddressSanitizer
 * and UndefinedBehaviorSanitizer, where any read or write out of bounds, use after free or
 * undefined behaviour in the shim aborts the run.
 *
 * - builds ffi/shim.c with `-fsanitize=address,undefined` into ffi/build/asan/ (apart from
 *   the normal library, which stays as it is);
 * - runs `deno test tests/net/` with `LD_PRELOAD` of the compiler's libasan (an ASan
 *   library can only be loaded into a process whose first library is the ASan runtime)
 *   and `SHRAPNEL_SHIM` pointing at the ASan build; tests/net/_asan_preload.ts takes the
 *   preload out of the environment again, so servers the tests start do not inherit it.
 *
 * Linux only (macOS would need DYLD_INSERT_LIBRARIES, which its SIP strips from Deno);
 * elsewhere it says so and exits 0. Extra arguments go to `deno test`.
 *
 * @module
 */

if (Deno.build.os !== "linux") {
  console.error("test:asan: Linux only (LD_PRELOAD of libasan); skipped");
  Deno.exit(0);
}

const root = new URL("../", import.meta.url).pathname;
const source = `${root}ffi/shim.c`;
const output = `${root}ffi/build/asan/libshrapnel.so`;
const compiler = Deno.env.get("CC") ?? "cc";

async function text(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "inherit" })
    .output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout).trim();
}

// The runtime to preload: gcc's libasan, or clang's compiler-rt one.
const runtime = compiler.includes("clang")
  ? await text(compiler, ["-print-file-name=libclang_rt.asan-x86_64.so"])
  : await text(compiler, ["-print-file-name=libasan.so"]);
if (!runtime.startsWith("/")) {
  console.error(`test:asan: ${compiler} has no ASan runtime (${runtime}); install libasan`);
  Deno.exit(1);
}

await Deno.mkdir(`${root}ffi/build/asan`, { recursive: true });
const build = await new Deno.Command(compiler, {
  args: [
    "-shared",
    "-fPIC",
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=undefined",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fvisibility=hidden",
    "-o",
    output,
    source,
  ],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!build.success) {
  console.error(`test:asan: building ${output} failed`);
  Deno.exit(1);
}

const test = await new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "-A",
    "--unstable-net",
    "--preload",
    `${root}tests/net/_asan_preload.ts`,
    ...(Deno.args.length > 0 ? Deno.args : [`${root}tests/net/`]),
  ],
  env: {
    LD_PRELOAD: runtime,
    SHRAPNEL_SHIM: output,
    // Deno's own allocations outlive it by design: leaks are not what this run looks for.
    ASAN_OPTIONS: "detect_leaks=0:abort_on_error=1:handle_segv=0",
    UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1",
    SHRAPNEL_FUZZ_SECONDS: Deno.env.get("SHRAPNEL_FUZZ_SECONDS") ?? "5",
    // An FFI backend that cannot load (the ASan shim without its runtime) fails, not skips.
    CI: "true",
  },
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(test.code);
