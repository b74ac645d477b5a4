/**
 * Builds the FFI poller shim for this machine, for a program that imports shrapnel from a
 * registry (a checkout uses `deno task build:ffi`):
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env --allow-run --allow-net jsr:@shrapnel/shrapnel/build-ffi
 * ```
 *
 * It compiles the C source carried in this package's module graph with the system's C
 * compiler (`$CC`, else `cc`) into the shim cache,
 * `$XDG_CACHE_HOME/shrapnel/<SHA-256 of the source>/libshrapnel.so` (`~/.cache/shrapnel`
 * without XDG_CACHE_HOME, `~/Library/Caches/shrapnel` and `.dylib` on macOS,
 * `$SHRAPNEL_CACHE_DIR` when set), where the socket layer looks for it. Without a
 * compiler it downloads the prebuilt shim this version pins, checked by SHA-256.
 * A program then gets the FFI backend when run with `--allow-ffi --allow-env`.
 *
 * Flags: `--force` rebuilds; `--prebuilt` downloads instead of compiling; `--no-download`
 * never downloads.
 *
 * @example Installing the shim from a program
 * ```ts ignore
 * import { installShim } from "@shrapnel/shrapnel/build-ffi";
 * const path = await installShim();
 * console.log(path.endsWith(".so") || path.endsWith(".dylib")); // true
 * ```
 *
 * @module
 */

import { ShrapnelError } from "../core/errors.ts";
import { SHIM_SOURCE, SHIM_SOURCE_SHA256 } from "./_shim_source.ts";
import { CACHE_ENV, cachedLibraryPath, shimCacheRoot, targetName } from "./library.ts";
import { compileShim } from "./_compile.ts";
import { downloadPrebuilt, type PrebuiltPins } from "./_prebuilt.ts";

export { PrebuiltShimError } from "./_prebuilt.ts";
export type { PrebuiltPins } from "./_prebuilt.ts";
import { PREBUILT_PINS } from "./_prebuilt_pins.ts";

/** Options of {@linkcode installShim}. */
export interface InstallShimOptions {
  /** Build even when the cache has the shim already. */
  force?: boolean;
  /** "compile" (the default: download only without a compiler) or "download". */
  prefer?: "compile" | "download";
  /** Whether a download is allowed at all; default true. */
  download?: boolean;
  /** The cache directory; default as described in the module doc. */
  cacheRoot?: string;
  /** The prebuilt shims to download from; default the ones this version pins. */
  pins?: PrebuiltPins | null;
}

// The base class of this module's errors, named by its API, for its docs.
export type { ShrapnelError };

/** The shim could not be installed; the message says why and what to do. */
export class ShimInstallError extends ShrapnelError {
  /** Makes the error; `message` says why. */
  constructor(message: string) {
    super(message);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

const NO_COMPILER_HINT = Deno.build.os === "darwin"
  ? "install the command line tools (xcode-select --install)"
  : "install a C compiler (e.g. apt-get install gcc, dnf install gcc, apk add build-base)";

/**
 * Makes sure the shim cache holds the shim of this version's C source; returns its path.
 *
 * @throws {ShimInstallError} no cache directory can be found, the compiler failed, or
 * there is neither a compiler nor a pinned prebuilt shim for this machine
 * @throws {PrebuiltShimError} a download failed or did not match its pin
 */
export async function installShim(options: InstallShimOptions = {}): Promise<string> {
  const root = options.cacheRoot ?? shimCacheRoot();
  if (root === null) {
    throw new ShimInstallError(
      `no shim cache directory: allow reading ${CACHE_ENV.join(", ")} ` +
        `(--allow-env) or set SHRAPNEL_CACHE_DIR`,
    );
  }
  const output = cachedLibraryPath(root, SHIM_SOURCE_SHA256);
  if (!options.force && await exists(output)) return output;
  await Deno.mkdir(`${root}/${SHIM_SOURCE_SHA256}`, { recursive: true });
  let noCompiler = "";
  if (options.prefer !== "download") {
    const source = `${root}/${SHIM_SOURCE_SHA256}/shim.c`;
    await Deno.writeTextFile(source, SHIM_SOURCE);
    const outcome = await compileShim(source, output);
    if (outcome.ok) return output;
    if (!outcome.noCompiler) throw new ShimInstallError(outcome.message);
    noCompiler = outcome.message;
  }
  if (options.download === false) {
    throw new ShimInstallError(`${noCompiler || "downloads are off"}: ${NO_COMPILER_HINT}`);
  }
  const pins = options.pins === undefined ? PREBUILT_PINS : options.pins;
  const target = targetName();
  if (pins === null || pins.source !== SHIM_SOURCE_SHA256 || !(target in pins.files)) {
    throw new ShimInstallError(
      `${noCompiler ? `${noCompiler}, and n` : "N"}o prebuilt shim is pinned for ${target} ` +
        `in this version: ${NO_COMPILER_HINT}`,
    );
  }
  return await downloadPrebuilt(pins, target, output);
}

if (import.meta.main) {
  const known = ["--force", "--prebuilt", "--no-download"];
  const unknown = Deno.args.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    console.error(`build-ffi: unknown argument ${unknown[0]} (known: ${known.join(" ")})`);
    Deno.exit(2);
  }
  try {
    const path = await installShim({
      force: Deno.args.includes("--force"),
      prefer: Deno.args.includes("--prebuilt") ? "download" : "compile",
      download: !Deno.args.includes("--no-download"),
    });
    console.error(`shrapnel: FFI shim ready at ${path}`);
    console.error("shrapnel: programs run with --allow-ffi --allow-env now use the FFI backend");
  } catch (e) {
    console.error(`shrapnel: cannot install the FFI shim: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
