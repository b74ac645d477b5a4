/**
 * Where the poller shim's shared library lives.
 *
 * @module
 */

/** Path of the built shim for this platform (`ffi/build/libshrapnel.so` or `.dylib`). */
export function libraryPath(): string {
  const ext = Deno.build.os === "darwin" ? "dylib" : Deno.build.os === "windows" ? "dll" : "so";
  return new URL(`./build/libshrapnel.${ext}`, import.meta.url).pathname;
}
