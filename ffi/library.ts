/**
 * Where the poller shim's shared library lives.
 *
 * @module
 */

/**
 * Path of the built shim: `$SHRAPNEL_SHIM` if set (needed when the library was imported
 * from a registry URL rather than a checkout), else `ffi/build/libshrapnel.so` (`.dylib`
 * on macOS) next to this file.
 */
export function libraryPath(): string {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: "SHRAPNEL_SHIM" }).state === "granted"
    ) {
      const path = Deno.env.get("SHRAPNEL_SHIM");
      if (path) return path;
    }
  } catch { /* no env permission: use the default */ }
  const ext = Deno.build.os === "darwin" ? "dylib" : Deno.build.os === "windows" ? "dll" : "so";
  return new URL(`./build/libshrapnel.${ext}`, import.meta.url).pathname;
}
