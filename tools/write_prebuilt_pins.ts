/**
 * Writes ffi/_prebuilt_pins.ts for the prebuilt shims in a directory (run by
 * .github/workflows/release-shims.yml after it uploads them to a release):
 *
 *   deno run -R -W tools/write_prebuilt_pins.ts <dir> <base URL ending in />
 *
 * Each file is named libshrapnel-<os>-<arch>.<so|dylib>; its SHA-256 becomes its pin.
 *
 * @module
 */
import { sha256Hex } from "../ffi/_prebuilt.ts";
import { SHIM_SOURCE_SHA256 } from "../ffi/_shim_hash.ts";

const [dir, baseUrl] = Deno.args;
if (!dir || !baseUrl?.endsWith("/")) {
  console.error("usage: write_prebuilt_pins.ts <dir> <base URL ending in />");
  Deno.exit(2);
}
const files: Record<string, { name: string; sha256: string }> = {};
for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
  const match = entry.name.match(/^libshrapnel-([a-z]+-[a-z0-9_]+)\.(so|dylib)$/);
  if (!entry.isFile || match === null) continue;
  files[match[1]] = {
    name: entry.name,
    sha256: await sha256Hex(await Deno.readFile(`${dir}/${entry.name}`)),
  };
}
if (Object.keys(files).length === 0) {
  console.error(`no libshrapnel-<os>-<arch> files in ${dir}`);
  Deno.exit(1);
}
const pins = { source: SHIM_SOURCE_SHA256, baseUrl, files };
await Deno.writeTextFile(
  new URL("../ffi/_prebuilt_pins.ts", import.meta.url),
  `/**
 * Prebuilt shims published by .github/workflows/release-shims.yml, pinned by SHA-256.
 * Written by tools/write_prebuilt_pins.ts: do not edit.
 *
 * @module
 */
import type { PrebuiltPins } from "./_prebuilt.ts";

/** The pinned prebuilt shims of this version, or null when none were released. */
export const PREBUILT_PINS: PrebuiltPins | null = ${JSON.stringify(pins, null, 2)};
`,
);
const fmt = await new Deno.Command(Deno.execPath(), {
  args: ["fmt", new URL("../ffi/_prebuilt_pins.ts", import.meta.url).pathname],
}).output();
if (!fmt.success) Deno.exit(1);
console.error(`pinned ${Object.keys(files).join(", ")} (source ${SHIM_SOURCE_SHA256})`);
