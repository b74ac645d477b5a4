/**
 * Builds the poller shim in a checkout (`deno task build:ffi`, run by the tasks that need
 * it): compiles ffi/shim.c into ffi/build/libshrapnel.{so,dylib} when the source is newer
 * than the library (`--force` always). Without a C compiler it says so and exits 0:
 * sockets then use the portable backend on Deno.listen/Deno.connect.
 *
 * A registry install builds with `jsr:@shrapnel/shrapnel/build-ffi` instead
 * (ffi/build_entry.ts).
 *
 * @module
 */
import { checkoutLibraryPath, checkoutSourcePath } from "./library.ts";
import { compileShim } from "./_compile.ts";

const source = checkoutSourcePath();
const output = checkoutLibraryPath();
if (source === null || output === null) {
  console.error("shrapnel: ffi/build.ts builds a checkout; from a registry, run build-ffi");
  Deno.exit(1);
}

async function mtime(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return -1;
    throw e;
  }
}

const built = await mtime(output);
if (built >= 0 && built >= await mtime(source) && !Deno.args.includes("--force")) {
  Deno.exit(0);
}
await Deno.mkdir(new URL("./build/", import.meta.url), { recursive: true });
const outcome = await compileShim(source, output);
if (!outcome.ok) {
  if (outcome.noCompiler) {
    const hint = Deno.build.os === "darwin" ? "xcode-select --install" : "e.g. apt-get install gcc";
    console.error(
      `shrapnel: ${outcome.message}: install one (${hint}) to build the FFI shim; ` +
        `sockets will use the portable Deno backend`,
    );
    Deno.exit(0);
  }
  console.error(`shrapnel: building ${output} failed: ${outcome.message}`);
  Deno.exit(1);
}
console.error(`shrapnel: built ${output}`);
