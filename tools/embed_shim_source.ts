/**
 * Writes ffi/_shim_source.ts: ffi/shim.c as a string constant with its SHA-256, so that
 * the C source travels in the package's module graph (a registry install caches it with
 * the modules, and `jsr:@shrapnel/shrapnel/build-ffi` compiles it offline).
 *
 * `deno task embed:shim` regenerates it; `deno task check:shim` (part of `deno task ci`)
 * fails when it is out of date with ffi/shim.c.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const sourceUrl = new URL("ffi/shim.c", root);
const moduleUrl = new URL("ffi/_shim_source.ts", root);

/** The text of ffi/_shim_source.ts for `source`. */
export async function embeddedModule(source: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(source));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `// Generated from ffi/shim.c by tools/embed_shim_source.ts (deno task embed:shim): do not edit.
/**
 * The poller shim's C source (ffi/shim.c), carried in the module graph so that a registry
 * install can compile it without fetching anything else.
 *
 * @module
 */

/** The text of ffi/shim.c. */
export const SHIM_SOURCE: string =
  ${JSON.stringify(source)};

/** SHA-256 (hex) of {@linkcode SHIM_SOURCE}'s UTF-8 bytes: the shim cache's key. */
export const SHIM_SOURCE_SHA256: string =
  "${hex}";
`;
}

if (import.meta.main) {
  const wanted = await embeddedModule(await Deno.readTextFile(sourceUrl));
  if (Deno.args.includes("--check")) {
    let current = "";
    try {
      current = await Deno.readTextFile(moduleUrl);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (current !== wanted) {
      console.error(
        "ffi/_shim_source.ts is out of date with ffi/shim.c: run `deno task embed:shim`",
      );
      Deno.exit(1);
    }
    console.error("ffi/_shim_source.ts matches ffi/shim.c");
  } else {
    await Deno.writeTextFile(moduleUrl, wanted);
    console.error("wrote ffi/_shim_source.ts");
  }
}
