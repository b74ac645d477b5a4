/**
 * Writes ffi/_shim_source.ts: ffi/shim.c as a string constant with its SHA-256, so that
 * the C source travels in the package's module graph (a registry install caches it with
 * the modules, and `jsr:@shrapnel/shrapnel/build-ffi` compiles it offline).
 *
 * `deno task embed:shim` regenerates it; `deno task check:shim-source` (part of `deno task ci`)
 * fails when it is out of date with ffi/shim.c.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const sourceUrl = new URL("ffi/shim.c", root);
const moduleUrl = new URL("ffi/_shim_source.ts", root);
const hashUrl = new URL("ffi/_shim_hash.ts", root);

/** SHA-256 (hex) of `source`'s UTF-8 bytes. */
async function sha256(source: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(source));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The text of ffi/_shim_hash.ts for `source`: the hash alone, so that the loader does not
 * load the source text with every program.
 */
export async function hashModule(source: string): Promise<string> {
  return `// Generated from ffi/shim.c by tools/embed_shim_source.ts (deno task embed:shim): do not edit.
/**
 * The SHA-256 of the poller shim's C source: the key of the shim cache.
 *
 * @module
 */

/** SHA-256 (hex) of ffi/shim.c's UTF-8 bytes. */
export const SHIM_SOURCE_SHA256: string =
  "${await sha256(source)}";
`;
}

/** The text of ffi/_shim_source.ts for `source`. */
export function embeddedModule(source: string): string {
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

export { SHIM_SOURCE_SHA256 } from "./_shim_hash.ts";
`;
}

if (import.meta.main) {
  const source = await Deno.readTextFile(sourceUrl);
  const wanted: [URL, string][] = [
    [moduleUrl, embeddedModule(source)],
    [hashUrl, await hashModule(source)],
  ];
  const check = Deno.args.includes("--check");
  let stale = false;
  for (const [url, text] of wanted) {
    const name = url.pathname.slice(root.pathname.length);
    if (check) {
      let current = "";
      try {
        current = await Deno.readTextFile(url);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      if (current !== text) {
        console.error(`${name} is out of date with ffi/shim.c: run \`deno task embed:shim\``);
        stale = true;
      }
    } else {
      await Deno.writeTextFile(url, text);
      console.error(`wrote ${name}`);
    }
  }
  if (stale) Deno.exit(1);
  if (check) console.error("ffi/_shim_source.ts and ffi/_shim_hash.ts match ffi/shim.c");
}
