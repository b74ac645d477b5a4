/** Test helpers: run a body in a thread, a seeded PRNG; builds the FFI shim if it can. */
import { quiesceFfiPoller, spawn } from "../mod.ts";
import { seededRandom } from "../core/random.ts";

/**
 * Runs `fn` in a fresh thread and returns its result (rethrowing its error). Afterwards
 * no blocking poll of the FFI poller is left outstanding: a test file's worker must not
 * end with an FFI call still running on a helper thread.
 */
export async function inThread<R>(fn: () => R | PromiseLike<R>): Promise<Awaited<R>> {
  try {
    return await (spawn({ name: "test" }, fn).join() as Promise<Awaited<R>>);
  } finally {
    await quiesceFfiPoller();
  }
}

/** A small seeded PRNG (mulberry32), so randomized tests replay exactly. */
export const prng: (seed: number) => () => number = seededRandom;

const FFI = new URL("../ffi/", import.meta.url);
const NO_COMPILER_MARK = new URL("build/no-compiler", FFI);
/** How long a "no compiler" finding is trusted before the build is tried again, in ms. */
const NO_COMPILER_TTL_MS = 10 * 60_000;

function mtime(url: URL): number {
  try {
    return Deno.statSync(url).mtime?.getTime() ?? 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return -1;
    throw e;
  }
}

/**
 * Builds the FFI shim (as `deno task build:ffi` does) when it is missing or older than
 * ffi/shim.c, so that a plain `deno test` runs the FFI variants. Without a C compiler it
 * says so in one line per run (the FFI variants then skip, naming the reason); without
 * --allow-run it leaves the reason to those variants.
 */
async function buildShimForTests(): Promise<void> {
  if (Deno.build.os === "windows") return;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return;
  const ext = Deno.build.os === "darwin" ? "dylib" : "so";
  const source = mtime(new URL("shim.c", FFI));
  if (mtime(new URL(`build/libshrapnel.${ext}`, FFI)) >= source) return;
  if (Date.now() - mtime(NO_COMPILER_MARK) < NO_COMPILER_TTL_MS) return;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-R", "-W", "--allow-run", "--allow-env", new URL("build.ts", FFI).href],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const message = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) throw new Error(`building the FFI shim for the tests failed:\n${message}`);
  if (mtime(new URL(`build/libshrapnel.${ext}`, FFI)) < 0) {
    // No compiler: say it once, not once per test file.
    Deno.mkdirSync(new URL("build/", FFI), { recursive: true });
    Deno.writeTextFileSync(NO_COMPILER_MARK, message);
    console.error(`${message} (the FFI variants of the socket tests are skipped)`);
  }
}

await buildShimForTests();
